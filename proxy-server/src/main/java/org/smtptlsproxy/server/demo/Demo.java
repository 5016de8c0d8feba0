package org.smtptlsproxy.server.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.ReceivedMessage;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.smtptlsproxy.testkit.TestPki;

/**
 * The embedded default: a throwaway CA, a local upstream that accepts only TLS 1.2+ (as Exchange
 * Online does), the proxy in front of it, and a message from a TLS 1.0 sender through both.
 * Everything lives in a temporary directory that is deleted on exit.
 */
public final class Demo implements AutoCloseable {

    private static final int PREFERRED_SMTP_PORT = 2525;
    private static final int PREFERRED_METRICS_PORT = 9465;

    private final PrintWriter out;
    private final Path directory;
    private final TestPki pki;
    private final FakeUpstream upstream;
    private final ProxyServer proxy;
    private final InetSocketAddress smtpAddress;

    private Demo(PrintWriter out, Path directory, TestPki pki, FakeUpstream upstream, ProxyServer proxy) {
        this.out = out;
        this.directory = directory;
        this.pki = pki;
        this.upstream = upstream;
        this.proxy = proxy;
        this.smtpAddress = proxy.listenerAddresses().get("demo");
    }

    public static Demo start(PrintWriter out) throws Exception {
        Path directory = Files.createTempDirectory("smtp-tls-proxy-demo");
        TestPki pki = TestPki.create("smtp-tls-proxy demo CA", KeyType.RSA);
        TestPki.Identity upstreamIdentity = pki.issue("localhost", "localhost", "127.0.0.1");
        TestPki.Identity proxyIdentity = pki.issue("localhost", "localhost", "127.0.0.1");
        TestPki.PemFiles proxyPem = proxyIdentity.writePem(directory, "proxy", KeyFormat.PKCS8);
        Path caPem = pki.writeCaPem(directory.resolve("demo-ca.pem"));

        FakeUpstream upstream = FakeUpstream.builder()
                .identity(upstreamIdentity)
                .protocols("TLSv1.2", "TLSv1.3")
                .hostname("upstream.demo.invalid")
                .build();
        upstream.start();

        int smtpPort = freePort(PREFERRED_SMTP_PORT);
        int metricsPort = freePort(PREFERRED_METRICS_PORT);
        String yaml = String.join("\n",
                "hostname: smtp-tls-proxy.demo.invalid",
                "listeners:",
                "  - name: demo",
                "    address: 127.0.0.1:" + smtpPort,
                "    tls:",
                "      mode: starttls",
                "      certificate: " + proxyPem.certificate().getFileName(),
                "      key: " + proxyPem.key().getFileName(),
                "upstream:",
                "  host: 127.0.0.1",
                "  port: " + upstream.port(),
                "  tls:",
                "    server_name: localhost",
                "    trust: " + caPem.getFileName(),
                "metrics:",
                "  address: 127.0.0.1:" + metricsPort,
                "");
        Files.writeString(directory.resolve("config.yaml"), yaml, StandardCharsets.UTF_8);
        ProxyConfig config = new ConfigLoader().load(directory.resolve("config.yaml"));
        ProxyServer proxy = ProxyServer.start(config);

        Demo demo = new Demo(out, directory, pki, upstream, proxy);
        out.println();
        out.println("smtp-tls-proxy demo");
        out.println("  proxy SMTP     " + hostPort(demo.smtpAddress) + "   (STARTTLS offered; TLS 1.0 to 1.3 accepted)");
        out.println("  metrics        http://127.0.0.1:" + proxy.metricsPort() + "/metrics");
        out.println("  upstream       127.0.0.1:" + upstream.port() + "   (local stand-in for Exchange Online: STARTTLS, TLS 1.2+ only)");
        out.println("  config         " + directory.resolve("config.yaml"));
        out.println();
        out.flush();
        return demo;
    }

    /** Sends one message as an old TLS 1.0 sender would and shows what happened on both legs. */
    public boolean sendLegacyMessage() throws IOException {
        out.println("Sending a message from a legacy sender that speaks only TLS 1.0 ...");
        int before = upstream.messages().size();
        String body = "From: printer@legacy.example\r\nTo: you@contoso.example\r\nSubject: smtp-tls-proxy demo\r\n\r\n"
                + "Scanned document attached (not really).\r\n";
        SmtpTestClient.Reply reply;
        String clientProtocol;
        String clientCipher;
        try (SmtpTestClient client = new SmtpTestClient()) {
            client.connect(smtpAddress.getHostString(), smtpAddress.getPort());
            client.ehlo("legacy-printer.local");
            client.startTls(new SmtpTestClient.TlsOptions(List.of("TLSv1"), pki.caCertificate(), null));
            client.ehlo("legacy-printer.local");
            clientProtocol = client.tlsProtocol();
            clientCipher = client.tlsCipher();
            reply = client.sendMessage("printer@legacy.example", List.of("you@contoso.example"),
                    body.getBytes(StandardCharsets.US_ASCII));
            client.quit();
        }
        if (!upstream.awaitMessages(before + 1, Duration.ofSeconds(10))) {
            out.println("  the upstream did not receive the message: " + reply);
            out.flush();
            return false;
        }
        ReceivedMessage received = upstream.messages().get(before);
        out.println();
        out.println("  sender   --[" + clientProtocol + " " + clientCipher + "]-->  proxy " + hostPort(smtpAddress));
        out.println("  proxy    --[" + received.tlsProtocol() + " " + received.tlsCipher() + "]-->  upstream 127.0.0.1:"
                + upstream.port() + " (certificate verified for 'localhost')");
        out.println("  upstream replied and the sender got: " + reply.code() + " " + reply.text());
        String trace = received.content().lines().filter(l -> l.startsWith("Received:") || l.startsWith("\t"))
                .limit(3).reduce((a, b) -> a + "\n           " + b.strip()).orElse("(none)");
        out.println("  trace:   " + trace);
        out.println();
        out.flush();
        return reply.code() == 250;
    }

    public void printMetrics() {
        out.println("Metrics (http://127.0.0.1:" + proxy.metricsPort() + "/metrics, excerpt):");
        proxy.registry().scrape().lines()
                .filter(l -> l.startsWith("smtp_proxy_") && !l.contains("_bucket") && !l.endsWith(" 0.0"))
                .forEach(l -> out.println("  " + l));
        out.println();
        out.flush();
    }

    public void printTryItYourself() {
        String server = hostPort(smtpAddress);
        out.println("Try it yourself (the proxy keeps running until Ctrl-C):");
        out.println("  swaks --server " + server + " --to you@contoso.example");
        out.println("  swaks --server " + server + " --to you@contoso.example --tls --tls-protocol tlsv1");
        out.println("  openssl s_client -starttls smtp -connect " + server + " -tls1_2");
        out.println("  smtp-tls-proxy probe 127.0.0.1:" + upstream.port() + " --trust " + directory.resolve("demo-ca.pem")
                + " --server-name localhost   # what the relay sees of the upstream");
        out.println("Messages end up in the local upstream; each one is logged on a transaction line.");
        out.flush();
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

    @Override
    public void close() {
        proxy.close();
        upstream.close();
        try (Stream<Path> files = Files.walk(directory)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory left behind is harmless
        }
    }
}
