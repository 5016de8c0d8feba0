package org.smtptlsproxy.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.Fault;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.TestPki;

/**
 * One large message through the real proxy started with a small heap: "1 GiB message through a
 * proxy started with -Xmx64m: relayed, sha256 equal".
 *
 * <p>A STARTTLS TLS 1.2+ sink ({@link FakeUpstream}, hashing the data as it streams and storing
 * none of it) runs in this JVM; the proxy runs as a separate process with {@code -Xmx64m
 * -XX:MaxDirectMemorySize=64m}, relaying to it with its test CA trusted and
 * {@code received_header: false}, so the sink receives exactly the client's bytes. A plaintext
 * client on a plain socket sends one message generated on the fly ({@link MessageStream}, with
 * dot-stuffed lines) and hashes what it sends. Success: the sender got 250 to end of data, the
 * sink's SHA-256 and size of the raw data (what {@link ReceivedMessage#sha256()} covers: the
 * stuffed bytes before the final {@code .CRLF}) equal the sender's, and the proxy is still alive
 * and healthy. Prints elapsed time, MiB/s, the proxy's RSS as the message went through and its
 * peak (VmHWM).
 *
 * <pre>
 * java -cp BENCH_CLASSPATH org.smtptlsproxy.bench.LargeMessageRelay [options]
 *   --size-mib N          message size in MiB (default 1024)
 *   --jar PATH            the proxy jar (default proxy-server/target/smtp-tls-proxy.jar);
 *                         --classpath launches org.smtptlsproxy.server.Main from this JVM's class path
 *   --xmx SIZE            the proxy's -Xmx (default 64m)
 *   --max-direct SIZE     the proxy's -XX:MaxDirectMemorySize (default 64m; "none" leaves it unset)
 *   --deadline-seconds S  the whole transfer must finish within this (default 420)
 *   --stall-sink          the sink stops reading for 3 s early in the data: without backpressure
 *                         the proxy would have to buffer what the client sends meanwhile
 *   --spool               the listener has {@code delivery: spool}: the message is written to the
 *                         spool (in the temp directory) and fsynced before the 250, then delivered
 *                         from the file; RSS is sampled until the sink has it
 * </pre>
 * Exit status 1 unless the message was relayed intact and the proxy survived.
 */
public final class LargeMessageRelay {

    /** {@code stallSink}: the sink stops reading for 3 s early in the data ({@link Fault#STALL_DATA}). */
    public record Options(long sizeBytes, ProxyProcess.Launcher launcher, String xmx, String maxDirect,
                          Duration deadline, boolean stallSink, boolean spool) {

        public Options(long sizeBytes, ProxyProcess.Launcher launcher, String xmx, String maxDirect, Duration deadline,
                       boolean stallSink) {
            this(sizeBytes, launcher, xmx, maxDirect, deadline, stallSink, false);
        }
    }

    /**
     * What happened. {@code reply} is the proxy's reply to end of data; {@code rssAt} the proxy's
     * RSS after each eighth of the message was sent.
     */
    public record Result(long size, String reply, String sentSha256, String sinkSha256, long sinkSize,
                         long dataNanos, long[] rssAt, long maxRss, long peakRss, boolean proxyAlive, int health,
                         String proxyTls) {

        public boolean relayedIntact() {
            return reply.startsWith("250") && sentSha256.equals(sinkSha256) && sinkSize == size;
        }

        public double mebibytesPerSecond() {
            return size / 1048576.0 / (dataNanos / 1e9);
        }
    }

    private LargeMessageRelay() {
    }

    public static void main(String[] args) throws Exception {
        long sizeMib = 1024;
        ProxyProcess.Launcher launcher = ProxyProcess.Launcher.jar(Path.of("proxy-server/target/smtp-tls-proxy.jar"));
        String xmx = "64m";
        String maxDirect = "64m";
        int deadline = 420;
        boolean stall = false;
        boolean spool = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--size-mib" -> sizeMib = Long.parseLong(args[++i]);
                case "--jar" -> launcher = ProxyProcess.Launcher.jar(Path.of(args[++i]));
                case "--classpath" -> launcher = ProxyProcess.Launcher.currentClassPath();
                case "--xmx" -> xmx = args[++i];
                case "--max-direct" -> maxDirect = args[++i];
                case "--deadline-seconds" -> deadline = Integer.parseInt(args[++i]);
                case "--stall-sink" -> stall = true;
                case "--spool" -> spool = true;
                default -> {
                    System.err.println("unknown option " + args[i] + " (see the class javadoc)");
                    System.exit(2);
                }
            }
        }
        Result result = run(new Options(sizeMib << 20, launcher, xmx, maxDirect, Duration.ofSeconds(deadline), stall, spool),
                System.out);
        System.exit(result.relayedIntact() && result.proxyAlive() ? 0 : 1);
    }

    public static Result run(Options options, PrintStream out) throws Exception {
        Path dir = Files.createTempDirectory("large-message");
        TestPki pki = TestPki.create("large message CA", KeyType.EC);
        pki.writeCaPem(dir.resolve("ca.pem"));
        FakeUpstream.Builder sinkSettings = FakeUpstream.builder().identity(pki.issue("localhost", "localhost", "127.0.0.1"))
                .maxStoredBytes(0).threads(1);
        if (options.stallSink()) {
            sinkSettings.faults(Fault.STALL_DATA);
        }
        try (FakeUpstream sink = sinkSettings.build().start()) {
            Path config = dir.resolve("config.yaml");
            long maxMib = Math.max(2048, (options.sizeBytes() >> 20) * 2);
            Files.writeString(config, String.join("\n",
                    "hostname: proxy.bench.invalid",
                    "listeners:",
                    "  - name: big",
                    "    address: 127.0.0.1:0",
                    options.spool() ? "    delivery: spool" : "",
                    options.spool() ? "spool:\n  directory: " + dir.resolve("spool") + "\n  max_size: " + maxMib + "MB" : "",
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + sink.port(),
                    "  command_timeout: 5m",
                    "  tls:",
                    "    server_name: localhost",
                    "    trust: " + dir.resolve("ca.pem"),
                    "limits:",
                    "  max_message_size: " + maxMib + "MB",
                    "received_header: false",
                    "drain_timeout: 2s",
                    "metrics:",
                    "  address: 127.0.0.1:0",
                    ""), StandardCharsets.UTF_8);
            List<String> jvm = new ArrayList<>(List.of("-Xmx" + options.xmx()));
            if (!options.maxDirect().equals("none")) {
                jvm.add("-XX:MaxDirectMemorySize=" + options.maxDirect());
            }
            out.printf("%n== %d MiB message, proxy %s %s%s%s%n", options.sizeBytes() >> 20, String.join(" ", jvm),
                    options.launcher(), options.stallSink() ? ", sink stalls 3 s" : "",
                    options.spool() ? ", delivery: spool (written and fsynced before the 250, delivered from the file)" : "");
            try (ProxyProcess proxy = ProxyProcess.start(options.launcher(), jvm, config, 1, dir.resolve("proxy.log"),
                    Duration.ofSeconds(60))) {
                Result result = send(proxy, sink, options);
                proxy.stop(Duration.ofSeconds(20));
                print(result, out);
                // The proxy's own view: its transaction line (size, TLS, reply, ms) and any warning.
                Map.Entry<Integer, List<String>> lines = proxy.logLines(10, "transactions", " WARN ", " ERROR ");
                lines.getValue().forEach(line -> out.println("proxy log: " + line));
                if (!result.proxyAlive()) {
                    out.println(ProxyProcess.tail(proxy.log()));
                }
                return result;
            }
        }
    }

    private static Result send(ProxyProcess proxy, FakeUpstream sink, Options options) throws Exception {
        MessageStream message = new MessageStream(options.sizeBytes(), 20261122L);
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        long pid = proxy.pid();
        AtomicLong maxRss = new AtomicLong();
        ScheduledExecutorService timers = Executors.newScheduledThreadPool(1, r -> {
            Thread t = new Thread(r, "large-message-timers");
            t.setDaemon(true);
            return t;
        });
        long[] rssAt = new long[8];
        Socket socket = new Socket();
        try {
            ScheduledFuture<?> sampler = timers.scheduleAtFixedRate(
                    () -> maxRss.accumulateAndGet(ProxyProcess.procStatus(pid, "VmRSS"), Math::max), 0, 200,
                    TimeUnit.MILLISECONDS);
            // A blocked write has no timeout of its own: past the deadline the socket is closed under it.
            timers.schedule(() -> {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // closing is all we wanted
                }
            }, options.deadline().toMillis(), TimeUnit.MILLISECONDS);
            socket.connect(new InetSocketAddress("127.0.0.1", proxy.listenerPort("big")), 10_000);
            socket.setSoTimeout((int) Duration.ofMinutes(5).toMillis());
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII));
            OutputStream os = socket.getOutputStream();
            expect(in, "220");
            command(os, "EHLO big.bench.invalid");
            String ehlo = expect(in, "250");
            long advertised = advertisedSize(ehlo);
            if (advertised >= 0 && advertised < message.size()) {
                throw new IllegalStateException("the proxy advertises SIZE " + advertised + " < " + message.size());
            }
            command(os, "MAIL FROM:<big@legacy.example> SIZE=" + message.size());
            expect(in, "250");
            command(os, "RCPT TO:<sink@contoso.example>");
            expect(in, "250");
            command(os, "DATA");
            expect(in, "354");
            long started = System.nanoTime();
            byte[] buffer = new byte[64 * 1024];
            long sent = 0;
            int eighth = 0;
            for (int n; (n = message.fill(buffer)) > 0; ) {
                os.write(buffer, 0, n); // blocks while the proxy pushes back: that is the streaming under test
                sha256.update(buffer, 0, n);
                sent += n;
                while (eighth < 8 && sent >= message.size() * (eighth + 1) / 8) {
                    rssAt[eighth++] = ProxyProcess.procStatus(pid, "VmRSS");
                }
            }
            os.write(".\r\n".getBytes(StandardCharsets.US_ASCII));
            os.flush();
            String reply;
            try {
                reply = readReply(in);
            } catch (IOException e) {
                reply = "no reply: " + e;
            }
            long dataNanos = System.nanoTime() - started;
            if (!options.spool()) {
                sampler.cancel(false);
            }
            if (reply.startsWith("250")) {
                command(os, "QUIT");
                readReply(in);
            }
            String sentSha = HexFormat.of().formatHex(sha256.digest());
            ReceivedMessage received = null;
            // A spooled message is sent upstream after its 250, read back from the spool file.
            Duration delivery = options.spool() ? options.deadline() : Duration.ofSeconds(30);
            if (reply.startsWith("250") && sink.awaitMessages(1, delivery)) {
                received = sink.messages().get(0);
            }
            sampler.cancel(false);
            int health = proxy.httpStatus("/health");
            String tls = received == null ? "none" : received.tlsProtocol() + " " + received.tlsCipher();
            return new Result(message.size(), reply, sentSha, received == null ? "none" : received.sha256(),
                    received == null ? -1 : received.size(), dataNanos, rssAt, maxRss.get(),
                    ProxyProcess.procStatus(pid, "VmHWM"), proxy.isAlive(), health, tls);
        } finally {
            timers.shutdownNow();
            socket.close();
        }
    }

    private static void command(OutputStream os, String line) throws IOException {
        os.write((line + "\r\n").getBytes(StandardCharsets.US_ASCII));
        os.flush();
    }

    /** Reads one reply (all its lines); returns it whole, lines joined by '\n'. */
    private static String readReply(BufferedReader in) throws IOException {
        StringBuilder reply = new StringBuilder();
        for (int lines = 0; lines < 100; lines++) {
            String line = in.readLine();
            if (line == null) {
                throw new IOException("connection closed; reply so far: " + reply);
            }
            reply.append(reply.isEmpty() ? "" : "\n").append(line);
            if (line.length() < 4 || line.charAt(3) != '-') {
                return reply.toString();
            }
        }
        throw new IOException("reply of more than 100 lines");
    }

    private static String expect(BufferedReader in, String code) throws IOException {
        String reply = readReply(in);
        if (!reply.startsWith(code)) {
            throw new IOException("expected " + code + ", got: " + reply);
        }
        return reply;
    }

    private static long advertisedSize(String ehlo) {
        for (String line : ehlo.split("\n")) {
            String keyword = line.substring(4).trim();
            if (keyword.toUpperCase(Locale.ROOT).startsWith("SIZE ")) {
                return Long.parseLong(keyword.substring(5).trim());
            }
        }
        return -1;
    }

    private static void print(Result r, PrintStream out) {
        out.printf(Locale.ROOT, "reply to end of data: %s%n", r.reply());
        out.printf(Locale.ROOT, "sent     %d octets, sha256 %s%n", r.size(), r.sentSha256());
        out.printf(Locale.ROOT, "received %d octets, sha256 %s (sink, over %s)%n", r.sinkSize(), r.sinkSha256(),
                r.proxyTls());
        out.printf(Locale.ROOT, "sha256 %s%n", r.sentSha256().equals(r.sinkSha256()) ? "EQUAL" : "DIFFERENT");
        out.printf(Locale.ROOT, "data phase %.1f s, %.1f MiB/s (354 to the 250, through the proxy and TLS to the sink)%n",
                r.dataNanos() / 1e9, r.mebibytesPerSecond());
        StringBuilder rss = new StringBuilder();
        for (int i = 0; i < r.rssAt().length; i++) {
            rss.append(String.format(Locale.ROOT, "%s%d/8: %.1f", i == 0 ? "" : ", ", i + 1, r.rssAt()[i] / 1048576.0));
        }
        out.println("proxy RSS (MiB) as the message was sent, " + rss);
        out.printf(Locale.ROOT, "proxy RSS max sampled %s, peak VmHWM %s%n", ProxyProcess.mib(r.maxRss()),
                ProxyProcess.mib(r.peakRss()));
        out.printf(Locale.ROOT, "proxy %s, /health %d%n", r.proxyAlive() ? "alive" : "DEAD", r.health());
        out.println(r.relayedIntact() && r.proxyAlive() ? "RESULT: relayed intact" : "RESULT: FAILED");
    }
}
