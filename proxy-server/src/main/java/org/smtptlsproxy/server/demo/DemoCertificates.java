package org.smtptlsproxy.server.demo;

import java.io.IOException;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The demo's throwaway CA and the one certificate it signs, for {@code localhost} and
 * {@code 127.0.0.1}: the proxy's listener and the local upstream both present it. RSA, because
 * that is what the oldest senders negotiate; valid for a day, nothing leaves memory except the
 * PEM files in the demo's temporary folder.
 */
final class DemoCertificates {

    private final X509Certificate ca;
    private final KeyPair leafKeys;
    private final X509Certificate leaf;

    private DemoCertificates(X509Certificate ca, KeyPair leafKeys, X509Certificate leaf) {
        this.ca = ca;
        this.leafKeys = leafKeys;
        this.leaf = leaf;
    }

    static DemoCertificates create() throws GeneralSecurityException {
        KeyPair caKeys = rsa();
        X500Name caName = new X500Name("CN=smtp-tls-proxy demo CA");
        X509Certificate ca = sign(caName, caKeys, caName, caKeys, true);
        KeyPair leafKeys = rsa();
        X509Certificate leaf = sign(new X500Name("CN=localhost"), leafKeys, caName, caKeys, false);
        return new DemoCertificates(ca, leafKeys, leaf);
    }

    X509Certificate ca() {
        return ca;
    }

    /** The leaf and its key, for a JDK TLS server. */
    KeyStore keyStore(char[] password) throws GeneralSecurityException, IOException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("localhost", leafKeys.getPrivate(), password, new X509Certificate[] {leaf, ca});
        return store;
    }

    /** The CA alone, for a client that verifies the demo's servers. */
    KeyStore trustStore() throws GeneralSecurityException, IOException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setCertificateEntry("demo-ca", ca);
        return store;
    }

    void writeCa(Path file) throws IOException {
        writePem(file, ca);
    }

    void writeChain(Path file) throws IOException {
        writePem(file, leaf, ca);
    }

    void writeKey(Path file) throws IOException {
        try (Writer writer = Files.newBufferedWriter(file, StandardCharsets.US_ASCII);
             JcaPEMWriter pem = new JcaPEMWriter(writer)) {
            pem.writeObject(new JcaPKCS8Generator(leafKeys.getPrivate(), null));
        }
    }

    private static void writePem(Path file, Object... objects) throws IOException {
        try (Writer writer = Files.newBufferedWriter(file, StandardCharsets.US_ASCII);
             JcaPEMWriter pem = new JcaPEMWriter(writer)) {
            for (Object object : objects) {
                pem.writeObject(object);
            }
        }
    }

    private static KeyPair rsa() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048, new SecureRandom());
        return generator.generateKeyPair();
    }

    private static X509Certificate sign(X500Name subject, KeyPair subjectKeys, X500Name issuer, KeyPair issuerKeys,
                                        boolean ca) throws GeneralSecurityException {
        Instant notBefore = Instant.now().minus(Duration.ofHours(1));
        X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(issuer,
                new BigInteger(64, new SecureRandom()), Date.from(notBefore), Date.from(notBefore.plus(Duration.ofDays(1))),
                subject, subjectKeys.getPublic());
        try {
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
            if (ca) {
                builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign));
            } else {
                builder.addExtension(Extension.keyUsage, true,
                        new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
                builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
                builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                    new GeneralName(GeneralName.dNSName, "localhost"),
                    new GeneralName(GeneralName.iPAddress, "127.0.0.1")}));
            }
            return new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder("SHA256withRSA").build(issuerKeys.getPrivate())));
        } catch (IOException | OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign the demo certificate", e);
        }
    }
}
