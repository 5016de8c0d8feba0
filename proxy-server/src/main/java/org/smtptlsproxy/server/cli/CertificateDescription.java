package org.smtptlsproxy.server.cli;

import java.security.PublicKey;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * One certificate as an administrator reads it when a TLS connection fails: who it is for, the
 * names it covers, who issued it, when it is valid, and its key.
 */
final class CertificateDescription {

    private static final int SAN_DNS = 2;
    private static final int SAN_IP = 7;

    private CertificateDescription() {
    }

    static List<String> lines(X509Certificate certificate, Instant now) {
        List<String> lines = new ArrayList<>();
        lines.add("subject: " + certificate.getSubjectX500Principal().getName());
        lines.add("names: " + names(certificate));
        lines.add("issuer: " + certificate.getIssuerX500Principal().getName());
        Instant from = certificate.getNotBefore().toInstant();
        Instant to = certificate.getNotAfter().toInstant();
        String state = now.isBefore(from) ? " (NOT YET VALID)" : now.isAfter(to) ? " (EXPIRED)" : "";
        lines.add("valid: " + day(from) + " to " + day(to) + state);
        lines.add("key: " + key(certificate.getPublicKey()) + ", signed with " + certificate.getSigAlgName());
        return lines;
    }

    /** One line: key, subject, names and the last day of validity, e.g. for `check`. */
    static String summary(X509Certificate certificate, Instant now) {
        Instant to = certificate.getNotAfter().toInstant();
        return key(certificate.getPublicKey()) + ", " + certificate.getSubjectX500Principal().getName() + ", names "
                + names(certificate) + ", valid until " + day(to) + (now.isAfter(to) ? " (EXPIRED)" : "");
    }

    private static String names(X509Certificate certificate) {
        Collection<List<?>> alternatives;
        try {
            alternatives = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return "(unreadable subjectAltName: " + e.getMessage() + ")";
        }
        if (alternatives == null || alternatives.isEmpty()) {
            return "(no subjectAltName: modern clients match no name)";
        }
        List<String> names = new ArrayList<>();
        for (List<?> entry : alternatives) {
            int type = (Integer) entry.get(0);
            if (type == SAN_DNS || type == SAN_IP) {
                names.add(String.valueOf(entry.get(1)));
            }
        }
        return names.isEmpty() ? "(no DNS or IP subjectAltName)" : String.join(", ", names);
    }

    /**
     * The names a certificate-based connector can match: the subject's CN, then the DNS
     * subjectAltNames, each once, in that order.
     */
    static List<String> connectorNames(X509Certificate certificate) {
        List<String> names = new ArrayList<>();
        try {
            for (Rdn rdn : new LdapName(certificate.getSubjectX500Principal().getName()).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    names.add(String.valueOf(rdn.getValue()));
                }
            }
        } catch (InvalidNameException e) {
            // An unparsable subject: the subjectAltNames below still count.
        }
        try {
            Collection<List<?>> alternatives = certificate.getSubjectAlternativeNames();
            if (alternatives != null) {
                for (List<?> entry : alternatives) {
                    String name = String.valueOf(entry.get(1));
                    if ((Integer) entry.get(0) == SAN_DNS && !names.contains(name)) {
                        names.add(name);
                    }
                }
            }
        } catch (CertificateParsingException e) {
            // Only the CN, then.
        }
        return names;
    }

    private static String key(PublicKey key) {
        if (key instanceof RSAPublicKey rsa) {
            return "RSA " + rsa.getModulus().bitLength();
        }
        if (key instanceof ECPublicKey ec) {
            return "EC " + ec.getParams().getCurve().getField().getFieldSize();
        }
        return key.getAlgorithm();
    }

    private static LocalDate day(Instant instant) {
        return LocalDate.ofInstant(instant, ZoneOffset.UTC);
    }
}
