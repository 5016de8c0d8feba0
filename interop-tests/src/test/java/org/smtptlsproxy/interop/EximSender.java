package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * Exim as a second legacy MTA: the Debian binary unpacked from its .deb (Exim and Postfix
 * conflict as packages), a private configuration given with {@code -C}, a daemon in the
 * foreground on a loopback port that sends everything to the proxy over STARTTLS (GnuTLS, TLS 1.0
 * only) with the proxy's certificate verified.
 */
final class EximSender implements AutoCloseable {

    private static final Pattern ACCEPTED = Pattern.compile("^250 OK id=(\\S+)$");

    private final Path directory;
    private final int port;
    private final Process daemon;

    private EximSender(Path directory, int port, Process daemon) {
        this.directory = directory;
        this.port = port;
        this.daemon = daemon;
    }

    static EximSender start(Path directory, int relayPort, Path caPem) throws IOException {
        Tools.requireRoot();
        String exim = Tools.EXIM.require();
        int port = InteropEnvironment.freePort();
        Path spool = directory.resolve("spool");
        Path log = directory.resolve("log");
        Files.createDirectories(spool);
        Files.createDirectories(log);
        // Exim gives up root for receiving and delivering: its user must own spool and log.
        UserPrincipalLookupService users = directory.getFileSystem().getUserPrincipalLookupService();
        java.nio.file.attribute.UserPrincipal eximUser;
        try {
            eximUser = users.lookupPrincipalByName("Debian-exim");
        } catch (java.nio.file.attribute.UserPrincipalNotFoundException e) {
            throw new AssertionError("the Debian binary runs as user Debian-exim, which does not exist: "
                    + "create it as .ci/run does (useradd --system --user-group Debian-exim)", e);
        }
        for (Path dir : List.of(spool, log)) {
            Files.setOwner(dir, eximUser);
        }
        Path config = directory.resolve("exim.conf");
        Files.writeString(config, String.join("\n",
                "primary_hostname = exim.interop.test",
                // Exim re-executes itself for deliveries: not from its compiled-in path here.
                "exim_path = " + exim,
                "spool_directory = " + spool,
                "log_file_path = " + log + "/%slog",
                "pid_file_path = " + directory.resolve("exim.pid"),
                "keep_environment =",
                "daemon_smtp_ports = " + port,
                "local_interfaces = 127.0.0.1",
                "tls_advertise_hosts =",
                "host_lookup =",
                "message_size_limit = 64M",
                "smtputf8_advertise_hosts =",
                "acl_smtp_rcpt = acl_rcpt",
                "log_selector = +smtp_confirmation +tls_peerdn +tls_certificate_verified",
                "",
                "begin acl",
                "acl_rcpt:",
                "  accept hosts = 127.0.0.1",
                "  deny message = relay not permitted",
                "",
                "begin routers",
                "smarthost:",
                "  driver = manualroute",
                "  route_list = * 127.0.0.1",
                "  transport = remote_smtp",
                "  self = send",
                "",
                "begin transports",
                "remote_smtp:",
                "  driver = smtp",
                "  port = " + relayPort,
                "  hosts_require_tls = *",
                // An old Exim's GnuTLS: TLS 1.0 and nothing newer.
                "  tls_require_ciphers = NORMAL:-VERS-ALL:+VERS-TLS1.0",
                "  tls_verify_certificates = " + caPem,
                "  tls_verify_hosts = *",
                "  tls_verify_cert_hostnames =",
                "",
                "begin retry",
                "*  *  F,1h,30m",
                ""), StandardCharsets.US_ASCII);
        // Run by root with -C, Exim logs "exim user lost privilege for using -C option" to its
        // panic log: the config is not in the Debian binary's TRUSTED_CONFIG_LIST, and there is
        // no reason to touch /etc for a test. Receiving and relaying work all the same.
        Path output = directory.resolve("daemon.out");
        Process daemon = new ProcessBuilder(exim, "-C", config.toString(), "-bdf")
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .start();
        EximSender sender = new EximSender(directory, port, daemon);
        sender.awaitListening(output);
        return sender;
    }

    private void awaitListening(Path output) throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            if (!daemon.isAlive()) {
                throw new AssertionError("Exim exited at start: " + Files.readString(output) + "\n" + mainlog());
            }
            if (PostfixInstance.listening(port)) {
                return;
            }
            PostfixInstance.sleep(100);
        }
        throw new AssertionError("Exim does not listen on 127.0.0.1:" + port + "\n" + Files.readString(output));
    }

    /** Hands a message to Exim over SMTP; returns Exim's message id. */
    String submit(String from, String recipient, byte[] message) throws IOException {
        try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(60))) {
            client.connect("127.0.0.1", port);
            client.ehlo("app.interop.test");
            SmtpTestClient.Reply reply = client.sendMessage(from, List.of(recipient), message);
            Matcher matcher = ACCEPTED.matcher(reply.toString());
            assertEquals(true, matcher.matches(), "Exim accepted the message: " + reply);
            client.quit();
            return matcher.group(1);
        }
    }

    String mainlog() {
        try {
            Path log = directory.resolve("log/mainlog");
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(mainlog unreadable: " + e + ")";
        }
    }

    /** Waits for the delivery line ({@code =>}) of a message and returns it. */
    String awaitDelivery(String messageId) {
        Pattern delivered = Pattern.compile("(?m)^.*" + Pattern.quote(messageId) + " => .*$");
        Pattern completed = Pattern.compile("(?m)" + Pattern.quote(messageId) + " Completed");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            String log = mainlog();
            Matcher matcher = delivered.matcher(log);
            if (matcher.find() && completed.matcher(log).find()) {
                return matcher.group();
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Exim did not deliver " + messageId + ":\n" + PostfixInstance.tail(log, 40));
            }
            PostfixInstance.sleep(200);
        }
    }

    @Override
    public void close() {
        Exec.kill(daemon);
    }
}
