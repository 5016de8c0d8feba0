package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * The spool's promise across {@code kill -9} of the real process (issue 13, "done means"): senders
 * that never retry keep sending to a spooling listener while the upstream is down and the proxy is
 * killed at random moments, several times over; once the upstream is back and the proxy runs
 * again, every message that got a 250 arrives, exactly once, and nothing is left in the spool.
 */
@Timeout(240)
class SpoolKillTest {

    private static final int ROUNDS = 4;
    private static final int SENDERS = 4;

    @TempDir
    Path dir;

    @Test
    void everyMessageThatGot250ArrivesExactlyOnceAfterRepeatedKill9() throws Exception {
        int upstreamPort = freePort();
        int listenerPort = freePort();
        Path config = writeConfig(listenerPort, upstreamPort);
        Random random = new Random(Long.getLong("spool.kill.seed", 20261206L));
        Set<String> accepted = ConcurrentHashMap.newKeySet();
        AtomicInteger sequence = new AtomicInteger();

        for (int round = 0; round < ROUNDS; round++) {
            Process proxy = start(config);
            List<Thread> senders = new ArrayList<>();
            try {
                awaitListening(listenerPort, proxy);
                for (int s = 0; s < SENDERS; s++) {
                    Thread sender = new Thread(() -> sendUntilRefused(listenerPort, sequence, accepted), "scanner-" + s);
                    sender.setDaemon(true);
                    sender.start();
                    senders.add(sender);
                }
                Thread.sleep(300 + random.nextInt(1200)); // then kill, wherever the senders are
            } finally {
                proxy.destroyForcibly(); // SIGKILL: no drain, no flush, no shutdown hook
                assertTrue(proxy.waitFor(20, TimeUnit.SECONDS));
            }
            for (Thread sender : senders) {
                sender.join(15_000); // each gives up once its connection is gone
            }
        }
        assertTrue(accepted.size() >= ROUNDS, "the senders got messages through: " + accepted.size());

        try (FakeUpstream upstream = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST)
                .bind("127.0.0.1", upstreamPort).build().start()) {
            Process proxy = start(config);
            try {
                awaitListening(listenerPort, proxy);
                long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                while (!arrived(upstream).keySet().containsAll(accepted) && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                Map<String, Integer> arrived = arrived(upstream);
                for (String subject : accepted) {
                    assertEquals(1, arrived.getOrDefault(subject, 0), subject + " got a 250: it arrives exactly once");
                }
                // A message killed between its fsync and its 250 arrives without its 250 (the sender would
                // resend it, as with any MTA); none arrives twice.
                arrived.forEach((subject, count) -> assertEquals(1, count, subject + " arrived " + count + " times"));
                System.out.printf("SpoolKillTest: %d kills, %d messages tried, %d got 250, %d arrived%n", ROUNDS,
                        sequence.get(), accepted.size(), arrived.size());
                awaitEmpty(dir.resolve("spool/queue"));
                assertEquals(0, count(dir.resolve("spool/corrupt")), "kill -9 never leaves a corrupt file");
            } finally {
                proxy.destroy();
                proxy.waitFor(20, TimeUnit.SECONDS);
            }
        }
    }

    /** One sender that never retries: a message per connection, until the proxy is gone. */
    private static void sendUntilRefused(int port, AtomicInteger sequence, Set<String> accepted) {
        for (int i = 0; i < 10_000; i++) {
            String subject = "kill-test-" + sequence.incrementAndGet();
            String body = "From: scanner@legacy.example\r\nTo: b@contoso.example\r\nSubject: " + subject + "\r\n\r\n"
                    + "Scanned page.\r\n.dot line\r\n";
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(10))) {
                client.connect("127.0.0.1", port);
                client.ehlo("scanner.example");
                SmtpTestClient.Reply reply = client.sendMessage("scanner@legacy.example", List.of("b@contoso.example"),
                        body.getBytes(StandardCharsets.US_ASCII));
                if (reply.code() == 250) {
                    accepted.add(subject);
                }
            } catch (IOException | RuntimeException e) {
                return; // killed: this sender, like a scanner, just gives up
            }
        }
    }

    private static Map<String, Integer> arrived(FakeUpstream upstream) {
        Map<String, Integer> counts = new HashMap<>();
        for (ReceivedMessage message : upstream.messages()) {
            String content = message.content();
            int at = content.indexOf("Subject: ");
            if (at >= 0) {
                counts.merge(content.substring(at + 9, content.indexOf("\r\n", at)), 1, Integer::sum);
            }
        }
        return counts;
    }

    private Path writeConfig(int listenerPort, int upstreamPort) throws IOException {
        ProxyFixture.PKI.writeCaPem(dir.resolve("ca.pem"));
        Path config = dir.resolve("config.yaml");
        Files.writeString(config, String.join("\n",
                "hostname: proxy.test.invalid",
                "listeners:",
                "  - name: scanners",
                "    address: 127.0.0.1:" + listenerPort,
                "    delivery: spool",
                "upstream:",
                "  host: 127.0.0.1",
                "  port: " + upstreamPort,
                "  connect_timeout: 2s",
                "  tls:",
                "    mode: starttls",
                "    server_name: localhost",
                "    trust: " + dir.resolve("ca.pem"),
                "spool:",
                "  directory: " + dir.resolve("spool"),
                "  retry:",
                "    first: 1s",
                "    max: 1s",
                "metrics:",
                "  address: 127.0.0.1:0",
                ""));
        return config;
    }

    private static Process start(Path config) throws IOException {
        return new ProcessBuilder(ProxyJar.command("run", "--config", config.toString()))
                .redirectErrorStream(true)
                .redirectOutput(config.resolveSibling("proxy.log").toFile())
                .start();
    }

    private void awaitListening(int port, Process proxy) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
        while (System.nanoTime() < deadline) {
            assertTrue(proxy.isAlive(), () -> "the proxy exited:\n" + log());
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        throw new AssertionError("the proxy did not listen:\n" + log());
    }

    private String log() {
        try {
            return Files.readString(dir.resolve("proxy.log"));
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static void awaitEmpty(Path queue) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (count(queue) > 0 && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(0, count(queue), "the spool is empty once everything is delivered");
    }

    private static long count(Path directory) throws IOException {
        if (!Files.isDirectory(directory)) {
            return 0;
        }
        try (Stream<Path> files = Files.list(directory)) {
            return files.count();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
