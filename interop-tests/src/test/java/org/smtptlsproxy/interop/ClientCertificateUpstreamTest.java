package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.TestPki;

/**
 * The certificate-based connector case: the upstream Postfix demands a client certificate
 * ({@code smtpd_tls_req_ccert = yes}). The proxy with {@code client_certificate}/{@code client_key}
 * gets through and the upstream records the verified certificate; without one it gets a 4xx
 * that reaches the sender, and nothing is delivered.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(120)
class ClientCertificateUpstreamTest {

    private static InteropEnvironment env;
    private static UpstreamPostfix upstream;
    private static Path scratch;

    @BeforeAll
    static void startUpstream(InteropEnvironment environment) throws Exception {
        Tools.SWAKS.require();
        env = environment;
        upstream = env.closeAtEnd(UpstreamPostfix.start("upstream-ccert", env.directory("upstream-ccert"),
                InteropEnvironment.freePort(), env.upstreamIdentity, env.caPem()));
        scratch = env.directory("ccert-scratch");
    }

    @Test
    void proxyWithClientCertificateIsAcceptedAndIdentified() throws Exception {
        Path dir = env.directory("proxy-ccert");
        TestPki.PemFiles client = env.proxyClientIdentity.writePem(dir, "client", KeyFormat.PKCS8);
        List<String> yaml = new ArrayList<>(env.upstreamYaml(upstream.port()));
        yaml.add("    client_certificate: " + client.certificate());
        yaml.add("    client_key: " + client.key());
        ProxyUnderTest proxy = env.closeAtEnd(ProxyUnderTest.start(dir, env.proxyIdentity, yaml));

        String token = TestMessages.token("ccert");
        byte[] message = TestMessages.plain(token, "scanner@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(proxy.port("starttls"), "scanner@legacy.test", UpstreamPostfix.USER)
                .startTls("tlsv1").send(message, scratch);
        upstream.assertQueueIdIsOurs(result.queueId());
        DeliveredMessage delivered = Deliveries.assertRelayed(upstream.mailbox("user"), token, message, "ESMTPS", "TLSv1");
        assertTrue(delivered.upstreamReceived().contains(
                "(Client CN \"proxy-client.interop.test\", Issuer \"smtp-tls-proxy interop CA\" (verified OK))"),
                delivered.upstreamReceived());
    }

    @Test
    void proxyWithoutClientCertificateGetsATemporaryFailure() throws Exception {
        ProxyUnderTest proxy = env.closeAtEnd(ProxyUnderTest.start(env.directory("proxy-noccert"), env.proxyIdentity,
                env.upstreamYaml(upstream.port())));
        String token = TestMessages.token("noccert");
        byte[] message = TestMessages.plain(token, "scanner@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(proxy.port("starttls"), "scanner@legacy.test", UpstreamPostfix.USER)
                .startTls("tlsv1_2").send(message, scratch);
        assertNotEquals(0, result.exec().exitCode(), result.output());
        Matcher refusal = Pattern.compile("(?m)^<~\\*? +(4\\d\\d) (4\\.\\d+\\.\\d+) (.*)$").matcher(result.output());
        assertTrue(refusal.find(), "the sender got a 4xx, so it keeps the message:\n" + result.output());
        assertTrue(refusal.group(3).contains("No client certificate presented"),
                "the upstream's reason is quoted to the sender: " + refusal.group());
        upstream.postfix().awaitLog(Pattern.compile("abort: TLS from localhost\\[127\\.0\\.0\\.1\\]: No client certificate presented"),
                java.time.Duration.ofSeconds(5));
        PostfixInstance.sleep(500);
        assertEquals(List.of(), upstream.mailbox("user").find(token));
    }
}
