package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import jakarta.mail.internet.MimeMessage;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** A real third-party mail server as the upstream: GreenMail's SMTPS (implicit TLS). */
@Timeout(60)
class GreenMailUpstreamTest {

    @Test
    void messageArrivesInGreenMailOverImplicitTls() throws Exception {
        Path dir = Files.createTempDirectory("greenmail");
        Path keystore = dir.resolve("greenmail.p12");
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("greenmail", ProxyFixture.LOCALHOST.key(), "changeit".toCharArray(),
                ProxyFixture.LOCALHOST.chain().toArray(Certificate[]::new));
        try (OutputStream out = Files.newOutputStream(keystore)) {
            store.store(out, "changeit".toCharArray());
        }
        System.setProperty("greenmail.tls.keystore.file", keystore.toString());
        System.setProperty("greenmail.tls.keystore.password", "changeit");
        System.setProperty("greenmail.tls.key.password", "changeit");
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        GreenMail greenMail = new GreenMail(new ServerSetup(port, "127.0.0.1", ServerSetup.PROTOCOL_SMTPS));
        greenMail.start();
        ProxyFixture.PKI.writeCaPem(dir.resolve("ca.pem"));
        Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                "hostname: proxy.test.invalid",
                "listeners:",
                "  - address: 127.0.0.1:0",
                "upstream:",
                "  host: 127.0.0.1",
                "  port: " + port,
                "  tls:",
                "    mode: implicit",
                "    server_name: localhost",
                "    trust: ca.pem",
                "metrics:",
                "  address: 127.0.0.1:0",
                ""));
        try (ProxyServer proxy = ProxyServer.start(new ConfigLoader().load(dir.resolve("config.yaml")));
             SmtpTestClient client = new SmtpTestClient()) {
            var address = proxy.listenerAddresses().get("listener0");
            client.connect(address.getHostString(), address.getPort());
            client.ehlo("sender.example");
            SmtpTestClient.Reply reply = client.sendMessage("printer@legacy.example", List.of("you@contoso.example"),
                    "To: you@contoso.example\r\nSubject: via GreenMail\r\n\r\nHello GreenMail.\r\n".getBytes(StandardCharsets.US_ASCII));
            assertEquals(250, reply.code(), reply.toString());
            assertTrue(greenMail.waitForIncomingEmail(5000, 1));
            MimeMessage received = greenMail.getReceivedMessages()[0];
            assertEquals("via GreenMail", received.getSubject());
            assertTrue(java.util.Arrays.stream(received.getHeader("Received")).anyMatch(h -> h.contains("(smtp-tls-proxy) with ESMTP")),
                    "the proxy's trace header arrived");
            assertEquals("you@contoso.example", received.getAllRecipients()[0].toString());
            client.quit();
        } finally {
            greenMail.stop();
        }
    }
}
