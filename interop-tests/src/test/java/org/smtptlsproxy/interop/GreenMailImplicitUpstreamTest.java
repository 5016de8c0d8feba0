package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.GreenMailUtil;
import com.icegreen.greenmail.util.ServerSetup;
import jakarta.mail.internet.MimeMessage;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A second, unrelated server implementation as the upstream: GreenMail's SMTPS (implicit TLS),
 * held to TLS 1.2+ by the test JVM's jdk.tls.server.protocols, with a CA-signed certificate the
 * proxy verifies by name. A TLS 1.0 sender goes through the proxy's {@code implicit} upstream mode.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(120)
class GreenMailImplicitUpstreamTest {

    @Test
    void tls10SenderReachesGreenMailOverImplicitTls12Plus(InteropEnvironment env) throws Exception {
        Tools.SWAKS.require();
        Path dir = env.directory("greenmail");
        Path keystore = dir.resolve("greenmail.p12");
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("greenmail", env.upstreamIdentity.key(), "changeit".toCharArray(),
                env.upstreamIdentity.chain().toArray(Certificate[]::new));
        try (OutputStream out = Files.newOutputStream(keystore)) {
            store.store(out, "changeit".toCharArray());
        }
        System.setProperty("greenmail.tls.keystore.file", keystore.toString());
        System.setProperty("greenmail.tls.keystore.password", "changeit");
        System.setProperty("greenmail.tls.key.password", "changeit");
        int port = InteropEnvironment.freePort();
        GreenMail greenMail = new GreenMail(new ServerSetup(port, "127.0.0.1", ServerSetup.PROTOCOL_SMTPS));
        greenMail.start();
        env.closeAtEnd(greenMail::stop);

        // GreenMail itself refuses what Exchange Online refuses.
        Swaks.Result legacyDirect = new Swaks(port, "printer@legacy.test", "you@contoso.test")
                .with("--tlsc", "--tls-protocol", "tlsv1_1", "--tls-cipher", "DEFAULT:@SECLEVEL=0")
                .send("Subject: x\r\n\r\nx\r\n".getBytes(StandardCharsets.US_ASCII), dir);
        assertNotEquals(0, legacyDirect.exec().exitCode(), "GreenMail must refuse TLS 1.1:\n" + legacyDirect.output());
        assertEquals(0, greenMail.getReceivedMessages().length);

        ProxyUnderTest proxy = env.closeAtEnd(ProxyUnderTest.start(env.directory("proxy-greenmail"), env.proxyIdentity,
                List.of("  host: 127.0.0.1",
                        "  port: " + port,
                        "  tls:",
                        "    mode: implicit",
                        "    server_name: " + UpstreamPostfix.HOSTNAME,
                        "    trust: " + env.caPem())));
        String token = TestMessages.token("greenmail");
        byte[] message = TestMessages.plain(token, "printer@legacy.test", "you@contoso.test");
        Swaks.Result result = new Swaks(proxy.port("starttls"), "printer@legacy.test", "you@contoso.test")
                .startTls("tlsv1").send(message, dir);
        assertEquals(0, result.exec().exitCode(), result.output());
        assertTrue(result.output().matches("(?s).*<~ +250 .*"), result.output());
        assertTrue(greenMail.waitForIncomingEmail(10_000, 1));
        MimeMessage received = greenMail.getReceivedMessages()[0];
        // GreenMailUtil gives the stored message without its last line break; put it back.
        DeliveredMessage delivered = new DeliveredMessage(DeliveredMessage.crlfToLf(
                (GreenMailUtil.getWholeMessage(received) + "\r\n").getBytes(StandardCharsets.UTF_8)));
        delivered.assertContentIs(message);
        assertEquals("ESMTPS", delivered.proxyReceived().group(2));
        assertEquals("TLSv1", delivered.proxyReceived().group(3));
        assertEquals("you@contoso.test", received.getAllRecipients()[0].toString());
    }
}
