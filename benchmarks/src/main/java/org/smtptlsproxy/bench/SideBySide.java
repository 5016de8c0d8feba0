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
 * <pre>java -cp benchmarks/target/benchmarks.jar:... org.smtptlsproxy.bench.SideBySide [sessions] [messages] [rounds] [sizes...]</pre>
 */
public final class SideBySide {

    public record Row(String label, int size, double messagesPerSecond, double mebibytesPerSecond, double p50, double p99,
                      int accepted, int failed) {
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
        try (FakeUpstream sink = FakeUpstream.builder().identity(sinkIdentity).maxStoredBytes(0).threads(1).build().start()) {
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
                    Map<String, List<LoadGenerator.Result>> results = new LinkedHashMap<>();
                    for (int round = 0; round < rounds; round++) {
                        for (String path : List.of("direct", "proxy")) {
                            String tag = path + "-" + size + "-" + round;
                            int before = sink.messages().size();
                            LoadGenerator.Result result = LoadGenerator.run(new LoadGenerator.Plan(
                                    path.equals("direct") ? direct : viaProxy, sessions, count, size, 1,
                                    path.equals("direct") ? "TLSv1.2" : null, pki.caCertificate(), Duration.ofMinutes(5), tag));
                            checkNoLoss(sink, before, result);
                            results.computeIfAbsent(path, p -> new ArrayList<>()).add(result);
                        }
                    }
                    for (Map.Entry<String, List<LoadGenerator.Result>> e : results.entrySet()) {
                        medians.add(median(e.getKey(), size, e.getValue()));
                    }
                }
                print(medians, out);
                return medians;
            }
        }
    }

    /** 250s and deliveries must match one to one: no loss, no duplicate. */
    private static void checkNoLoss(FakeUpstream sink, int before, LoadGenerator.Result result) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (sink.messages().size() < before + result.accepted() && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
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

    private static Row median(String path, int size, List<LoadGenerator.Result> runs) {
        double[] mps = runs.stream().mapToDouble(LoadGenerator.Result::messagesPerSecond).sorted().toArray();
        double[] mib = runs.stream().mapToDouble(LoadGenerator.Result::mebibytesPerSecond).sorted().toArray();
        double[] p50 = runs.stream().mapToDouble(r -> r.percentileMillis(0.5)).sorted().toArray();
        double[] p99 = runs.stream().mapToDouble(r -> r.percentileMillis(0.99)).sorted().toArray();
        int accepted = runs.stream().mapToInt(LoadGenerator.Result::accepted).sum();
        int failed = runs.stream().mapToInt(LoadGenerator.Result::failed).sum();
        return new Row(path, size, mid(mps), mid(mib), mid(p50), mid(p99), accepted, failed);
    }

    private static double mid(double[] sorted) {
        return sorted.length == 0 ? Double.NaN : sorted[sorted.length / 2];
    }

    private static void print(List<Row> rows, PrintStream out) {
        out.printf("%-7s %9s %10s %9s %9s %9s %9s%n", "path", "size", "msg/s", "MiB/s", "p50 ms", "p99 ms", "250s");
        for (Row r : rows) {
            out.printf("%-7s %9d %10.1f %9.2f %9.2f %9.2f %9d%n", r.label(), r.size(), r.messagesPerSecond(),
                    r.mebibytesPerSecond(), r.p50(), r.p99(), r.accepted());
        }
        for (int i = 0; i + 1 < rows.size(); i += 2) {
            Row direct = rows.get(i);
            Row proxy = rows.get(i + 1);
            out.printf("size %d: proxy/direct msg/s %.2f, p99 %+.2f ms%n", direct.size(),
                    proxy.messagesPerSecond() / direct.messagesPerSecond(), proxy.p99() - direct.p99());
        }
        out.println("loss check: every 250 matched exactly one delivery, in every run");
    }
}
