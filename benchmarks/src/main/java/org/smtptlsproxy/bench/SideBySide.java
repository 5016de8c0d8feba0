package org.smtptlsproxy.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;
import java.util.function.ToDoubleFunction;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.TestPki;
import org.smtptlsproxy.tls.JdkLegacyProtocols;

/**
 * The same load, interleaved round by round, sent straight to a fast STARTTLS TLS 1.2+ sink,
 * through the proxy (plaintext senders, pooled upstream sessions) to that sink, and optionally
 * through Postfix configured as the equivalent relay. Prints medians, ratios, CPU per message and
 * the loss check: every 250 the senders got matches exactly one delivery at the sink, and the
 * sink got nothing else.
 *
 * <p>System properties: {@code bench.postfix=HOST:PORT} with {@code bench.sinkPort} (the port
 * that relay delivers to) and {@code bench.postfixPid} (its master's pid, for its CPU) adds the
 * Postfix path; {@code bench.sweep=1,10,50} adds a msg/s-versus-sessions sweep at 1 KiB;
 * {@code bench.rate=200} adds a paced latency run (open loop, far below saturation);
 * {@code bench.tls=true} adds BoringSSL against the JDK (inbound handshakes, 1 MiB relay);
 * {@code bench.sinkThreads} sets the sink's event loops (default: one per core, so that the sink
 * is never what limits a path); {@code bench.csv=FILE} writes every median row as CSV; {@code bench.paths=proxy,postfix} runs
 * only those paths (for profiling one); {@code bench.proxyProcess=true} runs each proxy in a JVM of
 * its own; {@code bench.verbose=true} prints every run, not only medians. TLS senders:
 * {@code bench.senderTls=TLSv1,TLSv1.2,TLSv1.3} (one section per version, a full handshake per
 * connection), {@code bench.resume=true} (a resuming sender beside each), {@code bench.implicitTls=true},
 * {@code bench.senderCert}/{@code bench.senderKey} (PEM, RSA or ECDSA; else one is made,
 * {@code bench.senderKeyType=ec} for ECDSA), {@code bench.postfixSmtps=HOST:PORT}; {@code bench.maxIdle}
 * pins the proxy's pool; {@code bench.proxyJvmOptions} adds options to the proxy's JVM (profiling; to the
 * JVM of the path {@code bench.profilePath} instead, e.g. {@code spool}). Spool mode: {@code bench.spool=DIR}
 * adds the path "spool", a proxy whose listener has {@code delivery: spool} with its spool in
 * {@code DIR/spool} (and "spool-base", the baseline's build spooling, with {@code bench.baseline}); its
 * rows add the 250s per second as the senders saw them, the spool's fsyncs per message and how long
 * the spool took to drain after the sink had everything.
 *
 * <pre>scripts/bench-side-by-side.sh [sessions] [messages] [rounds] [sizes...]</pre>
 */
public final class SideBySide {

    /** The proxy's own threads (event loops, acceptor, auth and DNS workers) in this JVM. */
    private static final List<String> PROXY_THREADS = List.of("smtp-io", "smtp-accept", "auth", "upstream-dns");

    /**
     * Medians of one path and size. Rates are end to end: until the sink had every accepted
     * message (for a store-and-forward relay that is later than its 250s); {@code lagMillis} is
     * how much later. {@code relayCpuMs}: the relay's own CPU per message (NaN for the direct
     * path); {@code machineCpuMs}: the whole machine's, sender and sink included.
     */
    public record Row(String section, String label, int sessions, int size, double messagesPerSecond,
                      double mebibytesPerSecond, double p50, double p99, double p999, int accepted, int failed, double lagMillis,
                      double relayCpuMs, double machineCpuMs, double handshakesPerSecond, double resumedShare,
                      double upstreamSetupsPerMessage, double acceptedPerSecond, double fsyncsPerMessage, double drainMillis) {
    }

    /** One run: the generator's result, when the sink had all of it, and the CPU it took. */
    private record Measured(LoadGenerator.Result result, long endToEndNanos, long relayCpuNanos, long machineCpuNanos,
                            double upstreamSetups, double fsyncs, long drainNanos) {
        double messagesPerSecond() {
            return result.accepted() / (endToEndNanos / 1e9);
        }

        /** As the senders see it: until the last 250 (for a store-and-forward relay, before the sink has them). */
        double acceptedPerSecond() {
            return result.messagesPerSecond();
        }

        /** The spool's fsyncs (files and directories) per accepted message; NaN for paths without a spool. */
        double fsyncsPerMessage() {
            return fsyncs / Math.max(1, result.accepted());
        }

        /** From the sink having every message until the spool was empty again (NaN without a spool). */
        double drainMillis() {
            return drainNanos < 0 ? Double.NaN : drainNanos / 1e6;
        }

        /** Inbound TLS handshakes the senders completed, per second of the run. */
        double handshakesPerSecond() {
            return result.handshakes() / (endToEndNanos / 1e9);
        }

        double resumedShare() {
            return result.handshakes() == 0 ? Double.NaN : (double) result.resumed() / result.handshakes();
        }

        /** New upstream sessions the proxy set up per accepted message (NaN where it cannot be read). */
        double upstreamSetupsPerMessage() {
            return upstreamSetups / Math.max(1, result.accepted());
        }

        double mebibytesPerSecond() {
            return result.bytes() / 1048576.0 / (endToEndNanos / 1e9);
        }

        double relayCpuMs() {
            return relayCpuNanos < 0 ? Double.NaN : relayCpuNanos / 1e6 / Math.max(1, result.accepted());
        }

        double machineCpuMs() {
            return machineCpuNanos / 1e6 / Math.max(1, result.accepted());
        }

        double lagMillis() {
            return Math.max(0, (endToEndNanos - result.elapsedNanos()) / 1e6);
        }
    }

    /** How a path's relay CPU is read: none (straight to the sink), the proxy's threads, or Postfix's processes. */
    private enum Relay { NONE, PROXY, POSTFIX }

    /**
     * One path: where the senders connect, whether they do TLS (which version, STARTTLS or
     * implicit, resuming or not), whose CPU is the relay's and, for a proxy, how many upstream
     * sessions it has set up so far.
     */
    private record Target(String name, InetSocketAddress address, String senderTls, X509Certificate trust, Relay relay,
                          LongSupplier relayCpu, boolean implicitTls, boolean resume, DoubleSupplier upstreamSetups,
                          Proxy spooling) {

        Target(String name, InetSocketAddress address, String senderTls, X509Certificate trust, Relay relay, LongSupplier relayCpu) {
            this(name, address, senderTls, trust, relay, relayCpu, false, false, () -> Double.NaN, null);
        }

        static Target of(String name, Proxy proxy, String senderTls, X509Certificate trust) {
            return new Target(name, proxy.listener(), senderTls, trust, Relay.PROXY, proxy::cpuNanos, false, false,
                    proxy::upstreamSetups, null);
        }

        /** A proxy whose listener spools: its run ends when the sink has every message and the spool is empty again. */
        static Target spool(String name, Proxy proxy, X509Certificate trust) {
            return new Target(name, proxy.listener(), null, trust, Relay.PROXY, proxy::cpuNanos, false, false,
                    proxy::upstreamSetups, proxy);
        }

        /** Senders of {@code mode} at the proxy's TLS listener. */
        static Target tls(String name, Proxy proxy, SenderMode mode, X509Certificate trust) {
            return new Target(name, proxy.listener(TLS_LISTENER), mode.protocol(), trust, Relay.PROXY, proxy::cpuNanos,
                    mode.implicit(), mode.resume(), proxy::upstreamSetups, null);
        }

        double spoolFsyncs() {
            return spooling == null ? Double.NaN : spooling.spoolFsyncs();
        }

        long relayCpuNanos() {
            return relayCpu.getAsLong();
        }
    }

    /** The proxy's second listener in TLS-sender mode, with the senders' certificate. */
    private static final String TLS_LISTENER = "tls";

    /** How TLS senders connect: the version they pin, implicit TLS or STARTTLS, resuming or a full handshake each. */
    record SenderMode(String protocol, boolean implicit, boolean resume) {

        String section() {
            return "tls-" + (protocol.equals("TLSv1") ? "1.0" : protocol.substring("TLSv".length()))
                    + (implicit ? "-implicit" : "") + (resume ? "-resume" : "");
        }
    }

    /** The certificate the senders see on the proxy's and Postfix's TLS listeners: PEM files and the leaf. */
    private record SenderCertificate(Path certificate, Path key, X509Certificate leaf) {

        boolean ecdsa() {
            return leaf.getPublicKey().getAlgorithm().equals("EC");
        }
    }

    /**
     * A proxy under test. With {@code bench.proxyProcess=true} (what the scripts use) it is a JVM of
     * its own, so that its CPU (GC and JIT included) and its compiled code are its own, as in
     * production; otherwise it runs in this JVM (the CI smoke) and its CPU is that of its threads.
     */
    private interface Proxy extends AutoCloseable {
        default InetSocketAddress listener() {
            return listener("bench");
        }

        InetSocketAddress listener(String name);

        long cpuNanos();

        /** Upstream sessions set up so far, every outcome ({@code smtp_proxy_upstream_sessions_total}); NaN if unknown. */
        double upstreamSetups();

        /** Messages in its spool now ({@code smtp_proxy_spool_messages}); NaN if unknown or none. */
        default double spoolDepth() {
            return Double.NaN;
        }

        /** Fsyncs its spool made so far ({@code smtp_proxy_spool_fsyncs_total}); NaN if unknown or none. */
        default double spoolFsyncs() {
            return Double.NaN;
        }

        @Override
        void close() throws Exception;
    }

    private record InProcessProxy(ProxyServer server) implements Proxy {
        public InetSocketAddress listener(String name) {
            return server.listenerAddresses().get(name);
        }

        public long cpuNanos() {
            return CpuMeter.threadsNanos(PROXY_THREADS);
        }

        public double upstreamSetups() {
            return Double.NaN;
        }

        public void close() {
            server.close();
        }
    }

    private record ChildProxy(ProxyProcess process) implements Proxy {
        public InetSocketAddress listener(String name) {
            return new InetSocketAddress("127.0.0.1", process.listenerPort(name));
        }

        public long cpuNanos() {
            return CpuMeter.processTreeNanos(process.pid());
        }

        public double upstreamSetups() {
            return metric("smtp_proxy_upstream_sessions_total");
        }

        public double spoolDepth() {
            return metric("smtp_proxy_spool_messages");
        }

        public double spoolFsyncs() {
            return metric("smtp_proxy_spool_fsyncs_total");
        }

        private double metric(String name) {
            try {
                return ProxyProcess.metricSum(process.metrics(), name, "");
            } catch (IOException e) {
                return Double.NaN;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Double.NaN;
            }
        }

        public void close() {
            process.close();
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
        String csv = System.getProperty("bench.csv");
        if (csv != null) {
            writeCsv(rows, Path.of(csv));
        }
        if (rows.stream().anyMatch(r -> r.failed() > 0)) {
            System.exit(1);
        }
    }

    /** Runs everything and returns one median row per (section, path, sessions, size); throws on any loss. */
    public static List<Row> run(int sessions, int messages, int rounds, List<Integer> sizes, PrintStream out) throws Exception {
        Path dir = Files.createTempDirectory("side-by-side");
        TestPki pki = TestPki.create("bench CA", KeyType.EC);
        TestPki.Identity sinkIdentity = pki.issue("localhost", "localhost", "127.0.0.1");
        pki.writeCaPem(dir.resolve("ca.pem"));
        long postfixPid = Long.getLong("bench.postfixPid", -1);
        List<SenderMode> senderModes = senderModes();
        SenderCertificate senderCertificate = senderModes.isEmpty() ? null : senderCertificate(dir);
        try (FakeUpstream sink = FakeUpstream.builder().identity(sinkIdentity).maxStoredBytes(0).sha256(false).threads(Integer.getInteger("bench.sinkThreads", Runtime.getRuntime().availableProcessors()))
                .bind("127.0.0.1", Integer.getInteger("bench.sinkPort", 0)).build().start();
             Proxy proxy = startProxy(dir, "proxy", sink.port(), sessions, "auto", null, senderCertificate, implicitTls());
             Proxy baseline = baselineJar() == null ? null
                     : startProxy(dir, "baseline", sink.port(), sessions, "auto", null, senderCertificate, implicitTls(),
                             ProxyProcess.Launcher.jar(baselineJar()));
             Proxy spool = spoolParent() == null ? null : startSpoolingProxy(dir, "spool", sink.port(), null);
             Proxy spoolBaseline = spoolParent() == null || baselineJar() == null ? null
                     : startSpoolingProxy(dir, "spool-base", sink.port(), ProxyProcess.Launcher.jar(baselineJar()))) {
            Bench bench = new Bench(sink);
            X509Certificate ca = pki.caCertificate();
            List<Target> targets = new ArrayList<>(List.of(
                    new Target("direct", new InetSocketAddress("127.0.0.1", sink.port()), "TLSv1.2", ca, Relay.NONE, () -> -1),
                    Target.of("proxy", proxy, null, ca)));
            if (baseline != null) {
                targets.add(Target.of("baseline", baseline, null, ca));
            }
            if (spool != null) {
                targets.add(Target.spool("spool", spool, ca));
            }
            if (spoolBaseline != null) {
                targets.add(Target.spool("spool-base", spoolBaseline, ca));
            }
            InetSocketAddress postfix = postfixAddress();
            if (postfix != null) {
                targets.add(new Target("postfix", postfix, null, ca, Relay.POSTFIX,
                        () -> postfixPid > 0 ? CpuMeter.processTreeNanos(postfixPid) : -1));
            }
            String only = System.getProperty("bench.paths");
            if (only != null) {
                targets.removeIf(t -> !List.of(only.split(",")).contains(t.name()));
            }
            out.printf("%d sessions, %d messages per run, %d interleaved rounds, proxy %s, %d cores%n", sessions, messages,
                    rounds, proxy instanceof ChildProxy ? "in a JVM of its own" : "in this JVM", Runtime.getRuntime().availableProcessors());
            // Nothing is measured before the JIT of the generator, the sink and the proxies is done:
            // the relay path needs tens of thousands of messages to compile fully, and a proxy runs
            // for months, so its steady state is the figure that matters.
            int warmUpRounds = bench.warmUntilSteady(targets, sessions, messages, 1024, 1,
                    Integer.getInteger("bench.warmupRounds", 12));
            out.printf("warm-up: %d rounds of %d messages a path%n", warmUpRounds, messages);
            List<Row> medians = new ArrayList<>();
            for (int size : sizes) {
                int count = size >= (1 << 20) ? Math.max(sessions, messages / 10) : messages;
                // JIT, pools and buffer sizes settle on a run of each size that is not counted.
                bench.measureInterleaved(targets, "warm-up", sessions, count, 1, size, 0, 1);
                medians.addAll(bench.measureInterleaved(targets, "throughput", sessions, count, rounds, size, 0, 1));
            }
            print(medians, out);
            String sweep = System.getProperty("bench.sweep");
            if (sweep != null) {
                List<Row> swept = new ArrayList<>();
                for (String n : sweep.split(",")) {
                    int s = Integer.parseInt(n.trim());
                    swept.addAll(bench.measureInterleaved(targets, "sweep", s, Math.min(messages, Math.max(200, s * 40)), rounds,
                            1024, 0, 1));
                }
                print(swept, out);
                medians.addAll(swept);
            }
            String rate = System.getProperty("bench.rate");
            if (rate != null) {
                // Ten senders, several messages a connection, at a rate far below what any path can carry.
                double perSecond = Double.parseDouble(rate);
                List<Target> latencyTargets = targets.stream().filter(t -> t.relay() != Relay.POSTFIX).toList();
                List<Row> paced = bench.measureInterleaved(latencyTargets, "paced", 10, (int) (perSecond * 10), rounds, 1024,
                        perSecond, 20);
                print(paced, out);
                medians.addAll(paced);
            }
            if (!senderModes.isEmpty()) {
                Map<String, Proxy> proxies = new LinkedHashMap<>();
                proxies.put("proxy", proxy);
                if (baseline != null) {
                    proxies.put("baseline", baseline);
                }
                medians.addAll(tlsSenders(bench, targets, proxies, senderModes, senderCertificate, ca, sessions, messages, rounds,
                        medians, out));
            }
            if (Boolean.getBoolean("bench.tls")) {
                medians.addAll(tlsProviders(dir, bench, sink.port(), sessions, messages, rounds, out));
            }
            return medians;
        }
    }

    /**
     * TLS senders, one message per connection, each version in turn: the same certificate on the
     * proxy's TLS listener and on Postfix's, straight to the sink where its TLS 1.2+ policy lets
     * them. The relay's CPU per message then holds one inbound handshake; what it costs more than
     * a plaintext sender's message (the 1 KiB throughput rows of this run) is set against what
     * {@code openssl speed} says the handshake's public-key operations cost one core here.
     */
    private static List<Row> tlsSenders(Bench bench, List<Target> plaintextTargets, Map<String, Proxy> proxies, List<SenderMode> modes,
                                        SenderCertificate certificate, X509Certificate sinkCa, int sessions, int messages,
                                        int rounds, List<Row> plaintextRows, PrintStream out) throws Exception {
        InetSocketAddress postfixTls = postfixTlsAddress();
        List<Row> rows = new ArrayList<>();
        for (SenderMode mode : modes) {
            List<Target> targets = new ArrayList<>();
            for (Target plain : plaintextTargets) {
                switch (plain.relay()) {
                    // The sink is Exchange-like: TLS 1.2+ and STARTTLS only.
                    case NONE -> {
                        if (!mode.implicit() && !mode.protocol().equals("TLSv1") && !mode.protocol().equals("TLSv1.1")) {
                            targets.add(new Target(plain.name(), plain.address(), mode.protocol(), sinkCa, Relay.NONE,
                                    plain.relayCpu(), false, mode.resume(), () -> Double.NaN, null));
                        }
                    }
                    case PROXY -> {
                        // Spooling paths have no TLS listener: TLS senders cost the same handshake there.
                        if (proxies.containsKey(plain.name())) {
                            targets.add(Target.tls(plain.name(), proxies.get(plain.name()), mode, certificate.leaf()));
                        }
                    }
                    case POSTFIX -> {
                        InetSocketAddress address = mode.implicit() ? postfixTls : plain.address();
                        if (address != null) {
                            targets.add(new Target(plain.name(), address, mode.protocol(), certificate.leaf(), Relay.POSTFIX,
                                    plain.relayCpu(), mode.implicit(), mode.resume(), () -> Double.NaN, null));
                        }
                    }
                }
            }
            // Handshake code paths (each version's, the resumed one) compile on their own: warm them too.
            int warmUps = bench.warmUntilSteady(targets, sessions, messages, 1024, 1, Integer.getInteger("bench.warmupRounds", 12));
            out.printf("%s warm-up: %d rounds%n", mode.section(), warmUps);
            rows.addAll(bench.measureInterleaved(targets, mode.section(), sessions, messages, rounds, 1024, 0, 1));
        }
        OpensslSpeed.Floor floor = OpensslSpeed.floor();
        double floorMs = certificate.ecdsa() ? floor.ecdsaHandshakeMs() : floor.rsaHandshakeMs();
        out.printf("%n== TLS senders, 1 KiB, one message per connection, %s certificate%n", certificate.ecdsa() ? "ECDSA P-256" : "RSA-2048");
        out.printf("%-16s %-8s %9s %12s %9s %10s %10s %9s %9s %10s%n", "section", "path", "msg/s", "handshakes/s", "resumed",
                "relay ms", "total ms", "p99 ms", "upstream", "extra ms");
        for (Row r : rows) {
            Row plain = plaintextRows.stream().filter(p -> p.section().equals("throughput") && p.label().equals(r.label())
                    && p.size() == 1024 && p.sessions() == r.sessions()).findFirst().orElse(null);
            double extra = plain == null ? Double.NaN : r.relayCpuMs() - plain.relayCpuMs();
            out.printf("%-16s %-8s %9.1f %12.1f %8.0f%% %10.3f %10.3f %9.2f %9.3f %10.3f%n", r.section(), r.label(),
                    r.messagesPerSecond(), r.handshakesPerSecond(), 100 * r.resumedShare(), r.relayCpuMs(), r.machineCpuMs(),
                    r.p99(), r.upstreamSetupsPerMessage(), extra);
        }
        out.println("(relay ms: the relay's whole process CPU per message; extra ms: that minus the same path's plaintext 1 KiB"
                + " message of this run, i.e. the inbound handshake and TLS records; upstream: new upstream sessions per message)");
        out.printf("openssl speed, one core: RSA-2048 %.0f signs/s, ECDSA P-256 %.0f signs/s, X25519 %.0f/s, ECDH P-256 %.0f/s;"
                        + " floor of a full %s handshake (one signature + one X25519): %.3f ms%n", floor.rsa2048Signs(),
                floor.ecdsaP256Signs(), floor.x25519(), floor.ecdhP256(), certificate.ecdsa() ? "ECDSA" : "RSA", floorMs);
        for (SenderMode mode : modes) {
            Row proxy = find(rows, mode.section(), "proxy");
            Row postfix = find(rows, mode.section(), "postfix");
            Row plainProxy = find(plaintextRows, "throughput", "proxy", 1024);
            if (proxy != null && plainProxy != null) {
                double extra = proxy.relayCpuMs() - plainProxy.relayCpuMs();
                out.printf("%s: proxy CPU per message %.3f ms, per handshake (extra over plaintext) %.3f ms = %.2f x the floor",
                        mode.section(), proxy.relayCpuMs(), extra, extra / floorMs);
                if (postfix != null) {
                    out.printf("; proxy/postfix msg/s %.2f, Postfix CPU per message %.2f x the proxy's", proxy.messagesPerSecond()
                            / postfix.messagesPerSecond(), postfix.relayCpuMs() / proxy.relayCpuMs());
                }
                out.println();
            }
        }
        return rows;
    }

    private static Row find(List<Row> rows, String section, String label) {
        return rows.stream().filter(r -> r.section().equals(section) && r.label().equals(label)).findFirst().orElse(null);
    }

    private static Row find(List<Row> rows, String section, String label, int size) {
        return rows.stream().filter(r -> r.section().equals(section) && r.label().equals(label) && r.size() == size)
                .findFirst().orElse(null);
    }

    /** {@code bench.senderTls=TLSv1,TLSv1.2,TLSv1.3}: one full-handshake mode each, and with {@code bench.resume} a resuming one. */
    static List<SenderMode> senderModes() {
        String versions = System.getProperty("bench.senderTls", "");
        List<SenderMode> modes = new ArrayList<>();
        for (String version : versions.split(",")) {
            if (version.isBlank()) {
                continue;
            }
            String protocol = switch (version.trim()) {
                case "1.0", "1", "TLSv1", "TLSv1.0" -> "TLSv1";
                case "1.1", "TLSv1.1" -> "TLSv1.1";
                case "1.2", "TLSv1.2" -> "TLSv1.2";
                case "1.3", "TLSv1.3" -> "TLSv1.3";
                default -> throw new IllegalArgumentException("bench.senderTls: unknown TLS version " + version
                        + " (expected 1.0, 1.1, 1.2 or 1.3)");
            };
            modes.add(new SenderMode(protocol, implicitTls(), false));
            if (Boolean.getBoolean("bench.resume")) {
                modes.add(new SenderMode(protocol, implicitTls(), true));
            }
        }
        return modes;
    }

    private static boolean implicitTls() {
        return Boolean.getBoolean("bench.implicitTls");
    }

    /**
     * The senders' certificate: {@code bench.senderCert} and {@code bench.senderKey} (PEM, RSA or
     * ECDSA; the script makes them and gives the same files to Postfix), or else an RSA-2048 one
     * made here ({@code bench.senderKeyType=ec} for ECDSA P-256).
     */
    private static SenderCertificate senderCertificate(Path dir) throws Exception {
        String cert = System.getProperty("bench.senderCert");
        String key = System.getProperty("bench.senderKey");
        if (cert != null && key != null) {
            try (var in = Files.newInputStream(Path.of(cert))) {
                X509Certificate leaf = (X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                        .generateCertificate(in);
                return new SenderCertificate(Path.of(cert).toAbsolutePath(), Path.of(key).toAbsolutePath(), leaf);
            }
        }
        KeyType type = "ec".equalsIgnoreCase(System.getProperty("bench.senderKeyType")) ? KeyType.EC : KeyType.RSA;
        TestPki.Identity identity = TestPki.selfSigned("proxy.bench.invalid", type, "localhost", "127.0.0.1");
        TestPki.PemFiles files = identity.writePem(dir, "sender-facing", KeyFormat.PKCS8);
        return new SenderCertificate(files.certificate(), files.key(), identity.certificate());
    }

    /** {@code bench.postfixSmtps=HOST:PORT}: Postfix's implicit-TLS listener (the script's smtps service). */
    private static InetSocketAddress postfixTlsAddress() {
        return address(System.getProperty("bench.postfixSmtps"));
    }

    /**
     * BoringSSL against the JDK, each in a proxy of its own with an RSA-2048 STARTTLS listener:
     * full inbound handshakes (TLS 1.0 and 1.2 senders that connect, STARTTLS and quit), then
     * 1 MiB messages relayed over each provider's outbound TLS. Next to them, what
     * {@code openssl speed} says one core signs with RSA-2048: the ceiling of a full RSA handshake.
     */
    private static List<Row> tlsProviders(Path dir, Bench bench, int sinkPort, int sessions, int messages, int rounds,
                                          PrintStream out) throws Exception {
        TestPki rsa = TestPki.create("bench RSA CA", KeyType.RSA);
        rsa.issue("proxy.bench.invalid", "localhost", "127.0.0.1").writePem(dir, "listener", KeyFormat.PKCS8);
        List<Row> rows = new ArrayList<>();
        try (Proxy boring = startProxy(dir, "boringssl", sinkPort, sessions, "openssl", "listener");
             Proxy jdk = startProxy(dir, "jdk", sinkPort, sessions, "jdk", "listener")) {
            for (String protocol : List.of("TLSv1", "TLSv1.2")) {
                List<Target> targets = List.of(
                        Target.of("boringssl", boring, protocol, rsa.caCertificate()),
                        Target.of("jdk", jdk, protocol, rsa.caCertificate()));
                // Fresh JVMs: 500 handshakes left the JIT compiling through the measured rounds.
                int warmUps = bench.warmUntilSteady(targets, sessions, Math.max(500, messages / 2), 0, 0, 8);
                out.printf("%s handshake warm-up: %d rounds%n", protocol, warmUps);
                rows.addAll(bench.measureInterleaved(targets, "handshake-" + protocol, sessions, messages, rounds, 0, 0, 0));
            }
            List<Target> relays = List.of(
                    Target.of("boringssl", boring, null, null),
                    Target.of("jdk", jdk, null, null));
            bench.measureInterleaved(relays, "warm-up", sessions, Math.max(sessions, messages / 10), 1, 1 << 20, 0, 1);
            rows.addAll(bench.measureInterleaved(relays, "relay-1MiB", sessions, Math.max(sessions, messages / 10), rounds,
                    1 << 20, 0, 1));
        }
        out.printf("%-12s %-9s %12s %14s %14s%n", "section", "provider", "per second", "relay CPU ms", "per CPU-second");
        for (Row r : rows) {
            out.printf("%-12s %-9s %12.1f %14.3f %14.0f%n", r.section(), r.label(),
                    r.size() == 0 ? r.messagesPerSecond() : r.mebibytesPerSecond(), r.relayCpuMs(), 1000 / r.relayCpuMs());
        }
        double sign = OpensslSpeed.rsa2048SignsPerSecond();
        double generalSign = OpensslSpeed.rsa2048SignsPerSecondWithoutIfma();
        out.printf("openssl speed rsa2048: %.0f signs/s on one core (%.0f with AVX-512 IFMA hidden, the kind of code BoringSSL"
                        + " runs); BoringSSL full handshakes per CPU-second / signs/s: TLSv1 %.2f (%.2f), TLSv1.2 %.2f (%.2f)%n",
                sign, generalSign, 1000 / rows.get(0).relayCpuMs() / sign, 1000 / rows.get(0).relayCpuMs() / generalSign,
                1000 / rows.get(2).relayCpuMs() / sign, 1000 / rows.get(2).relayCpuMs() / generalSign);
        return rows;
    }

    /** The load's sink, where every path delivers. */
    private record Bench(FakeUpstream sink) {

        /**
         * Interleaved warm-up rounds of the given load ({@code size} 0 and {@code perConnection} 0:
         * handshakes only) until the machine's CPU per message, summed over the paths, moved by
         * less than 5 % twice in a row, or {@code maxRounds}. Returns the rounds it took.
         */
        int warmUntilSteady(List<Target> targets, int sessions, int count, int size, int perConnection, int maxRounds)
                throws Exception {
            double previous = Double.NaN;
            int steadySteps = 0;
            for (int round = 1; round <= maxRounds; round++) {
                double cpu = measureInterleaved(targets, "warm-up", sessions, count, 1, size, 0, perConnection).stream()
                        .mapToDouble(Row::machineCpuMs).sum();
                steadySteps = Math.abs(cpu - previous) < 0.05 * previous ? steadySteps + 1 : 0;
                if (steadySteps == 2) {
                    return round;
                }
                previous = cpu;
            }
            return maxRounds;
        }

        /** {@code rounds} rounds, each path once a round, then one median row per path. */
        List<Row> measureInterleaved(List<Target> targets, String section, int sessions, int count, int rounds, int size,
                                     double rate, int perConnection) throws Exception {
            Map<String, List<Measured>> results = new LinkedHashMap<>();
            for (int round = 0; round < rounds; round++) {
                for (Target target : targets) {
                    String tag = section + "-" + target.name() + "-" + sessions + "-" + size + "-" + round;
                    results.computeIfAbsent(target.name(), p -> new ArrayList<>())
                            .add(measure(target, new LoadGenerator.Plan(target.address(), sessions, count, size, perConnection,
                                    target.senderTls(), target.trust(), Duration.ofMinutes(5), tag, rate, target.implicitTls(),
                                    target.resume())));
                }
            }
            List<Row> rows = new ArrayList<>();
            results.forEach((path, runs) -> rows.add(median(section, path, sessions, size, runs)));
            return rows;
        }

        private Measured measure(Target target, LoadGenerator.Plan plan) throws Exception {
            int before = sink.messages().size();
            long compilingBefore = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
            double upstreamBefore = target.upstreamSetups().getAsDouble();
            double fsyncsBefore = target.spoolFsyncs();
            long relayBefore = target.relayCpuNanos();
            long machineBefore = CpuMeter.machineNanos();
            long started = System.nanoTime();
            LoadGenerator.Result result = LoadGenerator.run(plan);
            int deliveries = plan.perConnection() == 0 ? 0 : result.accepted();
            sink.awaitMessages(before + deliveries, Duration.ofMinutes(5));
            long endToEnd = System.nanoTime() - started;
            long drain = target.spooling() == null ? -1 : awaitEmptySpool(target, Duration.ofMinutes(2)) - started - endToEnd;
            long relayCpu = relayBefore < 0 ? -1 : target.relayCpuNanos() - relayBefore;
            long machineCpu = CpuMeter.machineNanos() - machineBefore;
            double upstreamSetups = target.upstreamSetups().getAsDouble() - upstreamBefore;
            double fsyncs = target.spoolFsyncs() - fsyncsBefore;
            checkNoLoss(sink, before, deliveries, result);
            Measured measured = new Measured(result, endToEnd, relayCpu, machineCpu, upstreamSetups, fsyncs, drain);
            if (Boolean.getBoolean("bench.verbose")) {
                long compiling = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime()
                        - compilingBefore;
                System.out.printf("  %s: %.1f msg/s (250s %.1f/s), relay %.3f ms, machine %.3f ms per message, %d handshakes"
                                + " (%d resumed), %.3f upstream set-ups and %.2f fsyncs per message, drain %.0f ms, JIT %d ms%n",
                        plan.tag(), measured.messagesPerSecond(), measured.acceptedPerSecond(), measured.relayCpuMs(),
                        measured.machineCpuMs(), result.handshakes(), result.resumed(), measured.upstreamSetupsPerMessage(),
                        measured.fsyncsPerMessage(), measured.drainMillis(), compiling);
            }
            return measured;
        }
    }

    /**
     * Waits until the spool of a spooling path is empty: the sink's 250 comes before the spool
     * removes the message, and a spool that does not drain has lost track of something. Returns
     * the moment it was empty ({@link System#nanoTime}); throws when it is not within {@code timeout}.
     */
    private static long awaitEmptySpool(Target target, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        double depth = Double.NaN;
        while (System.nanoTime() < deadline) {
            depth = target.spooling().spoolDepth();
            if (depth == 0) {
                return System.nanoTime();
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException(target.name() + ": the spool still holds " + depth + " messages after " + timeout
                + " (every message reached the sink)");
    }

    /**
     * An earlier build to measure against ({@code bench.baseline}: its runnable jar). Both proxies
     * then run in JVMs of their own, so they are measured the same way.
     */
    private static Path baselineJar() {
        String jar = System.getProperty("bench.baseline");
        return jar == null ? null : Path.of(jar);
    }

    /**
     * Where the spooling proxies keep their spools ({@code bench.spool}: a directory, one
     * subdirectory per proxy, emptied first): on the file system of Postfix's queue, so that both
     * fsync to the same disk. Null: no spooling path.
     */
    private static Path spoolParent() {
        String parent = System.getProperty("bench.spool");
        return parent == null || parent.isBlank() ? null : Path.of(parent);
    }

    /** A proxy in a JVM of its own whose listener has {@code delivery: spool}. */
    private static Proxy startSpoolingProxy(Path dir, String name, int sinkPort, ProxyProcess.Launcher launcher)
            throws Exception {
        Path spoolDirectory = spoolParent().resolve(name);
        deleteRecursively(spoolDirectory);
        return startProxy(dir, name, sinkPort, 0, "auto", null, null, false,
                launcher == null ? ProxyProcess.Launcher.currentClassPath() : launcher, spoolDirectory);
    }

    private static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (var paths = Files.walk(root)) {
            for (Path path : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }

    /** A proxy relaying to the sink; {@code listenerPem} names PEM files in {@code dir} for a STARTTLS listener. */
    private static Proxy startProxy(Path dir, String name, int sinkPort, int sessions, String provider, String listenerPem)
            throws Exception {
        // By default in a JVM of its own, measured like Postfix: the whole process, GC and JIT
        // included, and no call site shared with the generator's and the sink's Netty code.
        boolean ownJvm = Boolean.parseBoolean(System.getProperty("bench.proxyProcess", "true")) || baselineJar() != null;
        return startProxy(dir, name, sinkPort, sessions, provider, listenerPem, null, false,
                ownJvm ? ProxyProcess.Launcher.currentClassPath() : null);
    }

    /** The same with a second listener, {@value #TLS_LISTENER}, for TLS senders when {@code senders} is not null. */
    private static Proxy startProxy(Path dir, String name, int sinkPort, int sessions, String provider, String listenerPem,
                                    SenderCertificate senders, boolean implicit) throws Exception {
        boolean ownJvm = Boolean.parseBoolean(System.getProperty("bench.proxyProcess", "true")) || baselineJar() != null;
        return startProxy(dir, name, sinkPort, sessions, provider, listenerPem, senders, implicit,
                ownJvm ? ProxyProcess.Launcher.currentClassPath() : null);
    }

    /**
     * @param senders  the certificate of a second listener for TLS senders; null: none
     * @param implicit whether that listener does implicit TLS instead of STARTTLS
     * @param launcher how to start the proxy in a JVM of its own; null: in this JVM
     */
    private static Proxy startProxy(Path dir, String name, int sinkPort, int sessions, String provider, String listenerPem,
                                    SenderCertificate senders, boolean implicit, ProxyProcess.Launcher launcher) throws Exception {
        return startProxy(dir, name, sinkPort, sessions, provider, listenerPem, senders, implicit, launcher, null);
    }

    /** @param spool the spool directory of a listener with {@code delivery: spool}; null: cut-through */
    private static Proxy startProxy(Path dir, String name, int sinkPort, int sessions, String provider, String listenerPem,
                                    SenderCertificate senders, boolean implicit, ProxyProcess.Launcher launcher, Path spool)
            throws Exception {
        List<String> lines = new ArrayList<>(List.of(
                "hostname: proxy.bench.invalid",
                "tls_provider: " + provider,
                "listeners:",
                "  - name: bench",
                "    address: 127.0.0.1:0"));
        if (spool != null) {
            lines.add("    delivery: spool");
        }
        if (listenerPem != null) {
            lines.addAll(List.of(
                    "    tls:",
                    "      mode: starttls",
                    "      certificate: " + listenerPem + ".pem",
                    "      key: " + listenerPem + ".key"));
        }
        if (senders != null) {
            lines.addAll(List.of(
                    "  - name: " + TLS_LISTENER,
                    "    address: 127.0.0.1:0",
                    "    tls:",
                    "      mode: " + (implicit ? "implicit" : "starttls"),
                    "      certificate: " + senders.certificate(),
                    "      key: " + senders.key()));
        }
        lines.addAll(List.of(
                "upstream:",
                "  host: 127.0.0.1",
                "  port: " + sinkPort,
                "  tls:",
                "    server_name: localhost",
                "    trust: ca.pem",
                "limits:",
                "  max_connections_per_client: 10000",
                "  max_message_size: 100MB",
                "metrics:",
                "  address: 127.0.0.1:0",
                ""));
        if (spool != null) {
            lines.addAll(lines.size() - 1, List.of("spool:", "  directory: " + spool));
        }
        String maxIdle = System.getProperty("bench.maxIdle");
        if (maxIdle != null) {
            // Otherwise the proxy's default pool, which must fit the load by itself.
            int at = lines.indexOf("limits:");
            lines.addAll(at, List.of("  pool:", "    max_idle: " + Integer.parseInt(maxIdle)));
        }
        Path config = dir.resolve(name + ".yaml");
        Files.writeString(config, String.join("\n", lines), StandardCharsets.UTF_8);
        if (launcher != null) {
            List<String> jvm = new ArrayList<>(List.of("-Xmx1g"));
            String extra = System.getProperty("bench.proxyJvmOptions");
            if (extra != null && name.equals(System.getProperty("bench.profilePath", "proxy"))) {
                jvm.addAll(List.of(extra.trim().split("\\s+")));
            }
            return new ChildProxy(ProxyProcess.start(launcher, jvm, config, senders == null ? 1 : 2,
                    dir.resolve(name + ".log"), Duration.ofMinutes(1)));
        }
        return new InProcessProxy(ProxyServer.start(new ConfigLoader().load(config)));
    }

    private static InetSocketAddress postfixAddress() {
        return address(System.getProperty("bench.postfix"));
    }

    /** HOST:PORT, or null. */
    private static InetSocketAddress address(String hostPort) {
        if (hostPort == null || hostPort.isBlank()) {
            return null;
        }
        int colon = hostPort.lastIndexOf(':');
        return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
    }

    /** 250s and deliveries must match one to one: no loss, no duplicate. */
    private static void checkNoLoss(FakeUpstream sink, int before, int expected, LoadGenerator.Result result) {
        List<ReceivedMessage> delivered = sink.messages().subList(before, sink.messages().size());
        Set<Long> distinct = new HashSet<>();
        delivered.forEach(m -> distinct.add(m.checksum()));
        if (delivered.size() != expected || distinct.size() != delivered.size()) {
            throw new IllegalStateException(result.tag() + ": " + expected + " accepted but " + delivered.size()
                    + " delivered (" + distinct.size() + " distinct)");
        }
        if (result.failed() > 0) {
            throw new IllegalStateException(result.tag() + ": " + result.failed() + " messages failed");
        }
    }

    private static Row median(String section, String path, int sessions, int size, List<Measured> runs) {
        int accepted = runs.stream().mapToInt(r -> r.result().accepted()).sum();
        int failed = runs.stream().mapToInt(r -> r.result().failed()).sum();
        return new Row(section, path, sessions, size, mid(runs, Measured::messagesPerSecond),
                mid(runs, Measured::mebibytesPerSecond), mid(runs, r -> r.result().percentileMillis(0.5)),
                mid(runs, r -> r.result().percentileMillis(0.99)), mid(runs, r -> r.result().percentileMillis(0.999)),
                accepted, failed, mid(runs, Measured::lagMillis),
                mid(runs, Measured::relayCpuMs), mid(runs, Measured::machineCpuMs), mid(runs, Measured::handshakesPerSecond),
                mid(runs, Measured::resumedShare), mid(runs, Measured::upstreamSetupsPerMessage),
                mid(runs, Measured::acceptedPerSecond), mid(runs, Measured::fsyncsPerMessage), mid(runs, Measured::drainMillis));
    }

    private static double mid(List<Measured> runs, ToDoubleFunction<Measured> value) {
        double[] sorted = runs.stream().mapToDouble(value).sorted().toArray();
        return sorted.length == 0 ? Double.NaN : sorted[sorted.length / 2];
    }

    private static void print(List<Row> rows, PrintStream out) {
        boolean spool = rows.stream().anyMatch(r -> !Double.isNaN(r.fsyncsPerMessage()));
        out.printf("%-10s %-10s %8s %8s %9s %9s %8s %8s %8s %7s %8s %9s %9s%s%n", "section", "path", "sessions", "size", "msg/s",
                "MiB/s", "p50 ms", "p99 ms", "p999 ms", "250s", "lag ms", "relay ms", "total ms",
                spool ? String.format("%9s %9s %8s", "250s/s", "fsync/msg", "drain ms") : "");
        for (Row r : rows) {
            out.printf("%-10s %-10s %8d %8d %9.1f %9.2f %8.2f %8.2f %8.2f %7d %8.0f %9.3f %9.3f%s%n", r.section(), r.label(),
                    r.sessions(), r.size(), r.messagesPerSecond(), r.mebibytesPerSecond(), r.p50(), r.p99(), r.p999(),
                    r.accepted(), r.lagMillis(), r.relayCpuMs(), r.machineCpuMs(),
                    spool ? String.format(java.util.Locale.ROOT, "%9.1f %9.2f %8.0f", r.acceptedPerSecond(), r.fsyncsPerMessage(),
                            r.drainMillis()) : "");
        }
        for (Row proxy : rows) {
            List<String> against = COMPARED.getOrDefault(proxy.label(), List.of());
            for (Row other : rows) {
                if (other.size() == proxy.size() && other.sessions() == proxy.sessions() && against.contains(other.label())) {
                    out.printf("%s, %d sessions, size %d: %s/%s msg/s %.2f (250s/s %.2f), p50 %+.2f ms, p99 %+.2f ms,"
                                    + " relay CPU per message %.2f, machine CPU per message %.2f%n",
                            proxy.section(), proxy.sessions(), proxy.size(), proxy.label(), other.label(),
                            proxy.messagesPerSecond() / other.messagesPerSecond(),
                            proxy.acceptedPerSecond() / other.acceptedPerSecond(), proxy.p50() - other.p50(),
                            proxy.p99() - other.p99(), proxy.relayCpuMs() / other.relayCpuMs(),
                            proxy.machineCpuMs() / other.machineCpuMs());
                }
            }
        }
        out.println("(msg/s: end to end, until the sink had every message; 250s/s: as the senders saw it, until the last 250;"
                + " relay ms: the relay's own CPU per message, the whole process; total ms: the whole machine's, sender and"
                + " sink included" + (spool ? "; fsync/msg: the spool's fsyncs per message; drain ms: from the sink having"
                + " every message until the spool was empty" : "") + ")");
        out.println("loss check: every 250 matched exactly one delivery, in every run" + (spool ? ", and every spool drained to empty" : ""));
    }

    /** The ratios printed: this checkout's cut-through and spool paths against the others in the run. */
    private static final Map<String, List<String>> COMPARED = Map.of(
            "proxy", List.of("direct", "baseline", "postfix"),
            "spool", List.of("postfix", "spool-base", "proxy"));

    private static void writeCsv(List<Row> rows, Path file) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("section,path,sessions,size,msg_per_s,mib_per_s,p50_ms,p99_ms,p999_ms,accepted,failed,lag_ms,relay_cpu_ms,total_cpu_ms");
        for (Row r : rows) {
            lines.add(String.join(",", r.section(), r.label(), Integer.toString(r.sessions()), Integer.toString(r.size()),
                    Arrays.stream(new double[] {r.messagesPerSecond(), r.mebibytesPerSecond(), r.p50(), r.p99(), r.p999()})
                            .mapToObj(d -> String.format(java.util.Locale.ROOT, "%.3f", d))
                            .reduce((a, b) -> a + "," + b).orElseThrow(),
                    Integer.toString(r.accepted()), Integer.toString(r.failed()),
                    String.format(java.util.Locale.ROOT, "%.1f,%.4f,%.4f", r.lagMillis(), r.relayCpuMs(), r.machineCpuMs())));
        }
        Files.write(file, lines, StandardCharsets.UTF_8);
    }
}
