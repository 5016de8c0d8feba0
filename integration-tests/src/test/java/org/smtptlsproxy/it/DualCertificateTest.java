package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.smtptlsproxy.testkit.TestPki;

/**
 * A listener with an RSA and an ECDSA certificate (tls.certificate + tls.ec_certificate): each
 * sender gets the one it can use, decided by what its ClientHello offers. Real handshakes, once
 * per TLS provider.
 */
@Timeout(60)
class DualCertificateTest {

    static final TestPki EC_PKI = TestPki.create("smtp-tls-proxy test EC CA", KeyType.EC);
    static final TestPki.Identity EC_LOCALHOST = EC_PKI.issue("localhost", "localhost", "127.0.0.1");

    /** The fixture with an ECDSA certificate beside the RSA one on the "starttls" listener. */
    static ProxyFixture.Builder dualCertificates(String provider) throws Exception {
        Path dir = java.nio.file.Files.createTempDirectory("dual-cert");
        TestPki.PemFiles ec = EC_LOCALHOST.writePem(dir, "proxy-ec", KeyFormat.SEC1);
        return ProxyFixture.builder()
                .tlsProvider(provider)
                // continues the listener's tls block
                .starttlsListener("  ec_certificate: " + ec.certificate())
                .starttlsListener("  ec_key: " + ec.key());
    }

    @ParameterizedTest
    @ValueSource(strings = {"openssl", "jdk"})
    void senderLimitedToRsaGetsRsaAndAnEcdsaCapableSenderGetsEcdsa(String provider) throws Exception {
        try (ProxyFixture fixture = dualCertificates(provider).start()) {
            SSLContext client = StartTlsSender.trusting(ProxyFixture.PKI.caCertificate(), EC_PKI.caCertificate());
            var address = fixture.address("starttls");

            // An old Schannel / OpenSSL 1.0 sender: TLS 1.0, ECDHE-RSA with CBC.
            StartTlsSender.Handshake legacy = StartTlsSender.startTls(client, address, "TLSv1",
                    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
            assertEquals("RSA", legacy.keyAlgorithm(), provider);
            assertEquals(ProxyFixture.LOCALHOST.certificate(), legacy.leaf());
            // TLS 1.0 with static RSA key exchange, as OpenSSL 0.9.8 does.
            assertEquals("RSA", StartTlsSender.startTls(client, address, "TLSv1", "TLS_RSA_WITH_AES_128_CBC_SHA").keyAlgorithm());
            // TLS 1.2, RSA suites only, though its signature_algorithms list ECDSA too: the suite decides.
            StartTlsSender.Handshake rsaSuites = StartTlsSender.startTls(client, address, "TLSv1.2",
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384");
            assertEquals("RSA", rsaSuites.keyAlgorithm(), provider);
            assertEquals("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", rsaSuites.cipher());

            StartTlsSender.Handshake ecdsaSuite = StartTlsSender.startTls(client, address, "TLSv1.2",
                    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
            assertEquals("EC", ecdsaSuite.keyAlgorithm(), provider);
            assertEquals(EC_LOCALHOST.certificate(), ecdsaSuite.leaf());
            // A sender offering both gets ECDSA: the cheaper signature.
            assertEquals("EC", StartTlsSender.startTls(client, address, "TLSv1.2").keyAlgorithm(), provider);
            // TLS 1.0 with ECDHE-ECDSA (Windows 7 Schannel has it) works as well.
            assertEquals("EC", StartTlsSender.startTls(client, address, "TLSv1", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA")
                    .keyAlgorithm(), provider);
            StartTlsSender.Handshake tls13 = StartTlsSender.startTls(client, address, "TLSv1.3");
            assertEquals("EC", tls13.keyAlgorithm(), provider);
            assertEquals("TLSv1.3", tls13.protocol());

            // The other listeners keep their single certificate.
            try (SmtpTestClient smtps = new SmtpTestClient(Duration.ofSeconds(20))) {
                smtps.connectImplicitTls("127.0.0.1", fixture.address("smtps").getPort(), fixture.trust("TLSv1.3"));
                assertEquals("RSA", smtps.serverCertificate().getPublicKey().getAlgorithm());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"openssl"})
    void bothCertificatesHaveAnExpirySeries(String provider) throws Exception {
        try (ProxyFixture fixture = dualCertificates(provider).start()) {
            String metrics = fixture.metrics();
            double rsa = ProxyFixture.LOCALHOST.certificate().getNotAfter().toInstant().getEpochSecond();
            double ec = EC_LOCALHOST.certificate().getNotAfter().toInstant().getEpochSecond();
            assertTrue(metrics.contains("smtp_proxy_certificate_expiry_timestamp_seconds{certificate=\"listener\",listener=\"starttls\"} "
                    + rsa), StartTlsSender.lines(metrics, "smtp_proxy_certificate_expiry").toString());
            assertTrue(metrics.contains("smtp_proxy_certificate_expiry_timestamp_seconds{certificate=\"listener_ec\",listener=\"starttls\"} "
                    + ec), StartTlsSender.lines(metrics, "smtp_proxy_certificate_expiry").toString());
            assertTrue(metrics.lines().noneMatch(l -> l.contains("listener_ec") && l.contains("smtps")),
                    "a listener without an ECDSA certificate has no such series");
            assertTrue(Instant.ofEpochSecond((long) ec).isAfter(Instant.now()));
        }
    }
}
