package org.smtptlsproxy.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * Reads certificates and private keys from PEM files. BouncyCastle's parser is used because the
 * JDK and Netty reject PKCS#1 ("BEGIN RSA PRIVATE KEY") and SEC1 ("BEGIN EC PRIVATE KEY") keys,
 * which is what most administrators have. Every failure is an {@link IllegalArgumentException}
 * with a plain message; the key material never appears in one.
 */
final class PemReader {

    private PemReader() {
    }

    static List<X509Certificate> certificates(Path file) {
        List<X509Certificate> certificates = new ArrayList<>();
        JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
        try (Reader reader = open(file); PEMParser parser = new PEMParser(reader)) {
            Object item;
            while ((item = parser.readObject()) != null) {
                if (item instanceof X509CertificateHolder holder) {
                    certificates.add(converter.getCertificate(holder));
                }
            }
        } catch (CertificateException e) {
            throw new IllegalArgumentException("a certificate in " + file + " cannot be parsed: " + e.getMessage());
        } catch (IOException e) {
            throw unreadable(file, e);
        }
        if (certificates.isEmpty()) {
            throw new IllegalArgumentException("no PEM certificate in " + file);
        }
        return certificates;
    }

    static PrivateKey privateKey(Path file) {
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
        try (Reader reader = open(file); PEMParser parser = new PEMParser(reader)) {
            Object item;
            while ((item = parser.readObject()) != null) {
                if (item instanceof PEMKeyPair pair) {
                    // Only the private half: a SEC1 key may omit its (optional) public key.
                    return converter.getPrivateKey(pair.getPrivateKeyInfo());
                }
                if (item instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (item instanceof PEMEncryptedKeyPair || item instanceof PKCS8EncryptedPrivateKeyInfo) {
                    throw new IllegalArgumentException("the key in " + file
                            + " is encrypted; store it unencrypted and protect the file (chmod 600)");
                }
            }
        } catch (IOException e) {
            throw unreadable(file, e);
        }
        throw new IllegalArgumentException("no PEM private key in " + file + " (PKCS#8, PKCS#1 or SEC1 expected)");
    }

    /** True when {@code key} is the private half of {@code certificate}'s public key. */
    static boolean matches(PrivateKey key, X509Certificate certificate) {
        PublicKey publicKey = certificate.getPublicKey();
        if (!key.getAlgorithm().equals(publicKey.getAlgorithm())) {
            return false;
        }
        if (key instanceof RSAPrivateCrtKey rsa && publicKey instanceof RSAPublicKey rsaPublic) {
            return rsa.getModulus().equals(rsaPublic.getModulus());
        }
        // Other key types: prove it with a signature.
        String algorithm = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> key.getAlgorithm();
        };
        try {
            byte[] probe = "smtp-tls-proxy key check".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(publicKey);
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static Reader open(Path file) throws IOException {
        return Files.newBufferedReader(file, StandardCharsets.US_ASCII);
    }

    private static IllegalArgumentException unreadable(Path file, IOException e) {
        if (e instanceof NoSuchFileException) {
            return new IllegalArgumentException("file not found: " + file);
        }
        return new IllegalArgumentException("cannot read " + file + ": " + e.getMessage());
    }
}
