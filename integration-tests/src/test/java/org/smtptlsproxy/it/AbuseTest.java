package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * 200 hostile sessions interleaved with 200 good ones, 16 at a time: every good message is
 * relayed exactly once, nothing hostile reaches the upstream, and no session is left behind.
 * Bounded in count and time.
 */
@Timeout(120)
class AbuseTest {

    private static final int GOOD = 200;
    private static final int HOSTILE = 200;

    @Test
    void hostileSessionsDoNotDisturbGoodOnes() throws Exception {
        try (ProxyFixture fixture = ProxyFixture.builder().limit("max_message_size: 64KB").limit("idle_timeout: 2s").start()) {
            InetSocketAddress plain = fixture.address("plain");
            InetSocketAddress smtps = fixture.address("smtps");
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < GOOD + HOSTILE; i++) {
                order.add(i);
            }
            Collections.shuffle(order, new Random(42));
            Map<Integer, Integer> goodReplies = new ConcurrentHashMap<>();
            ExecutorService pool = Executors.newFixedThreadPool(16);
            List<Future<?>> runs = new ArrayList<>();
            for (int n : order) {
                runs.add(pool.submit(() -> {
                    if (n < GOOD) {
                        goodReplies.put(n, good(plain, n));
                    } else {
                        hostile(n % 6, plain, smtps, n);
                    }
                    return null;
                }));
            }
            for (Future<?> run : runs) {
                run.get(60, TimeUnit.SECONDS);
            }
            pool.shutdown();

            assertEquals(GOOD, goodReplies.size());
            assertTrue(goodReplies.values().stream().allMatch(code -> code == 250), goodReplies.toString());
            assertTrue(fixture.upstream.awaitMessages(GOOD, Duration.ofSeconds(10)));
            Map<String, Long> bySubject = fixture.upstream.messages().stream()
                    .map(ReceivedMessage::content)
                    .map(c -> c.lines().filter(l -> l.startsWith("Subject: ")).findFirst().orElse("?"))
                    .collect(Collectors.groupingBy(Function.identity(), Collectors.counting()));
            assertEquals(GOOD, bySubject.size(), "each good message exactly once: " + bySubject);
            assertTrue(bySubject.values().stream().allMatch(count -> count == 1));
            assertTrue(fixture.upstream.messages().stream().noneMatch(m -> m.from().contains("evil")), "nothing smuggled");

            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!fixture.metrics().contains("smtp_proxy_connections_active{listener=\"plain\"} 0.0")
                    && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertTrue(fixture.metrics().contains("smtp_proxy_connections_active{listener=\"plain\"} 0.0"),
                    "every session ended");
            try (SmtpTestClient client = fixture.connect("plain")) {
                client.ehlo("after.example");
                assertEquals(250, client.command("NOOP").code(), "still serving");
            }
        }
    }

    private static int good(InetSocketAddress address, int n) throws Exception {
        try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(30))) {
            client.connect(address.getHostString(), address.getPort());
            client.ehlo("good" + n + ".example");
            String body = "Subject: good " + n + "\r\n\r\nmessage " + n + "\r\n";
            int code = client.sendMessage("good" + n + "@legacy.example", List.of("rcpt@contoso.example"),
                    body.getBytes(StandardCharsets.US_ASCII)).code();
            client.quit();
            return code;
        }
    }

    private static void hostile(int kind, InetSocketAddress plain, InetSocketAddress smtps, int n) throws Exception {
        Random random = new Random(n);
        InetSocketAddress target = kind == 4 ? smtps : plain;
        try (Socket socket = new Socket()) {
            socket.connect(target, 5000);
            socket.setSoTimeout(5000);
            OutputStream out = socket.getOutputStream();
            switch (kind) {
                case 0 -> { // binary garbage
                    byte[] junk = new byte[4096];
                    random.nextBytes(junk);
                    out.write(junk);
                }
                case 1 -> { // slowloris: half a command, then nothing until the idle timeout
                    out.write("EHLO slow".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    Thread.sleep(300);
                }
                case 2 -> // a 100 KB message where 64 KB is the limit
                    out.write(("EHLO big\r\nMAIL FROM:<big@legacy.example>\r\nRCPT TO:<r@contoso.example>\r\nDATA\r\n"
                            + ("y".repeat(998) + "\r\n").repeat(100) + ".\r\nQUIT\r\n").getBytes(StandardCharsets.US_ASCII));
                case 3 -> // smuggling
                    out.write(("EHLO smug\r\nMAIL FROM:<a@legacy.example>\r\nRCPT TO:<r@contoso.example>\r\nDATA\r\n"
                            + "Subject: innocent\r\n\r\nhi\n.\nMAIL FROM:<evil@evil.example>\r\nRCPT TO:<victim@contoso.example>\r\n"
                            + "DATA\r\nSubject: evil\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n").getBytes(StandardCharsets.US_ASCII));
                case 4 -> // not a ClientHello on the implicit TLS port
                    out.write("EHLO this is not TLS\r\n".getBytes(StandardCharsets.US_ASCII));
                default -> // hang up in the middle of DATA
                    out.write(("EHLO quitter\r\nMAIL FROM:<q@legacy.example>\r\nRCPT TO:<r@contoso.example>\r\nDATA\r\n"
                            + "Subject: never finished\r\n\r\nhalf").getBytes(StandardCharsets.US_ASCII));
            }
            out.flush();
            try {
                socket.getInputStream().read(new byte[1024]); // whatever the proxy answers first
            } catch (java.io.IOException ignored) {
                // reset or timeout: both fine for a hostile client
            }
        }
    }
}
