package org.smtptlsproxy.bench;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.TestPki;
import org.smtptlsproxy.tls.JdkLegacyProtocols;

/**
 * The same load, interleaved round by round, sent straight to a fast STARTTLS TLS 1.2+ sink and
 * through the proxy (plaintext senders, pooled upstream sessions) to that sink. Prints medians,
 * the proxy/direct ratios, and the loss check: every 250 the senders got matches exactly one
 * delivery at the sink, and the sink got nothing else.
 *
 * <p>With {@code -Dbench.postfix=HOST:PORT} (and {@code -Dbench.sinkPort=PORT}, the port that
 * relay delivers to) a third path runs: the same load through Postfix.
 *
 * <pre>scripts/bench-side-by-side.sh [sessions] [messages] [rounds] [sizes...]</pre>
 */
public final class SideBySide {

    /**
     * Medians of one path and size. Rates are end to end: until the sink had every accepted
     * message (for a store-and-forward relay that is later than its 250s); {@code lagMillis} is
     * how much later.
     */
    public record Row(String label, int size, double messagesPerSecond, double mebibytesPerSecond, double p50, double p99,
                      int accepted, int failed, double lagMillis) {
    }

    /** One run: the generator's result and when the sink had all of it. */
    private record Measured(LoadGenerator.Result result, long endToEndNanos) {
        double messagesPerSecond() {
            return result.accepted() / (endToEndNanos / 1e9);
        }

        double mebibytesPerSecond() {
            return result.bytes() / 1048576.0 / (endToEndNanos / 1e9);
        }
    }

    private SideBySide() {
    }

    public static void main(String[] args) throws Exception {
        JdkLegacyProtocols.enable();
        int sessions = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        int messages = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        List<Integer> sizes = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            sizes.add(Integer.parseInt(args[i]));
        }
        if (sizes.isEmpty()) {
            sizes = List.of(1024, 10240, 1 << 20);
        }
        List<Row> rows = run(sessions, messages, rounds, sizes, System.out);
        if (rows.stream().anyMatch(r -> r.failed() > 0)) {
            System.exit(1);
        }
    }

    /** Runs everything and returns one median row per (path, size); throws on any loss. */
    public static List<Row> run(int sessions, int messages, int rounds, List<Integer> sizes, PrintStream out) throws Exception {
        Path dir = Files.createTempDirectory("side-by-side");
        TestPki pki = TestPki.create("bench CA", KeyType.EC);
        TestPki.Identity sinkIdentity = pki.issue("localhost", "localhost", "127.0.0.1");
        pki.writeCaPem(dir.resolve("ca.pem"));
        String postfix = System.getProperty("bench.postfix");
        try (FakeUpstream sink = FakeUpstream.builder().identity(sinkIdentity).maxStoredBytes(0).threads(1)
                .bind("127.0.0.1", Integer.getInteger("bench.sinkPort", 0)).build().start()) {
            Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                    "hostname: proxy.bench.invalid",
                    "listeners:",
                    "  - name: bench",
                    "    address: 127.0.0.1:0",
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + sink.port(),
                    "  tls:",
                    "    server_name: localhost",
                    "    trust: ca.pem",
                    "  pool:",
                    "    max_idle: " + Math.max(8, sessions),
                    "limits:",
                    "  max_connections_per_client: " + (sessions * 2),
                    "  max_message_size: 100MB",
                    "metrics:",
                    "  address: 127.0.0.1:0",
                    ""), StandardCharsets.UTF_8);
            try (ProxyServer proxy = ProxyServer.start(new ConfigLoader().load(dir.resolve("config.yaml")))) {
                InetSocketAddress viaProxy = proxy.listenerAddresses().get("bench");
                InetSocketAddress direct = new InetSocketAddress("127.0.0.1", sink.port());
                List<Row> medians = new ArrayList<>();
                out.printf("%d sessions, %d messages per run, %d interleaved rounds, proxy TLS provider %s%n",
                        sessions, messages, rounds, proxy.runtime().tlsProviderName());
                for (int size : sizes) {
                    int count = size >= (1 << 20) ? Math.max(sessions, messages / 20) : messages;
                    Map<String, List<Measured>> results = new LinkedHashMap<>();
                    List<String> paths = postfix == null ? List.of("direct", "proxy") : List.of("direct", "proxy", "postfix");
                    for (int round = 0; round < rounds; round++) {
                        for (String path : paths) {
                            String tag = path + "-" + size + "-" + round;
                            InetSocketAddress target = switch (path) {
                                case "direct" -> direct;
                                case "proxy" -> viaProxy;
                                default -> new InetSocketAddress(postfix.split(":")[0], Integer.parseInt(postfix.split(":")[1]));
                            };
                            int before = sink.messages().size();
                            long started = System.nanoTime();
                            LoadGenerator.Result result = LoadGenerator.run(new LoadGenerator.Plan(target, sessions, count, size, 1,
                                    path.equals("direct") ? "TLSv1.2" : null, pki.caCertificate(), Duration.ofMinutes(5), tag));
                            long endToEnd = awaitDeliveries(sink, before, result, started);
                            checkNoLoss(sink, before, result);
                            results.computeIfAbsent(path, p -> new ArrayList<>()).add(new Measured(result, endToEnd));
                        }
                    }
                    for (Map.Entry<String, List<Measured>> e : results.entrySet()) {
                        medians.add(median(e.getKey(), size, e.getValue()));
                    }
                }
                print(medians, out);
                return medians;
            }
        }
    }

    /** Waits (bounded) until the sink has every accepted message; returns the end-to-end time. */
    private static long awaitDeliveries(FakeUpstream sink, int before, LoadGenerator.Result result, long started)
            throws InterruptedException {
        sink.awaitMessages(before + result.accepted(), Duration.ofMinutes(5));
        return System.nanoTime() - started;
    }

    /** 250s and deliveries must match one to one: no loss, no duplicate. */
    private static void checkNoLoss(FakeUpstream sink, int before, LoadGenerator.Result result) {
        List<ReceivedMessage> delivered = sink.messages().subList(before, sink.messages().size());
        Set<String> distinct = new HashSet<>();
        delivered.forEach(m -> distinct.add(m.sha256()));
        if (delivered.size() != result.accepted() || distinct.size() != delivered.size()) {
            throw new IllegalStateException(result.tag() + ": " + result.accepted() + " accepted but " + delivered.size()
                    + " delivered (" + distinct.size() + " distinct)");
        }
        if (result.failed() > 0) {
            throw new IllegalStateException(result.tag() + ": " + result.failed() + " messages failed");
        }
    }

    private static Row median(String path, int size, List<Measured> runs) {
        double[] mps = runs.stream().mapToDouble(Measured::messagesPerSecond).sorted().toArray();
        double[] mib = runs.stream().mapToDouble(Measured::mebibytesPerSecond).sorted().toArray();
        double[] p50 = runs.stream().mapToDouble(r -> r.result().percentileMillis(0.5)).sorted().toArray();
        double[] p99 = runs.stream().mapToDouble(r -> r.result().percentileMillis(0.99)).sorted().toArray();
        double[] lag = runs.stream().mapToDouble(r -> (r.endToEndNanos() - r.result().elapsedNanos()) / 1e6).sorted().toArray();
        int accepted = runs.stream().mapToInt(r -> r.result().accepted()).sum();
        int failed = runs.stream().mapToInt(r -> r.result().failed()).sum();
        return new Row(path, size, mid(mps), mid(mib), mid(p50), mid(p99), accepted, failed, Math.max(0, mid(lag)));
    }

    private static double mid(double[] sorted) {
        return sorted.length == 0 ? Double.NaN : sorted[sorted.length / 2];
    }

    private static void print(List<Row> rows, PrintStream out) {
        out.printf("%-7s %9s %10s %9s %9s %9s %9s %10s%n", "path", "size", "msg/s", "MiB/s", "p50 ms", "p99 ms", "250s", "lag ms");
        for (Row r : rows) {
            out.printf("%-7s %9d %10.1f %9.2f %9.2f %9.2f %9d %10.0f%n", r.label(), r.size(), r.messagesPerSecond(),
                    r.mebibytesPerSecond(), r.p50(), r.p99(), r.accepted(), r.lagMillis());
        }
        for (Row proxy : rows) {
            if (!proxy.label().equals("proxy")) {
                continue;
            }
            for (Row other : rows) {
                if (other.size() == proxy.size() && !other.label().equals("proxy")) {
                    out.printf("size %d: proxy/%s msg/s %.2f, p99 %+.2f ms%n", proxy.size(), other.label(),
                            proxy.messagesPerSecond() / other.messagesPerSecond(), proxy.p99() - other.p99());
                }
            }
        }
        out.println("loss check: every 250 matched exactly one delivery, in every run");
    }
}
