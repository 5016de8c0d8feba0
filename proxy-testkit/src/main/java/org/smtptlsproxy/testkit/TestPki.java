package org.smtptlsproxy.testkit;

import java.io.IOException;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A throwaway certificate authority for the demo and the tests: a CA and the leaf certificates
 * it signs, with subject alternative names, generated in memory in milliseconds.
 */
public final class TestPki {

    private static final AtomicLong SERIALS = new AtomicLong(System.currentTimeMillis());

    private final KeyType keyType;
    private final KeyPair caKeys;
    private final X509Certificate caCertificate;

    private TestPki(KeyType keyType, KeyPair caKeys, X509Certificate caCertificate) {
        this.keyType = keyType;
        this.caKeys = caKeys;
        this.caCertificate = caCertificate;
    }

    public static TestPki create(String caCommonName, KeyType keyType) {
        KeyPair keys = generate(keyType);
        X500Name name = new X500Name("CN=" + caCommonName);
        X509Certificate ca = sign(name, keys, name, keys, keyType, validFromNow(Duration.ofDays(30)), true, List.of());
        return new TestPki(keyType, keys, ca);
    }

    public X509Certificate caCertificate() {
        return caCertificate;
    }

    /** A leaf valid from an hour ago for two days; each SAN that is an IP literal becomes an iPAddress. */
    public Identity issue(String commonName, String... subjectAltNames) {
        return issue(commonName, validFromNow(Duration.ofDays(2)), subjectAltNames);
    }

    /** A leaf whose validity ended yesterday. */
    public Identity issueExpired(String commonName, String... subjectAltNames) {
        Instant end = Instant.now().minus(Duration.ofDays(1));
        return issue(commonName, new Instant[] {end.minus(Duration.ofDays(30)), end}, subjectAltNames);
    }

    private Identity issue(String commonName, Instant[] validity, String... subjectAltNames) {
        KeyPair keys = generate(keyType);
        X509Certificate leaf = sign(new X500Name("CN=" + commonName), keys,
                new X500Name(caCertificate.getSubjectX500Principal().getName()), caKeys, keyType, validity, false,
                List.of(subjectAltNames));
        return new Identity(keys.getPrivate(), List.of(leaf, caCertificate));
    }

    /** A certificate nobody's trust store knows: for "untrusted upstream" cases. */
    public static Identity selfSigned(String commonName, KeyType keyType, String... subjectAltNames) {
        KeyPair keys = generate(keyType);
        X500Name name = new X500Name("CN=" + commonName);
        X509Certificate cert = sign(name, keys, name, keys, keyType, validFromNow(Duration.ofDays(2)), false,
                List.of(subjectAltNames));
        return new Identity(keys.getPrivate(), List.of(cert));
    }

    /** Writes the CA certificate as PEM, for a {@code trust:} bundle. */
    public Path writeCaPem(Path file) throws IOException {
        try (Writer writer = Files.newBufferedWriter(file, StandardCharsets.US_ASCII);
             JcaPEMWriter pem = new JcaPEMWriter(writer)) {
            pem.writeObject(caCertificate);
        }
        return file;
    }

    /** A private key and its chain, leaf first. */
    public record Identity(PrivateKey key, List<X509Certificate> chain) {

        public Identity {
            chain = List.copyOf(chain);
        }

        public X509Certificate certificate() {
            return chain.get(0);
        }

        /** Writes {@code baseName.pem} (the chain) and {@code baseName.key} in the given key format. */
        public PemFiles writePem(Path directory, String baseName, KeyFormat format) throws IOException {
            Path certificate = directory.resolve(baseName + ".pem");
            Path keyFile = directory.resolve(baseName + ".key");
            try (Writer writer = Files.newBufferedWriter(certificate, StandardCharsets.US_ASCII);
                 JcaPEMWriter pem = new JcaPEMWriter(writer)) {
                for (X509Certificate cert : chain) {
                    pem.writeObject(cert);
                }
            }
            try (Writer writer = Files.newBufferedWriter(keyFile, StandardCharsets.US_ASCII);
                 JcaPEMWriter pem = new JcaPEMWriter(writer)) {
                String algorithm = key.getAlgorithm();
                switch (format) {
                    case PKCS8 -> pem.writeObject(new JcaPKCS8Generator(key, null));
                    case PKCS1 -> {
                        require(algorithm.equals("RSA"), "PKCS#1 needs an RSA key, not " + algorithm);
                        pem.writeObject(key); // BouncyCastle writes the traditional form
                    }
                    case SEC1 -> {
                        require(algorithm.equals("EC"), "SEC1 needs an EC key, not " + algorithm);
                        pem.writeObject(sec1(key, certificate()));
                    }
                    default -> throw new IllegalArgumentException(format.name());
                }
            }
            return new PemFiles(certificate, keyFile);
        }

        /**
         * RFC 5915 ECPrivateKey with its curve and public key, as {@code openssl ec} writes it
         * (the JDK's encoding leaves both to the PKCS#8 wrapper).
         */
        private static PemObject sec1(PrivateKey key, X509Certificate certificate) throws IOException {
            PrivateKeyInfo info = PrivateKeyInfo.getInstance(key.getEncoded());
            org.bouncycastle.asn1.sec.ECPrivateKey inner =
                    org.bouncycastle.asn1.sec.ECPrivateKey.getInstance(info.parsePrivateKey());
            DERBitString publicKey = (DERBitString) SubjectPublicKeyInfo.getInstance(certificate.getPublicKey().getEncoded())
                    .getPublicKeyData();
            org.bouncycastle.asn1.sec.ECPrivateKey full = new org.bouncycastle.asn1.sec.ECPrivateKey(256,
                    inner.getKey(), publicKey, info.getPrivateKeyAlgorithm().getParameters());
            return new PemObject("EC PRIVATE KEY", full.getEncoded());
        }

        private static void require(boolean condition, String message) {
            if (!condition) {
                throw new IllegalArgumentException(message);
            }
        }
    }

    /** Where {@link Identity#writePem} put things. */
    public record PemFiles(Path certificate, Path key) {
    }

    private static Instant[] validFromNow(Duration lifetime) {
        Instant start = Instant.now().minus(Duration.ofHours(1));
        return new Instant[] {start, start.plus(lifetime)};
    }

    private static KeyPair generate(KeyType type) {
        try {
            if (type == KeyType.RSA) {
                KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
                generator.initialize(2048, new SecureRandom());
                return generator.generateKeyPair();
            }
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("key generation failed", e);
        }
    }

    private static X509Certificate sign(X500Name subject, KeyPair subjectKeys, X500Name issuer, KeyPair issuerKeys,
                                        KeyType issuerType, Instant[] validity, boolean ca, List<String> sans) {
        try {
            JcaX509ExtensionUtils extensions = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(issuer,
                    BigInteger.valueOf(SERIALS.incrementAndGet()), Date.from(validity[0]), Date.from(validity[1]),
                    subject, subjectKeys.getPublic());
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
            builder.addExtension(Extension.subjectKeyIdentifier, false,
                    extensions.createSubjectKeyIdentifier(subjectKeys.getPublic()));
            builder.addExtension(Extension.authorityKeyIdentifier, false,
                    extensions.createAuthorityKeyIdentifier(issuerKeys.getPublic()));
            if (ca) {
                builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            } else {
                builder.addExtension(Extension.keyUsage, true,
                        new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
                builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                        new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            }
            if (!sans.isEmpty()) {
                List<GeneralName> names = new ArrayList<>();
                for (String san : sans) {
                    names.add(isIpLiteral(san) ? new GeneralName(GeneralName.iPAddress, san)
                            : new GeneralName(GeneralName.dNSName, san));
                }
                builder.addExtension(Extension.subjectAlternativeName, false,
                        new GeneralNames(names.toArray(GeneralName[]::new)));
            }
            String algorithm = issuerType == KeyType.RSA ? "SHA256withRSA" : "SHA256withECDSA";
            ContentSigner signer = new JcaContentSignerBuilder(algorithm).build(issuerKeys.getPrivate());
            return new JcaX509CertificateConverter().getCertificate(builder.build(signer));
        } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
            throw new IllegalStateException("certificate generation failed", e);
        }
    }

    private static boolean isIpLiteral(String name) {
        return name.indexOf(':') >= 0 || name.matches("\\d{1,3}(\\.\\d{1,3}){3}");
    }
}
