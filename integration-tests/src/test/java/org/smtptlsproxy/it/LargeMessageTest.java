package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * Memory does not grow with message size: a 50 MiB message through the real jar started with a
 * 64 MiB heap (direct memory is capped by the heap size too), byte for byte. The upstream stalls
 * for three seconds once data starts, so the proxy must push back on the sender rather than
 * buffer: without backpressure the message would pile up in the proxy and exhaust its memory.
 */
@Timeout(180)
class LargeMessageTest {

    private static final int SIZE = 50 << 20;

    @Test
    void fiftyMebibytesThroughA64MebibyteHeap() throws Exception {
        Path jar = Path.of("..", "proxy-server", "target", "smtp-tls-proxy.jar").toAbsolutePath().normalize();
        assertTrue(Files.exists(jar), "build proxy-server first: " + jar);
        Path dir = Files.createTempDirectory("large-message");
        try (FakeUpstream upstream = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST).maxStoredBytes(0)
                .faults(Fault.STALL_DATA).build().start()) {
            ProxyFixture.PKI.writeCaPem(dir.resolve("ca.pem"));
            int port = freePort();
            Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                    "hostname: proxy.test.invalid",
                    "listeners:",
                    "  - name: plain",
                    "    address: 127.0.0.1:" + port,
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + upstream.port(),
                    "  tls:",
                    "    server_name: localhost",
                    "    trust: ca.pem",
                    "limits:",
                    "  max_message_size: 100MB",
                    "received_header: false",
                    "metrics:",
                    "  address: 127.0.0.1:0",
                    ""));
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process proxy = new ProcessBuilder(java, "-Xmx64m", "-XX:MaxDirectMemorySize=24m", "-jar", jar.toString(), "run", "--config",
                    dir.resolve("config.yaml").toString())
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve("proxy.log").toFile())
                    .start();
            try {
                awaitListening(port, proxy, dir);
                byte[] message = message();
                try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(60))) {
                    client.connect("127.0.0.1", port);
                    client.ehlo("sender.example");
                    SmtpTestClient.Reply reply = client.sendMessage("a@legacy.example", List.of("b@contoso.example"), message);
                    assertEquals(250, reply.code(), reply + "\n" + Files.readString(dir.resolve("proxy.log")));
                }
                assertTrue(upstream.awaitMessages(1, Duration.ofSeconds(10)));
                ReceivedMessage received = upstream.messages().get(0);
                assertEquals(stuffedSize(message), received.size());
                Hashes sent = hashes(message);
                assertEquals(sent.sha256(), received.sha256(), "the upstream got the sender's bytes");
                assertEquals(sent.checksum(), received.checksum(), "the sink's checksum covers the same bytes");
                assertTrue(proxy.isAlive(), "the proxy survived with a 64 MiB heap");
                proxy.destroy(); // SIGTERM: drain, then exit 0
                assertTrue(proxy.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, proxy.exitValue(), Files.readString(dir.resolve("proxy.log")));
                assertTrue(Files.readString(dir.resolve("proxy.log")).contains("SIGTERM: draining"));
            } finally {
                proxy.destroy();
                proxy.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** 50 MiB of 78-octet lines, some starting with dots so stuffing is exercised. */
    private static byte[] message() {
        byte[] message = new byte[SIZE];
        byte[] line = ("." + "0123456789".repeat(8)).substring(0, 76).concat("\r\n").getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < SIZE; i += line.length) {
            line[0] = (byte) (i % 3 == 0 ? '.' : 'x');
            System.arraycopy(line, 0, message, i, Math.min(line.length, SIZE - i));
        }
        message[SIZE - 2] = '\r';
        message[SIZE - 1] = '\n';
        return message;
    }

    /** SHA-256 and the sink's CRC-32C/CRC-32 checksum of the message as it travels: dot-stuffed. */
    private record Hashes(String sha256, long checksum) {
    }

    private static Hashes hashes(byte[] message) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        CRC32C crc32c = new CRC32C();
        CRC32 crc32 = new CRC32();
        Consumer<ByteBuffer> feed = bytes -> {
            digest.update(bytes.duplicate());
            crc32c.update(bytes.duplicate());
            crc32.update(bytes);
        };
        boolean lineStart = true;
        int from = 0;
        for (int i = 0; i < message.length; i++) {
            if (lineStart && message[i] == '.') {
                feed.accept(ByteBuffer.wrap(message, from, i - from));
                feed.accept(ByteBuffer.wrap(new byte[] {'.'}));
                from = i;
            }
            lineStart = message[i] == '\n';
        }
        feed.accept(ByteBuffer.wrap(message, from, message.length - from));
        return new Hashes(HexFormat.of().formatHex(digest.digest()), crc32c.getValue() << 32 | crc32.getValue());
    }

    private static long stuffedSize(byte[] message) {
        long size = message.length;
        boolean lineStart = true;
        for (byte b : message) {
            if (lineStart && b == '.') {
                size++;
            }
            lineStart = b == '\n';
        }
        return size;
    }

    private static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static void awaitListening(int port, Process proxy, Path dir) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (!proxy.isAlive()) {
                throw new AssertionError("proxy exited: " + Files.readString(dir.resolve("proxy.log")));
            }
            try (Socket ignored = new Socket("127.0.0.1", port)) {
                return;
            } catch (java.io.IOException notYet) {
                Thread.sleep(100);
            }
        }
        throw new AssertionError("proxy did not listen: " + Files.readString(dir.resolve("proxy.log")));
    }
}
