package org.smtptlsproxy.server.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.server.lifecycle.ProxyServer;

/**
 * The embedded default: a throwaway CA, a local upstream that accepts only TLS 1.2+ (as Exchange
 * Online does), the proxy in front of it, and a message from a TLS 1.0 sender through both.
 * Everything on disk (the config, the demo's private key) lives in one temporary folder that
 * {@link #close} deletes; {@code DemoCommand} makes sure close runs on every way out.
 */
public final class Demo implements AutoCloseable {

    private static final int PREFERRED_SMTP_PORT = 2525;
    private static final int PREFERRED_METRICS_PORT = 9465;
    /** Debian 12's OpenSSL refuses TLS 1.0 at its default security level 2; swaks must lower it. */
    static final String SWAKS_LEGACY_CIPHERS = "'DEFAULT:@SECLEVEL=0'";

    private final PrintWriter out;
    private final Path directory;
    private final DemoCertificates certificates;
    private final DemoUpstream upstream;
    private final ProxyServer proxy;
    private final InetSocketAddress smtpAddress;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Demo(PrintWriter out, Path directory, DemoCertificates certificates, DemoUpstream upstream, ProxyServer proxy) {
        this.out = out;
        this.directory = directory;
        this.certificates = certificates;
        this.upstream = upstream;
        this.proxy = proxy;
        this.smtpAddress = proxy.listenerAddresses().get("demo");
    }

    public static Demo start(PrintWriter out) throws Exception {
        Path directory = Files.createTempDirectory("smtp-tls-proxy-demo");
        DemoUpstream upstream = null;
        try {
            DemoCertificates certificates = DemoCertificates.create();
            certificates.writeChain(directory.resolve("proxy.pem"));
            certificates.writeKey(directory.resolve("proxy.key"));
            certificates.writeCa(directory.resolve("demo-ca.pem"));
            upstream = DemoUpstream.start(certificates);

            int smtpPort = freePort(PREFERRED_SMTP_PORT);
            int metricsPort = freePort(PREFERRED_METRICS_PORT);
            String yaml = String.join("\n",
                    "hostname: smtp-tls-proxy.demo.invalid",
                    "listeners:",
                    "  - name: demo",
                    "    address: 127.0.0.1:" + smtpPort,
                    "    tls:",
                    "      mode: starttls",
                    "      certificate: proxy.pem",
                    "      key: proxy.key",
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + upstream.port(),
                    "  tls:",
                    "    server_name: localhost",
                    "    trust: demo-ca.pem",
                    "metrics:",
                    "  address: 127.0.0.1:" + metricsPort,
                    "");
            Files.writeString(directory.resolve("config.yaml"), yaml, StandardCharsets.UTF_8);
            ProxyConfig config = new ConfigLoader().load(directory.resolve("config.yaml"));
            ProxyServer proxy = ProxyServer.start(config);

            Demo demo = new Demo(out, directory, certificates, upstream, proxy);
            out.println();
            out.println("smtp-tls-proxy demo");
            out.println("  proxy SMTP     " + hostPort(demo.smtpAddress) + "   (STARTTLS offered; TLS 1.0 to 1.3 accepted)");
            out.println("  metrics        http://127.0.0.1:" + proxy.metricsPort() + "/metrics");
            out.println("  upstream       127.0.0.1:" + upstream.port() + "   (local stand-in for Exchange Online: STARTTLS, TLS 1.2+ only)");
            out.println("  config         " + directory.resolve("config.yaml") + "   (this folder is deleted when the demo ends)");
            out.println();
            out.flush();
            return demo;
        } catch (Exception | Error e) {
            if (upstream != null) {
                upstream.close();
            }
            deleteFolder(directory);
            throw e;
        }
    }

    /** The folder holding the config and the demo's private key; gone after {@link #close}. */
    public Path directory() {
        return directory;
    }

    /** Sends one message as an old TLS 1.0 sender would and shows what happened on both legs. */
    public boolean sendLegacyMessage() throws Exception {
        out.println("Sending a message from a legacy sender that speaks only TLS 1.0 ...");
        long before = upstream.delivered();
        String message = "From: printer@legacy.example\r\nTo: you@contoso.example\r\nSubject: smtp-tls-proxy demo\r\n\r\n"
                + "Scanned document attached (not really).";
        LegacySender.Outcome sent = LegacySender.send(smtpAddress, certificates, "printer@legacy.example",
                "you@contoso.example", message);
        DemoUpstream.Delivery received = upstream.awaitDelivery(before, Duration.ofSeconds(10));
        if (received == null) {
            out.println("  the upstream did not receive the message: " + sent.reply());
            out.flush();
            return false;
        }
        out.println();
        out.println("  sender   --[" + sent.tlsProtocol() + " " + sent.tlsCipher() + "]-->  proxy " + hostPort(smtpAddress));
        out.println("  proxy    --[" + received.tlsProtocol() + " " + received.tlsCipher() + "]-->  upstream 127.0.0.1:"
                + upstream.port() + " (certificate verified for 'localhost')");
        out.println("  upstream replied and the sender got: " + sent.reply());
        String trace = received.content().lines().filter(l -> l.startsWith("Received:") || l.startsWith("\t"))
                .limit(3).reduce((a, b) -> a + "\n           " + b.strip()).orElse("(none)");
        out.println("  trace:   " + trace);
        out.println();
        out.flush();
        return sent.accepted();
    }

    public void printMetrics() {
        out.println("Metrics (http://127.0.0.1:" + proxy.metricsPort() + "/metrics, excerpt):");
        proxy.registry().scrape().lines()
                .filter(l -> l.startsWith("smtp_proxy_") && !l.contains("_bucket") && !l.endsWith(" 0.0"))
                .forEach(l -> out.println("  " + l));
        out.println();
        out.flush();
    }

    /** Lines a person can paste into a shell as they are (Debian 12: swaks, OpenSSL 3). */
    public void printTryItYourself() {
        String server = hostPort(smtpAddress);
        out.println("Try it yourself (the proxy keeps running until Ctrl-C):");
        out.println("  swaks --server " + server + " --to you@contoso.example");
        out.println("  swaks --server " + server + " --to you@contoso.example --tls --tls-protocol tlsv1 --tls-cipher "
                + SWAKS_LEGACY_CIPHERS);
        out.println("  openssl s_client -starttls smtp -connect " + server + " -tls1_2");
        out.println("  " + selfCommand() + " probe 127.0.0.1:" + upstream.port() + " --trust " + directory.resolve("demo-ca.pem")
                + " --server-name localhost   # what the relay sees of the upstream");
        out.println("Messages end up in the local upstream; each one is logged on a transaction line.");
        out.flush();
    }

    /**
     * How to run this program again from a shell: {@code java -jar /path/to/smtp-tls-proxy.jar}
     * (the launcher in the archive runs exactly that), or the command name when not run from a jar.
     */
    static String selfCommand() {
        try {
            Path location = Path.of(Demo.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(location) && location.toString().endsWith(".jar")) {
                return "java -jar " + location.toAbsolutePath();
            }
        } catch (URISyntaxException | RuntimeException unknown) {
            // fall through to the name
        }
        return "smtp-tls-proxy";
    }

    private static String hostPort(InetSocketAddress address) {
        return address.getHostString() + ":" + address.getPort();
    }

    /** The preferred port if it is free, else the next free one above it. */
    static int freePort(int preferred) throws IOException {
        for (int port = preferred; port < preferred + 100; port++) {
            try (ServerSocket probe = new ServerSocket()) {
                probe.setReuseAddress(false);
                probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                return port;
            } catch (IOException taken) {
                // try the next one
            }
        }
        throw new IOException("no free port in " + preferred + ".." + (preferred + 99));
    }

    /** Idempotent: the normal end and the shutdown hook (Ctrl-C, SIGTERM) may both call it. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                proxy.close();
                upstream.close();
            } finally {
                deleteFolder(directory);
            }
        }
    }

    private static void deleteFolder(Path directory) {
        try (Stream<Path> files = Files.walk(directory)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // already gone
        }
    }
}
