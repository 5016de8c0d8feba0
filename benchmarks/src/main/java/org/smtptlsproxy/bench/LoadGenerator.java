package org.smtptlsproxy.bench;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * Drives SMTP load at a server: {@code sessions} concurrent senders share {@code messages}
 * messages of {@code size} octets, {@code perConnection} messages per connection, plaintext or
 * STARTTLS with one TLS version. Every reply is counted; latency is measured from the sender's
 * end of data to the reply. Bounded in count and in time ({@code deadline}).
 *
 * <p>Senders are blocking threads (one per session) over the JDK's sockets and TLS: simple,
 * and far from the bottleneck at the rates a relay reaches on loopback.
 */
public final class LoadGenerator {

    /** What to send and how. {@code tlsProtocol} null means plaintext. */
    public record Plan(InetSocketAddress target, int sessions, int messages, int size, int perConnection,
                       String tlsProtocol, X509Certificate trust, Duration deadline, String tag) {
    }

    /** What came back. {@code accepted} counts 250 replies to end of data. */
    public record Result(String tag, int sent, int accepted, int failed, long bytes, long elapsedNanos, long[] latencies) {

        public double messagesPerSecond() {
            return accepted / (elapsedNanos / 1e9);
        }

        public double mebibytesPerSecond() {
            return bytes / 1048576.0 / (elapsedNanos / 1e9);
        }

        /** Latency percentile in milliseconds (0 < p <= 1). */
        public double percentileMillis(double p) {
            if (latencies.length == 0) {
                return Double.NaN;
            }
            long[] sorted = latencies.clone();
            java.util.Arrays.sort(sorted);
            int index = (int) Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
            return sorted[Math.max(0, index)] / 1e6;
        }
    }

    private LoadGenerator() {
    }

    public static Result run(Plan plan) throws InterruptedException {
        AtomicInteger next = new AtomicInteger();
        AtomicInteger accepted = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        AtomicLong bytes = new AtomicLong();
        long[] latencies = new long[plan.messages()];
        AtomicInteger latencyCount = new AtomicInteger();
        long deadline = System.nanoTime() + plan.deadline().toNanos();
        ExecutorService senders = Executors.newFixedThreadPool(plan.sessions());
        List<Future<?>> running = new ArrayList<>();
        long started = System.nanoTime();
        for (int s = 0; s < plan.sessions(); s++) {
            running.add(senders.submit(() -> {
                while (System.nanoTime() < deadline) {
                    int first = next.getAndAdd(plan.perConnection());
                    if (first >= plan.messages()) {
                        return null;
                    }
                    int last = Math.min(plan.messages(), first + plan.perConnection());
                    try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(60))) {
                        client.connect(plan.target().getHostString(), plan.target().getPort());
                        client.ehlo("load.example");
                        if (plan.tlsProtocol() != null) {
                            client.startTls(new SmtpTestClient.TlsOptions(List.of(plan.tlsProtocol()), plan.trust(), null));
                            client.ehlo("load.example");
                        }
                        for (int n = first; n < last; n++) {
                            byte[] message = message(plan.tag(), n, plan.size());
                            long t0 = System.nanoTime();
                            SmtpTestClient.Reply reply;
                            try {
                                reply = client.sendMessage("load@legacy.example", List.of("sink@contoso.example"), message);
                            } catch (SmtpTestClient.UnexpectedReplyException e) {
                                reply = e.reply();
                            }
                            long latency = System.nanoTime() - t0;
                            if (reply != null && reply.code() == 250) {
                                accepted.incrementAndGet();
                                bytes.addAndGet(message.length);
                                latencies[latencyCount.getAndIncrement()] = latency;
                            } else {
                                failed.incrementAndGet();
                            }
                        }
                        client.quit();
                    } catch (Exception e) {
                        failed.addAndGet(last - first);
                    }
                }
                return null;
            }));
        }
        for (Future<?> future : running) {
            try {
                future.get(Math.max(1, deadline - System.nanoTime()) + TimeUnit.SECONDS.toNanos(60), TimeUnit.NANOSECONDS);
            } catch (Exception e) {
                future.cancel(true);
            }
        }
        long elapsed = System.nanoTime() - started;
        senders.shutdownNow();
        long[] measured = java.util.Arrays.copyOf(latencies, latencyCount.get());
        return new Result(plan.tag(), Math.min(next.get(), plan.messages()), accepted.get(), failed.get(), bytes.get(),
                elapsed, measured);
    }

    /** A message of about {@code size} octets whose Subject names the run and its number. */
    static byte[] message(String tag, int n, int size) {
        StringBuilder text = new StringBuilder(size + 100)
                .append("From: load@legacy.example\r\nTo: sink@contoso.example\r\nSubject: ")
                .append(tag).append(' ').append(n).append("\r\n\r\n");
        String line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGH\r\n";
        while (text.length() + line.length() <= size) {
            text.append(line);
        }
        while (text.length() < size - 2) {
            text.append('x');
        }
        text.append("\r\n");
        return text.toString().getBytes(StandardCharsets.US_ASCII);
    }
}
