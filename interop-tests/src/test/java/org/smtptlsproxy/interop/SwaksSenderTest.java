package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * swaks as the sender, the proxy in front of the Exchange-like Postfix: every TLS version a
 * legacy device may speak, implicit TLS, AUTH, pipelining, 8-bit content, a 20 MiB attachment.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(180)
class SwaksSenderTest {

    private static InteropEnvironment env;
    private static Path scratch;

    @BeforeAll
    static void startUpstreamAndProxy(InteropEnvironment environment) throws Exception {
        Tools.SWAKS.require();
        env = environment;
        env.proxy();
        scratch = env.directory("swaks");
    }

    @ParameterizedTest(name = "STARTTLS with {0}")
    @CsvSource({"tlsv1, TLSv1", "tlsv1_1, TLSv1.1", "tlsv1_2, TLSv1.2", "tlsv1_3, TLSv1.3"})
    void everyTlsVersionALegacySenderSpeaksIsRelayedOverModernTls(String swaksProtocol, String protocol) throws Exception {
        String token = TestMessages.token("swaks-" + swaksProtocol);
        byte[] message = TestMessages.plain(token, "printer@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(env.proxy().port("starttls"), "printer@legacy.test", UpstreamPostfix.USER)
                .startTls(swaksProtocol).send(message, scratch);
        String queueId = result.queueId();
        assertEquals(protocol, result.tlsProtocol(), result.output());
        env.upstream().assertQueueIdIsOurs(queueId);
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPS", protocol);
    }

    @Test
    void implicitTlsSenderIsRelayed() throws Exception {
        String token = TestMessages.token("swaks-tlsc");
        byte[] message = TestMessages.plain(token, "app@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(env.proxy().port("smtps"), "app@legacy.test", UpstreamPostfix.USER)
                .with("--tlsc").send(message, scratch);
        env.upstream().assertQueueIdIsOurs(result.queueId());
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPS", result.tlsProtocol());
    }

    @ParameterizedTest(name = "AUTH {0} over {1}")
    @CsvSource({"PLAIN, tlsv1, TLSv1", "LOGIN, tlsv1_2, TLSv1.2"})
    void authenticatedDeviceIsRelayed(String mechanism, String swaksProtocol, String protocol) throws Exception {
        String token = TestMessages.token("swaks-auth-" + mechanism);
        byte[] message = TestMessages.plain(token, "scanner@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(env.proxy().port("auth"), "scanner@legacy.test", UpstreamPostfix.USER)
                .startTls(swaksProtocol)
                .with("--auth", mechanism, "--auth-user", ProxyUnderTest.AUTH_USER,
                        "--auth-password", ProxyUnderTest.AUTH_PASSWORD)
                .send(message, scratch);
        env.upstream().assertQueueIdIsOurs(result.queueId());
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPSA", protocol);
    }

    @Test
    void wrongPasswordIsRefusedAndNothingIsRelayed() throws Exception {
        String token = TestMessages.token("swaks-badauth");
        byte[] message = TestMessages.plain(token, "scanner@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(env.proxy().port("auth"), "scanner@legacy.test", UpstreamPostfix.USER)
                .startTls("tlsv1_2")
                .with("--auth", "PLAIN", "--auth-user", ProxyUnderTest.AUTH_USER, "--auth-password", "wrong")
                .send(message, scratch);
        assertNotEquals(0, result.exec().exitCode(), result.output());
        assertTrue(result.output().contains("535 5.7.8"), result.output());
        PostfixInstance.sleep(1000);
        assertEquals(List.of(), env.upstream().mailbox("user").find(token));
    }

    @Test
    void pipelinedPlaintextTransactionIsRelayed() throws Exception {
        String token = TestMessages.token("swaks-pipe");
        byte[] message = TestMessages.plain(token, "erp@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(env.proxy().port("plain"), "erp@legacy.test", UpstreamPostfix.USER)
                .with("--pipeline").send(message, scratch);
        assertTrue(result.output().contains("PIPELINING"), result.output());
        env.upstream().assertQueueIdIsOurs(result.queueId());
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTP", null);
    }

    @Test
    void eightBitMessageArrivesUnchanged() throws Exception {
        String token = TestMessages.token("swaks-8bit");
        byte[] message = TestMessages.eightBit(token, "erp@legacy.test", UpstreamPostfix.USER);
        Swaks.Result result = new Swaks(env.proxy().port("starttls"), "erp@legacy.test", UpstreamPostfix.USER)
                .startTls("tlsv1").send(message, scratch);
        env.upstream().assertQueueIdIsOurs(result.queueId());
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPS", "TLSv1");
    }

    @Test
    void twentyMebibyteAttachmentArrivesUnchanged() throws Exception {
        String token = TestMessages.token("swaks-20mib");
        byte[] message = TestMessages.withAttachment(token, "scanner@legacy.test", UpstreamPostfix.USER, 20 << 20);
        Swaks.Result result = new Swaks(env.proxy().port("starttls"), "scanner@legacy.test", UpstreamPostfix.USER)
                .startTls("tlsv1").send(message, scratch);
        env.upstream().assertQueueIdIsOurs(result.queueId());
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPS", "TLSv1");
    }
}
