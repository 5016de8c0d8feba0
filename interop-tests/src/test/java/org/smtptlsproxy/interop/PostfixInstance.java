package org.smtptlsproxy.interop;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A private Postfix instance: its own config directory, queue, data directory and log file, one
 * smtpd on a high port of 127.0.0.1, no chroot. Started by root with {@code postfix -c DIR}, the
 * technique of scripts/postfix-relay.sh; the system's own Postfix (if any) is not touched.
 */
final class PostfixInstance implements AutoCloseable {

    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(30);

    private final String name;
    private final Path directory;
    private final int port;
    private final Map<String, String> settings;
    private boolean running;

    private PostfixInstance(String name, Path directory, int port, Map<String, String> settings) {
        this.name = name;
        this.directory = directory;
        this.port = port;
        this.settings = settings;
    }

    /**
     * Writes the instance's main.cf (the given settings on top of a loopback-only base) and
     * master.cf (the Debian default with smtpd moved to 127.0.0.1:port), and starts it.
     */
    static PostfixInstance start(String name, Path directory, int port, Map<String, String> settings) throws IOException {
        Tools.requireRoot();
        Tools.POSTFIX.require();
        Files.createDirectories(directory.resolve("queue"));
        Files.createDirectories(directory.resolve("data"));
        Map<String, String> all = new LinkedHashMap<>();
        all.put("compatibility_level", "3.6");
        all.put("queue_directory", directory.resolve("queue").toString());
        all.put("data_directory", directory.resolve("data").toString());
        all.put("mail_owner", "postfix");
        all.put("setgid_group", "postdrop");
        all.put("syslog_name", "postfix-" + name);
        all.put("myhostname", name + ".interop.test");
        all.put("inet_interfaces", "127.0.0.1");
        all.put("inet_protocols", "ipv4");
        all.put("mynetworks", "127.0.0.0/8");
        all.put("mydestination", "");
        all.put("local_recipient_maps", "");
        all.put("alias_maps", "");
        all.put("alias_database", "");
        all.put("smtpd_relay_restrictions", "permit_mynetworks, reject");
        // Only this instance's own headers: no address rewriting of what the test sends.
        all.put("local_header_rewrite_clients", "");
        all.put("message_size_limit", String.valueOf(64 << 20));
        all.put("smtp_host_lookup", "native");
        all.put("smtp_dns_support_level", "disabled");
        all.put("maillog_file", directory.resolve("maillog").toString());
        all.put("maillog_file_prefixes", directory.toString());
        all.putAll(settings);
        StringBuilder mainCf = new StringBuilder();
        all.forEach((key, value) -> mainCf.append(key).append(" = ").append(value).append('\n'));
        Files.writeString(directory.resolve("main.cf"), mainCf, StandardCharsets.UTF_8);
        Files.writeString(directory.resolve("master.cf"), masterCf(port), StandardCharsets.UTF_8);
        PostfixInstance instance = new PostfixInstance(name, directory, port, all);
        instance.startDaemon();
        return instance;
    }

    /** Debian's master.cf, each service unchrooted, smtpd listening on 127.0.0.1:port only. */
    private static String masterCf(int port) throws IOException {
        List<String> out = new ArrayList<>();
        boolean listenerFound = false;
        for (String line : Files.readAllLines(Path.of("/etc/postfix/master.cf"))) {
            String[] fields = line.trim().split("\\s+");
            if (!line.startsWith("#") && !line.isBlank() && !Character.isWhitespace(line.charAt(0)) && fields.length >= 8) {
                if (fields[0].equals("smtp") && fields[1].equals("inet")) {
                    fields[0] = "127.0.0.1:" + port;
                    listenerFound = true;
                }
                fields[4] = "n"; // chroot: the private queue has no copy of /etc
                line = String.join(" ", fields);
            }
            out.add(line);
        }
        if (!listenerFound) {
            throw new IOException("no 'smtp inet' service in /etc/postfix/master.cf");
        }
        return String.join("\n", out) + "\n";
    }

    private void startDaemon() {
        String postfix = Tools.POSTFIX.require();
        Exec.run(COMMAND_TIMEOUT, List.of(postfix, "-c", directory.toString(), "stop"));
        Exec.check(COMMAND_TIMEOUT, postfix, "-c", directory.toString(), "set-permissions");
        Exec.Result started = Exec.run(COMMAND_TIMEOUT, List.of(postfix, "-c", directory.toString(), "start"));
        if (!started.succeeded()) {
            throw new AssertionError("Postfix instance " + name + " did not start:\n" + started.describe() + "\n" + maillog());
        }
        running = true;
        awaitListening();
    }

    private void awaitListening() {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            if (listening(port)) {
                return;
            }
            sleep(100);
        }
        throw new AssertionError("Postfix instance " + name + " does not listen on 127.0.0.1:" + port + "\n" + maillog());
    }

    String name() {
        return name;
    }

    int port() {
        return port;
    }

    Path directory() {
        return directory;
    }

    String setting(String key) {
        return settings.get(key);
    }

    /** Re-reads main.cf and lookup tables (new smtpd processes see the change). */
    void reload() {
        Exec.check(COMMAND_TIMEOUT, Tools.POSTFIX.require(), "-c", directory.toString(), "reload");
        // The master signals its children; give idle smtpd processes a moment to exit.
        sleep(1500);
    }

    /** The whole log so far ("" before the first line). */
    String maillog() {
        try {
            Path log = directory.resolve("maillog");
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(maillog unreadable: " + e + ")";
        }
    }

    /** Waits until a log line matches; returns the match (groups usable by the caller). */
    Matcher awaitLog(Pattern pattern, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Matcher matcher = pattern.matcher(maillog());
            if (matcher.find()) {
                return matcher;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Postfix " + name + ": no log line matching /" + pattern + "/ within " + timeout
                        + "\n--- maillog ---\n" + tail(maillog(), 60));
            }
            sleep(200);
        }
    }

    /** {@code postqueue -j}: one JSON object a line, one line per queued message. */
    List<String> queue() {
        Exec.Result result = Exec.check(COMMAND_TIMEOUT, Tools.POSTQUEUE.require(), "-c", directory.toString(), "-j");
        return result.output().lines().filter(line -> line.startsWith("{")).toList();
    }

    /** {@code postqueue -f}: every deferred message is tried again now. */
    void flush() {
        Exec.check(COMMAND_TIMEOUT, Tools.POSTQUEUE.require(), "-c", directory.toString(), "-f");
    }

    /** {@code postcat -e -q ID}: the envelope records of a queued (e.g. held) message. */
    String postcat(String queueId) {
        return Exec.check(COMMAND_TIMEOUT, Tools.POSTCAT.require(), "-c", directory.toString(), "-e", "-q", queueId)
                .output();
    }

    @Override
    public void close() {
        if (running) {
            running = false;
            Tools.POSTFIX.find().ifPresent(postfix ->
                    Exec.run(COMMAND_TIMEOUT, List.of(postfix.toString(), "-c", directory.toString(), "stop")));
            awaitMasterGone();
        }
    }

    /** {@code postfix stop} only signals the master: wait until it has really exited. */
    private void awaitMasterGone() {
        Path pidFile = directory.resolve("queue/pid/master.pid");
        try {
            if (!Files.exists(pidFile)) {
                return;
            }
            long pid = Long.parseLong(Files.readString(pidFile).trim());
            ProcessHandle.of(pid).ifPresent(master -> {
                try {
                    master.onExit().get(15, java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception stillThere) {
                    master.destroyForcibly();
                }
            });
        } catch (IOException | NumberFormatException e) {
            // no master to wait for
        }
    }

    /** True when something accepts connections on 127.0.0.1:port. */
    static boolean listening(int port) {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 1000);
            return true;
        } catch (IOException notYet) {
            return false;
        }
    }

    static String tail(String text, int lines) {
        List<String> all = text.lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }
}
