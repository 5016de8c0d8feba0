package org.smtptlsproxy.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.FaultPlan;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.smtptlsproxy.testkit.TestPki;

/**
 * The relay's promise under fire: many senders (plaintext, TLS 1.0, TLS 1.2, several messages a
 * session, 1 KiB to 5 MiB) relay through the real proxy to an upstream that refuses connections,
 * drops in mid-DATA or after the end of data, stalls past {@code command_timeout}, answers 4xx and
 * 5xx at every stage, and is restarted now and then. Every message carries a unique tag (its
 * sender address); afterwards each client outcome is checked against the upstream's deliveries:
 *
 * <ul>
 *   <li>a client 250 has exactly one delivery, which the upstream acknowledged with its own 250;</li>
 *   <li>a delivery without a client 250 happened only where the client saw a failure after it had
 *       sent the end of data: the duplicate window every SMTP relay has, counted, not an error;</li>
 *   <li>every refusal the upstream made reaches the client with the upstream's own code and text;</li>
 *   <li>the client always gets a reply: the proxy never just drops a sender.</li>
 * </ul>
 *
 * <p>Run by hand: {@code scripts/fault-injection.sh [MESSAGES] [SENDERS]}; CI runs a short version
 * (FaultInjectionLoadTest).
 */
public final class FaultInjectionLoad {

    /** What to run. Sizes: most messages small, some large, a few up to {@code maxSize}. */
    /**
     * @param proxyRestartEvery null: the proxy runs in this JVM and is never restarted; else it runs
     *                          in a JVM of its own, stopped this often, by SIGTERM (drain) and
     *                          SIGKILL in turn, and started again on the same port (zero: never)
     */
    public record Settings(int messages, int senders, int maxMessagesPerSession, int maxSize, long seed,
                           double connectionFaultOdds, double transactionFaultOdds, Duration upstreamRestartEvery,
                           Duration commandTimeout, Duration proxyRestartEvery) {

        public static Settings of(int messages, int senders) {
            return new Settings(messages, senders, 5, 5 << 20, 20261206L, 0.05, 0.15, Duration.ofSeconds(4),
                    Duration.ofSeconds(2), null);
        }

        public Settings withProxyRestarts(Duration every) {
            return new Settings(messages, senders, maxMessagesPerSession, maxSize, seed, connectionFaultOdds,
                    transactionFaultOdds, upstreamRestartEvery, commandTimeout, every);
        }
    }

    /** The figures of one run; {@code violations} lists every broken invariant, one a line. */
    public record Report(int messages, Map<Fault, Integer> transactionFaults, int connectionFaults, int restarts,
                         int proxyTerms, int proxyKills, int clientAccepted, int clientRefused, int clientCutOff,
                         int deliveries, int lost, int duplicates, List<String> violations, Duration elapsed) {

        public void print(PrintStream out) {
            out.printf("messages sent           %,d%n", messages);
            out.printf("client 250              %,d%n", clientAccepted);
            out.printf("client 4xx/5xx          %,d%n", clientRefused);
            out.printf("client cut off by a proxy stop %,d%n", clientCutOff);
            out.printf("upstream deliveries     %,d%n", deliveries);
            out.printf("lost (250, no delivery) %,d%n", lost);
            out.printf("duplicates (delivered, client saw a failure after its end of data) %,d%n", duplicates);
            out.printf("upstream restarts       %,d%n", restarts);
            out.printf("proxy stops             %,d SIGTERM (drain), %,d SIGKILL%n", proxyTerms, proxyKills);
            out.printf("connection faults       %,d%n", connectionFaults);
            transactionFaults.forEach((fault, count) -> out.printf("fault %-22s %,d%n", fault, count));
            out.printf("violations              %,d%n", violations.size());
            violations.stream().limit(20).forEach(v -> out.println("  " + v));
            out.printf("elapsed                 %.1f s%n", elapsed.toMillis() / 1000.0);
        }
    }

    /** How one message ended for its sender. */
    private record Attempt(String tag, String stage, int code, String text, boolean endOfDataSent) {
    }

    private enum Mode { PLAIN, TLS10, TLS12 }

    private final Settings settings;
    private final Path dir;
    private final TestPki pki = TestPki.create("fault-injection CA", KeyType.EC);
    private final ConcurrentLinkedQueue<Attempt> attempts = new ConcurrentLinkedQueue<>();
    private final List<ReceivedMessage> deliveries = new ArrayList<>();
    private final Map<String, Fault> injected = new HashMap<>();
    private final AtomicInteger connectionFaults = new AtomicInteger();
    private final AtomicInteger nextMessage = new AtomicInteger();
    /** Soak runs send until then (System.nanoTime()); Long.MAX_VALUE: until the message count. */
    private volatile long sendUntilNanos = Long.MAX_VALUE;
    private final List<SoakSample> samples = new java.util.concurrent.CopyOnWriteArrayList<>();
    private FaultPlan plan;
    private FakeUpstream upstream;
    private int upstreamPort;
    private int restarts;
    private volatile ProxyServer inProcessProxy;
    private volatile ProxyProcess childProxy;
    private int proxyPort;
    private int proxyTerms;
    private int proxyKills;

    private FaultInjectionLoad(Settings settings, Path dir) {
        this.settings = settings;
        this.dir = dir;
    }

    /** One look at the proxy during a soak: after a full GC, as the process sees itself. */
    public record SoakSample(long elapsedSeconds, long messages, long heapAfterGc, long rss, long openFiles,
                             long nettyDirect, long pendingTasks) {
    }

    /** What a soak saw: the load's report and the proxy's resources over time. */
    public record SoakReport(Report load, List<SoakSample> samples) {
    }

    /**
     * Sends the mix of {@code settings} (the proxy in a JVM of its own, never restarted) for
     * {@code duration}, sampling the proxy every {@code every}.
     */
    public static SoakReport soak(Settings settings, Duration duration, Duration every, PrintStream progress)
            throws Exception {
        FaultInjectionLoad load = new FaultInjectionLoad(settings.withProxyRestarts(Duration.ZERO),
                Files.createTempDirectory("soak"));
        load.sendUntilNanos = System.nanoTime() + duration.toNanos();
        var sampler = Executors.newSingleThreadScheduledExecutor();
        long started = System.nanoTime();
        sampler.scheduleWithFixedDelay(() -> load.sample(started, progress), every.toMillis(), every.toMillis(),
                TimeUnit.MILLISECONDS);
        try {
            Report report = load.run(null);
            return new SoakReport(report, List.copyOf(load.samples));
        } finally {
            sampler.shutdownNow();
        }
    }

    private void sample(long startedNanos, PrintStream progress) {
        ProxyProcess proxy = childProxy;
        try {
            ProxyProcess.Sample s = proxy.sample(false, false);
            String metrics = proxy.metrics();
            long openFiles;
            try (var fds = Files.list(Path.of("/proc", Long.toString(proxy.pid()), "fd"))) {
                openFiles = fds.count();
            }
            double pending = ProxyProcess.metricSum(metrics, "netty_eventexecutor_tasks_pending", "");
            SoakSample sample = new SoakSample((System.nanoTime() - startedNanos) / 1_000_000_000L, attempts.size(),
                    s.heapUsed(), s.rss(), openFiles, s.nettyDirect(), Double.isNaN(pending) ? -1 : (long) pending);
            samples.add(sample);
            if (progress != null) {
                progress.println(sample);
            }
        } catch (Exception e) {
            if (progress != null) {
                progress.println("sample failed: " + e);
            }
        }
    }

    public static Report run(Settings settings, PrintStream progress) throws Exception {
        Path dir = Files.createTempDirectory("fault-injection");
        return new FaultInjectionLoad(settings, dir).run(progress);
    }

    private Report run(PrintStream progress) throws Exception {
        long started = System.nanoTime();
        FaultPlan random = FaultPlan.random(settings.seed(), settings.connectionFaultOdds(), settings.transactionFaultOdds());
        plan = new FaultPlan() {
            @Override
            public Fault forConnection() {
                Fault fault = random.forConnection();
                if (fault != null) {
                    connectionFaults.incrementAndGet();
                }
                return fault;
            }

            @Override
            public Fault forTransaction(String sender) {
                return random.forTransaction(sender);
            }
        };
        startUpstream(0);
        startProxy();
        ExecutorService senders = Executors.newFixedThreadPool(settings.senders());
        var restarter = Executors.newScheduledThreadPool(2);
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int i = 0; i < settings.senders(); i++) {
                Mode mode = Mode.values()[i % Mode.values().length];
                long seed = settings.seed() * 31 + i;
                running.add(senders.submit(() -> {
                    send(mode, new SplittableRandom(seed));
                    return null;
                }));
            }
            long every = settings.upstreamRestartEvery().toMillis();
            restarter.scheduleWithFixedDelay(this::restartUpstream, every, every, TimeUnit.MILLISECONDS);
            if (settings.proxyRestartEvery() != null && !settings.proxyRestartEvery().isZero()) {
                long proxyEvery = settings.proxyRestartEvery().toMillis();
                restarter.scheduleWithFixedDelay(this::restartProxy, proxyEvery, proxyEvery, TimeUnit.MILLISECONDS);
            }
            int done = 0;
            for (Future<?> sender : running) {
                sender.get(30, TimeUnit.MINUTES);
                if (progress != null && ++done % Math.max(1, settings.senders() / 4) == 0) {
                    progress.printf("%d of %d senders done, %,d messages%n", done, settings.senders(), attempts.size());
                }
            }
        } finally {
            restarter.shutdownNow();
            restarter.awaitTermination(60, TimeUnit.SECONDS);
            senders.shutdownNow();
            stopProxy();
            stopUpstream();
        }
        return verify(Duration.ofNanos(System.nanoTime() - started));
    }

    // ---- the upstream, restarted now and then ---------------------------------------------

    private synchronized void startUpstream(int port) throws Exception {
        upstream = FakeUpstream.builder()
                .identity(pki.issue("localhost", "localhost", "127.0.0.1"))
                .faultPlan(plan)
                .recordCommands(false)
                .maxStoredBytes(0)
                .sha256(false)
                .threads(2)
                .bind("127.0.0.1", port)
                .build()
                .start();
        upstreamPort = upstream.port();
    }

    /** Closes the running upstream, if any, and keeps what it received. */
    private synchronized void stopUpstream() {
        if (upstream == null) {
            return;
        }
        upstream.close();
        deliveries.addAll(upstream.messages());
        injected.putAll(upstream.injectedFaults());
        upstream = null;
    }

    private void restartUpstream() {
        try {
            synchronized (this) {
                stopUpstream();
                restarts++;
            }
            Thread.sleep(200); // the upstream is away: connections are refused meanwhile
            startUpstream(upstreamPort);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            throw new IllegalStateException("could not restart the upstream on port " + upstreamPort, e);
        }
    }

    private void startProxy() throws Exception {
        Path config = dir.resolve("config.yaml");
        if (!Files.exists(config)) {
            writeProxyConfig(config);
        }
        if (settings.proxyRestartEvery() == null) {
            inProcessProxy = ProxyServer.start(new ConfigLoader().load(config));
            proxyPort = inProcessProxy.listenerAddresses().get("relay").getPort();
        } else {
            childProxy = ProxyProcess.start(ProxyProcess.Launcher.currentClassPath(), List.of("-Xmx512m"), config, 1,
                    dir.resolve("proxy-" + (proxyTerms + proxyKills) + ".log"), Duration.ofMinutes(1));
        }
    }

    private void stopProxy() throws InterruptedException {
        if (inProcessProxy != null) {
            inProcessProxy.close();
        }
        if (childProxy != null) {
            childProxy.stop(Duration.ofSeconds(30));
        }
    }

    /** SIGTERM and SIGKILL in turn, with senders in mid-transaction; then the proxy comes back. */
    private void restartProxy() {
        try {
            if ((proxyTerms + proxyKills) % 2 == 0) {
                proxyTerms++;
                childProxy.stop(Duration.ofSeconds(30)); // drains within drain_timeout, exits 0
            } else {
                proxyKills++;
                childProxy.kill();
            }
            startProxy();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            // A scheduled task's exception would only cancel the schedule, unseen: say it.
            System.err.println("could not restart the proxy: " + e);
            throw new IllegalStateException("could not restart the proxy", e);
        }
    }

    private void writeProxyConfig(Path config) throws Exception {
        TestPki.PemFiles pem = pki.issue("localhost", "localhost", "127.0.0.1").writePem(dir, "proxy", KeyFormat.PKCS8);
        pki.writeCaPem(dir.resolve("ca.pem"));
        if (settings.proxyRestartEvery() != null) {
            try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
                proxyPort = free.getLocalPort(); // fixed, so that senders find the proxy again after a restart
            }
        }
        String timeout = settings.commandTimeout().toMillis() + "ms";
        List<String> yaml = List.of(
                "hostname: proxy.faults.invalid",
                "listeners:",
                "  - name: relay",
                "    address: 127.0.0.1:" + proxyPort,
                "    tls:",
                "      mode: starttls",
                "      certificate: " + dir.resolve(pem.certificate().getFileName()),
                "      key: " + dir.resolve(pem.key().getFileName()),
                "upstream:",
                "  host: 127.0.0.1",
                "  port: " + upstreamPort,
                "  tls:",
                "    server_name: localhost",
                "    trust: " + dir.resolve("ca.pem"),
                "  connect_timeout: " + timeout,
                "  command_timeout: " + timeout,
                "  pool:",
                "    max_idle: 16",
                "limits:",
                "  max_connections_per_client: 100000",
                "  max_message_size: " + (2 * settings.maxSize() / 1024) + "KB",
                "  idle_timeout: 60s",
                "drain_timeout: 5s",
                "metrics:",
                "  address: 127.0.0.1:0",
                "");
        Files.writeString(config, String.join("\n", yaml), StandardCharsets.UTF_8);
    }

    // ---- the senders ----------------------------------------------------------------------

    private void send(Mode mode, SplittableRandom random) throws InterruptedException {
        while (nextMessage.get() < settings.messages() && System.nanoTime() < sendUntilNanos) {
            try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(60))) {
                try {
                    client.connect("127.0.0.1", proxyPort);
                } catch (IOException refused) {
                    Thread.sleep(100); // the proxy is being restarted: as an MTA, try again later
                    continue;
                }
                client.ehlo("sender.faults.invalid");
                if (mode != Mode.PLAIN) {
                    client.startTls(SmtpTestClient.TlsOptions.trusting(pki.caCertificate(),
                            mode == Mode.TLS10 ? "TLSv1" : "TLSv1.2"));
                    client.ehlo("sender.faults.invalid");
                }
                int inSession = 1 + random.nextInt(settings.maxMessagesPerSession());
                for (int i = 0; i < inSession; i++) {
                    int index = nextMessage.getAndIncrement();
                    if (index >= settings.messages() || System.nanoTime() >= sendUntilNanos) {
                        break;
                    }
                    sendOne(client, "m" + index + "@load.test", size(random));
                }
                client.quit();
            } catch (IOException e) {
                // Recorded with the attempt that saw it; a new session carries on.
            }
        }
    }

    private int size(SplittableRandom random) {
        int roll = random.nextInt(100);
        if (roll < 70) {
            return 1024 + random.nextInt(9 * 1024);
        }
        if (roll < 95) {
            return 10 * 1024 + random.nextInt(500 * 1024);
        }
        return (1 << 20) + random.nextInt(Math.max(1, settings.maxSize() - (1 << 20)));
    }

    private void sendOne(SmtpTestClient client, String tag, int size) throws IOException {
        String stage = "MAIL";
        boolean endOfDataSent = false;
        try {
            SmtpTestClient.Reply reply = client.command("MAIL FROM:<" + tag + ">");
            if (reply.code() == 250) {
                stage = "RCPT";
                reply = client.command("RCPT TO:<rcpt@contoso.example>");
            }
            if (reply.code() == 250) {
                stage = "DATA";
                reply = client.command("DATA");
            }
            if (reply.code() == 354) {
                stage = "END";
                writeMessage(client, tag, size);
                endOfDataSent = true;
                reply = client.readReply();
            }
            attempts.add(new Attempt(tag, stage, reply.code(), reply.text(), endOfDataSent));
            if (!stage.equals("END")) {
                client.command("RSET"); // a failure on a later RSET is the next message's to see
            }
        } catch (IOException e) {
            if (attempts.stream().noneMatch(a -> a.tag().equals(tag))) {
                attempts.add(new Attempt(tag, stage, 0, "connection lost: " + e.getMessage(), endOfDataSent));
            }
            throw e;
        }
    }

    /** Lines that never start with '.', so no dot-stuffing is needed; streamed, never held whole. */
    private static void writeMessage(SmtpTestClient client, String tag, int size) throws IOException {
        byte[] header = ("Message-ID: <" + tag + ">\r\nSubject: fault injection\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        client.writeRaw(header);
        byte[] line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n"
                .getBytes(StandardCharsets.US_ASCII);
        byte[] chunk = new byte[line.length * 512];
        for (int i = 0; i < 512; i++) {
            System.arraycopy(line, 0, chunk, i * line.length, line.length);
        }
        int left = Math.max(0, size - header.length);
        while (left > 0) {
            int lines = Math.min(512, Math.max(1, left / line.length));
            client.writeRaw(java.util.Arrays.copyOf(chunk, lines * line.length));
            left -= lines * line.length;
        }
        client.writeRaw(".\r\n".getBytes(StandardCharsets.US_ASCII));
    }

    // ---- the verdict ----------------------------------------------------------------------

    private Report verify(Duration elapsed) {
        Map<String, Integer> delivered = new HashMap<>();
        Map<String, Integer> acknowledged = new HashMap<>();
        for (ReceivedMessage m : deliveries) {
            delivered.merge(m.from(), 1, Integer::sum);
            if (m.acknowledged()) {
                acknowledged.merge(m.from(), 1, Integer::sum);
            }
        }
        List<String> violations = new ArrayList<>();
        int accepted = 0;
        int refused = 0;
        int lost = 0;
        int duplicates = 0;
        int cutOff = 0;
        for (Attempt a : attempts) {
            int copies = delivered.getOrDefault(a.tag(), 0);
            if (a.code() == 0 && settings.proxyRestartEvery() != null && !settings.proxyRestartEvery().isZero()) {
                // The proxy was stopped under this sender: it keeps the message, as after any 4xx.
                cutOff++;
                if (copies > 0) {
                    if (a.endOfDataSent()) {
                        duplicates += copies;
                    } else {
                        violations.add(a.tag() + ": delivered although the client never finished its data");
                    }
                }
            } else if (a.code() == 0) {
                violations.add(a.tag() + ": the proxy dropped the sender at " + a.stage() + " (" + a.text() + ", upstream fault "
                        + injected.get(a.tag()) + ")");
            } else if (a.stage().equals("END") && a.code() == 250) {
                accepted++;
                if (copies == 0) {
                    lost++;
                    violations.add(a.tag() + ": LOST, the client got 250 and the upstream has no copy");
                } else if (copies > 1) {
                    violations.add(a.tag() + ": delivered " + copies + " times for one 250");
                } else if (acknowledged.getOrDefault(a.tag(), 0) != 1) {
                    violations.add(a.tag() + ": the client got 250 but the upstream never said 250");
                }
            } else {
                refused++;
                if (a.code() < 400) {
                    violations.add(a.tag() + ": a " + a.code() + " at " + a.stage() + " ends nothing");
                }
                if (copies > 0) {
                    if (a.endOfDataSent()) {
                        duplicates += copies;
                    } else {
                        violations.add(a.tag() + ": delivered although the client never finished its data");
                    }
                }
                String expected = upstreamText(injected.get(a.tag()), a.stage());
                if (expected != null && !(a.code() + " " + a.text()).equals(expected)) {
                    violations.add(a.tag() + ": the upstream said \"" + expected + "\" at " + a.stage()
                            + ", the client got \"" + a.code() + " " + a.text() + "\"");
                }
            }
        }
        if (sendUntilNanos == Long.MAX_VALUE && attempts.size() != settings.messages()) {
            violations.add(attempts.size() + " outcomes recorded for " + settings.messages() + " messages");
        }
        Map<Fault, Integer> faults = new EnumMap<>(Fault.class);
        injected.values().forEach(f -> faults.merge(f, 1, Integer::sum));
        return new Report(attempts.size(), faults, connectionFaults.get(), restarts, proxyTerms, proxyKills, accepted, refused,
                cutOff, deliveries.size(), lost, duplicates, violations, elapsed);
    }

    /** The reply the fake upstream gives for {@code fault}, if the client must see it verbatim at {@code stage}. */
    private static String upstreamText(Fault fault, String stage) {
        if (fault == null) {
            return null;
        }
        return switch (fault) {
            case MAIL_4XX -> stage.equals("MAIL") ? "451 4.7.500 Server busy. Please try again later" : null;
            case MAIL_5XX -> stage.equals("MAIL") ? "550 5.7.64 TenantAttribution; Relay Access Denied" : null;
            case RCPT_4XX -> stage.equals("RCPT") ? "451 4.4.4 Temporary recipient failure" : null;
            case RCPT_5XX -> stage.equals("RCPT")
                    ? "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup" : null;
            case DATA_4XX -> stage.equals("DATA") ? "452 4.3.1 Insufficient system resources" : null;
            case DATA_END_4XX -> stage.equals("END") ? "451 4.7.500 Server busy. Please try again later" : null;
            case DATA_END_5XX -> stage.equals("END") ? "554 5.6.0 Message rejected" : null;
            default -> null;
        };
    }

    public static void main(String[] args) throws Exception {
        int messages = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int senders = args.length > 1 ? Integer.parseInt(args[1]) : 100;
        Settings settings = Settings.of(messages, senders);
        if (args.length > 2) {
            settings = settings.withProxyRestarts(Duration.parse("PT" + args[2].toUpperCase(java.util.Locale.ROOT)));
        }
        Report report = run(settings, System.out);
        report.print(System.out);
        System.exit(report.violations().isEmpty() ? 0 : 1);
    }
}
