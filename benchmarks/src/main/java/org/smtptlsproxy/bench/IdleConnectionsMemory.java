package org.smtptlsproxy.bench;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.TestPki;

/**
 * Memory of the real proxy holding many idle inbound sessions: "heap with 10,000 idle inbound
 * connections ≤ 256 MiB".
 *
 * <p>For each variant (plaintext, then STARTTLS with TLS 1.2) a fresh proxy process starts with
 * {@code -Xmx256m}; a few sessions warm it up and close; then the baseline is taken (heap used
 * after a full GC, live objects, RSS, Netty direct memory); N sessions are opened from several
 * 127.0.0.x source addresses, each established for real (banner, EHLO; for TLS also STARTTLS, the
 * handshake and EHLO again) and left idle; the proxy's own {@code smtp_proxy_connections_active}
 * must count all of them; the same figures are taken again, then once more after every session
 * closed (pending finalizers run first). Prints totals, per-connection costs and the classes whose
 * heap grew most.
 *
 * <pre>
 * java -cp BENCH_CLASSPATH org.smtptlsproxy.bench.IdleConnectionsMemory [options]
 *   --connections N       plaintext idle sessions (default 10000; 0 skips the variant)
 *   --tls-connections N   STARTTLS TLS 1.2 idle sessions (default 10000; 0 skips the variant)
 *   --jar PATH            the proxy jar (default proxy-server/target/smtp-tls-proxy.jar);
 *                         --classpath launches org.smtptlsproxy.server.Main from this JVM's class path
 *   --xmx SIZE            the proxy's -Xmx (default 256m)
 *   --sources K           client source addresses 127.0.0.2 .. 127.0.0.(K+1) (default 4)
 *   --in-flight N         session set-ups at a time (default 200)
 *   --deadline-seconds S  time allowed to open each variant's sessions (default 240)
 *   --no-histogram        skip the class histograms
 * </pre>
 * Needs about N+100 file descriptors in this process and in the proxy (it inherits the limit).
 * Exit status 1 when a session could not be established or the heap exceeded the budget.
 */
public final class IdleConnectionsMemory {

    /** The heap budget of the performance goal. */
    public static final long HEAP_BUDGET = 256L << 20;

    public record Options(int connections, int tlsConnections, ProxyProcess.Launcher launcher, String xmx, int sources,
                          int inFlight, Duration deadline, boolean histogram) {
    }

    /** One variant's outcome: what was opened and the three memory samples. */
    public record Variant(String name, IdleClients.Result sessions, long activeSeen, int dropped,
                          ProxyProcess.Sample baseline, ProxyProcess.Sample loaded, ProxyProcess.Sample afterClose) {

        public boolean allEstablished() {
            return sessions.established() == sessions.requested() && activeSeen == sessions.requested() && dropped == 0;
        }

        /** Bytes per established session of the difference loaded - baseline, or NaN. */
        public double perConnection(java.util.function.ToLongFunction<ProxyProcess.Sample> figure) {
            long before = figure.applyAsLong(baseline);
            long after = figure.applyAsLong(loaded);
            return before < 0 || after < 0 || sessions.established() == 0 ? Double.NaN
                    : (after - before) / (double) sessions.established();
        }
    }

    private IdleConnectionsMemory() {
    }

    public static void main(String[] args) throws Exception {
        int connections = 10_000;
        int tlsConnections = 10_000;
        ProxyProcess.Launcher launcher = ProxyProcess.Launcher.jar(Path.of("proxy-server/target/smtp-tls-proxy.jar"));
        String xmx = "256m";
        int sources = 4;
        int inFlight = 200;
        int deadline = 240;
        boolean histogram = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--connections" -> connections = Integer.parseInt(args[++i]);
                case "--tls-connections" -> tlsConnections = Integer.parseInt(args[++i]);
                case "--jar" -> launcher = ProxyProcess.Launcher.jar(Path.of(args[++i]));
                case "--classpath" -> launcher = ProxyProcess.Launcher.currentClassPath();
                case "--xmx" -> xmx = args[++i];
                case "--sources" -> sources = Integer.parseInt(args[++i]);
                case "--in-flight" -> inFlight = Integer.parseInt(args[++i]);
                case "--deadline-seconds" -> deadline = Integer.parseInt(args[++i]);
                case "--no-histogram" -> histogram = false;
                default -> {
                    System.err.println("unknown option " + args[i] + " (see the class javadoc)");
                    System.exit(2);
                }
            }
        }
        List<Variant> variants = run(new Options(connections, tlsConnections, launcher, xmx, sources, inFlight,
                Duration.ofSeconds(deadline), histogram), System.out);
        boolean ok = variants.stream().allMatch(v -> v.allEstablished() && v.loaded().heapUsed() <= HEAP_BUDGET);
        System.exit(ok ? 0 : 1);
    }

    public static List<Variant> run(Options options, PrintStream out) throws Exception {
        Path dir = Files.createTempDirectory("idle-memory");
        TestPki pki = TestPki.create("idle bench CA", KeyType.EC);
        pki.writeCaPem(dir.resolve("ca.pem"));
        pki.issue("localhost", "localhost", "127.0.0.1").writePem(dir, "listener", KeyFormat.PKCS8);
        List<InetAddress> sources = new ArrayList<>();
        for (int i = 0; i < options.sources(); i++) {
            sources.add(InetAddress.getByAddress(new byte[] {127, 0, 0, (byte) (2 + i)}));
        }
        SslContext clientTls = SslContextBuilder.forClient()
                .sslProvider(OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK)
                .protocols("TLSv1.2")
                .trustManager(pki.caCertificate())
                .build();
        List<Variant> variants = new ArrayList<>();
        // The upstream is never used (no MAIL is sent); a real one keeps the config honest.
        try (FakeUpstream sink = FakeUpstream.builder().identity(pki.issue("localhost", "localhost", "127.0.0.1"))
                .maxStoredBytes(0).build().start()) {
            if (options.connections() > 0) {
                variants.add(variant("plaintext", options.connections(), null, options, dir, sink.port(), sources, out));
            }
            if (options.tlsConnections() > 0) {
                variants.add(variant("starttls-tls1.2", options.tlsConnections(), clientTls, options, dir, sink.port(),
                        sources, out));
            }
        }
        return variants;
    }

    private static Variant variant(String name, int count, SslContext clientTls, Options options, Path dir, int sinkPort,
                                   List<InetAddress> sources, PrintStream out) throws Exception {
        Path config = dir.resolve(name + ".yaml");
        Files.writeString(config, config(count, clientTls != null, dir, sinkPort), StandardCharsets.UTF_8);
        List<String> jvm = List.of("-Xmx" + options.xmx());
        out.printf("%n== %s: %d idle sessions, proxy %s %s%n", name, count, String.join(" ", jvm), options.launcher());
        long t0 = System.nanoTime();
        try (ProxyProcess proxy = ProxyProcess.start(options.launcher(), jvm, config, 1, dir.resolve(name + ".log"),
                Duration.ofSeconds(60));
             IdleClients clients = new IdleClients(2)) {
            progress(out, t0, "proxy pid " + proxy.pid() + " started");
            InetSocketAddress target = new InetSocketAddress("127.0.0.1", proxy.listenerPort("idle"));
            // Warm-up: classes loaded, code paths run, allocator set up, before the baseline.
            IdleClients.Result warm = clients.open(target, Math.min(100, count), sources, clientTls, "localhost",
                    options.inFlight(), options.deadline());
            clients.closeAll(Duration.ofSeconds(30));
            if (warm.established() != warm.requested()) {
                throw new IllegalStateException(name + " warm-up failed: " + warm);
            }
            proxy.awaitActiveConnections(0, Duration.ofSeconds(30));
            progress(out, t0, "warmed up");
            ProxyProcess.Sample baseline = proxy.sample(options.histogram(), true); // after the warm-up's closes
            progress(out, t0, "baseline taken");

            IdleClients.Result result = clients.open(target, count, sources, clientTls, "localhost", options.inFlight(),
                    options.deadline());
            progress(out, t0, result.established() + " sessions established");
            long active = proxy.awaitActiveConnections(result.established(), Duration.ofSeconds(60));
            ProxyProcess.Sample loaded = proxy.sample(options.histogram(), false);
            progress(out, t0, "loaded sample taken");
            int dropped = clients.dropped();

            clients.closeAll(Duration.ofSeconds(60));
            proxy.awaitActiveConnections(0, Duration.ofSeconds(60));
            // Closed TLS engines wait for their finalizer: let it run, or they would look retained.
            ProxyProcess.Sample afterClose = proxy.sample(options.histogram(), true);
            progress(out, t0, "closed, sample taken");
            boolean alive = proxy.isAlive();
            proxy.stop(Duration.ofSeconds(20));
            progress(out, t0, "proxy stopped");

            Variant v = new Variant(name, result, active, dropped, baseline, loaded, afterClose);
            print(v, alive, out);
            Map.Entry<Integer, List<String>> warnings = proxy.logLines(5, " WARN ", " ERROR ");
            out.printf("proxy log: %d WARN/ERROR lines%n", warnings.getKey());
            warnings.getValue().forEach(line -> out.println("  " + line));
            return v;
        }
    }

    private static void progress(PrintStream out, long t0, String what) {
        out.printf(Locale.ROOT, "  [%5.1f s] %s%n", (System.nanoTime() - t0) / 1e9, what);
    }

    static String config(int count, boolean tls, Path dir, int sinkPort) {
        List<String> lines = new ArrayList<>(List.of(
                "hostname: proxy.bench.invalid",
                "listeners:",
                "  - name: idle",
                "    address: 127.0.0.1:0"));
        if (tls) {
            lines.addAll(List.of(
                    "    tls:",
                    "      mode: starttls",
                    "      certificate: " + dir.resolve("listener.pem"),
                    "      key: " + dir.resolve("listener.key")));
        }
        lines.addAll(List.of(
                "upstream:",
                "  host: 127.0.0.1",
                "  port: " + sinkPort,
                "  tls:",
                "    server_name: localhost",
                "    trust: " + dir.resolve("ca.pem"),
                "limits:",
                "  max_connections: " + (count + 1000),
                "  max_connections_per_client: " + (count + 1000),
                "  idle_timeout: 30m",
                "drain_timeout: 2s",
                "metrics:",
                "  address: 127.0.0.1:0",
                ""));
        return String.join("\n", lines);
    }

    private static void print(Variant v, boolean alive, PrintStream out) {
        IdleClients.Result s = v.sessions();
        out.printf(Locale.ROOT, "%d/%d sessions established in %.1f s; the proxy counted %d active; %d dropped by the proxy; proxy %s%n",
                s.established(), s.requested(), s.elapsedNanos() / 1e9, v.activeSeen(), v.dropped(),
                alive ? "alive" : "DEAD");
        if (s.firstFailure() != null) {
            out.println("first failure: " + s.firstFailure());
        }
        out.printf("%-26s %14s %14s %14s %12s%n", "", "baseline", s.established() + " idle", "after close", "per conn");
        row(out, "heap used after full GC", v, ProxyProcess.Sample::heapUsed);
        row(out, "live objects (histogram)", v, ProxyProcess.Sample::liveObjects);
        row(out, "RSS", v, ProxyProcess.Sample::rss);
        row(out, "peak RSS (VmHWM)", v, ProxyProcess.Sample::peakRss);
        row(out, "Netty direct in use", v, ProxyProcess.Sample::nettyDirect);
        row(out, "JDK direct buffers", v, ProxyProcess.Sample::jdkDirect);
        out.printf("heap budget %s: %s%n", ProxyProcess.mib(HEAP_BUDGET),
                v.loaded().heapUsed() < 0 ? "not measured" : v.loaded().heapUsed() <= HEAP_BUDGET ? "within" : "EXCEEDED");
        growth(out, "heap growth by class, baseline to idle", v.baseline().histogram(), v.loaded().histogram(),
                s.established());
        long retained = v.afterClose().liveObjects() - v.baseline().liveObjects();
        if (v.baseline().liveObjects() > 0 && v.afterClose().liveObjects() > 0 && retained > (1L << 20)) {
            out.printf("live objects still %s above the baseline after every session closed:%n", ProxyProcess.mib(retained));
            growth(out, "retained after close, by class", v.baseline().histogram(), v.afterClose().histogram(),
                    s.established());
        }
    }

    /** The classes whose heap grew most from {@code from} to {@code to}, per established session. */
    private static void growth(PrintStream out, String title, Map<String, long[]> from, Map<String, long[]> to, int sessions) {
        if (from.isEmpty() || to.isEmpty() || sessions == 0) {
            return;
        }
        out.println(title + " (bytes, instances per session):");
        to.entrySet().stream()
                .map(e -> {
                    long[] b = from.getOrDefault(e.getKey(), new long[2]);
                    return Map.entry(e.getKey(), new long[] {e.getValue()[0] - b[0], e.getValue()[1] - b[1]});
                })
                .sorted(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[1]).reversed())
                .limit(15)
                .forEach(e -> out.printf(Locale.ROOT, "  %8.1f B %6.2f x  %s%n", e.getValue()[1] / (double) sessions,
                        e.getValue()[0] / (double) sessions, e.getKey()));
    }

    private static void row(PrintStream out, String label, Variant v, java.util.function.ToLongFunction<ProxyProcess.Sample> f) {
        double per = v.perConnection(f);
        out.printf(Locale.ROOT, "%-26s %14s %14s %14s %12s%n", label, ProxyProcess.mib(f.applyAsLong(v.baseline())),
                ProxyProcess.mib(f.applyAsLong(v.loaded())), ProxyProcess.mib(f.applyAsLong(v.afterClose())),
                Double.isNaN(per) ? "n/a" : String.format(Locale.ROOT, "%.0f B", per));
    }
}
