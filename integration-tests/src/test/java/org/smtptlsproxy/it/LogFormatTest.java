package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/** The log lines of the real process: text, journald's priority prefixes, JSON. */
@Timeout(120)
class LogFormatTest {

    private static final byte[] MESSAGE = "Subject: logs\r\n\r\nhello\r\n".getBytes(StandardCharsets.US_ASCII);
    private static final Pattern TIMESTAMP = Pattern.compile("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d");

    /** Runs the proxy with {@code config}, relays one message, ends it with SIGTERM; returns its output. */
    private static String runAndRelay(String extraConfig, List<String> command, Map<String, String> environment)
            throws Exception {
        Path dir = Files.createTempDirectory("logs");
        try (FakeUpstream upstream = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST).build().start()) {
            ProxyFixture.PKI.writeCaPem(dir.resolve("ca.pem"));
            int port;
            try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                port = free.getLocalPort();
            }
            Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                    "listeners:",
                    "  - name: plain",
                    "    address: 127.0.0.1:" + port,
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + upstream.port(),
                    "  tls:",
                    "    server_name: localhost",
                    "    trust: ca.pem",
                    "metrics:",
                    "  address: 127.0.0.1:0",
                    extraConfig,
                    ""));
            List<String> full = new ArrayList<>(command);
            full.addAll(List.of("run", "--config", dir.resolve("config.yaml").toString()));
            Path log = dir.resolve("proxy.log");
            ProcessBuilder builder = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(log.toFile());
            builder.environment().remove("JOURNAL_STREAM");
            builder.environment().remove("SMTP_TLS_PROXY_LOG_FORMAT");
            builder.environment().putAll(environment);
            Process proxy = builder.start();
            try {
                awaitLog(log, "running;", proxy);
                try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                    client.connect("127.0.0.1", port);
                    client.ehlo("printer.example");
                    assertEquals(250, client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE).code());
                    client.quit();
                }
                awaitLog(log, "relayed", proxy);
                proxy.destroy();
                assertTrue(proxy.waitFor(30, TimeUnit.SECONDS), Files.readString(log));
                assertEquals(0, proxy.exitValue(), Files.readString(log));
                return Files.readString(log);
            } finally {
                proxy.destroyForcibly();
            }
        }
    }

    @Test
    void textStaysTheDefaultWithTimestampsAndKeyValueLines() throws Exception {
        String log = runAndRelay("", ProxyJar.command(), Map.of());
        String transaction = log.lines().filter(l -> l.contains(" transactions session=")).findFirst().orElseThrow();
        assertTrue(transaction.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\S+ INFO  transactions session=\\S+ "
                + "client=127\\.0\\.0\\.1:\\d+ listener=plain in_tls=none .* outcome=relayed reason=none"), transaction);
        assertTrue(log.contains("draining for up to 30s"), "durations as the config writes them: " + log);
    }

    /**
     * systemd connects the service's output to journald and says so in JOURNAL_STREAM (device and
     * inode of that stream). The shell plays systemd: it names its own standard output.
     */
    @Test
    void underJournaldEveryLineCarriesItsPriorityAndNoTimestamp() throws Exception {
        String java = String.join(" ", ProxyJar.command().stream().map(ProxyJar::shellQuote).toList());
        List<String> command = List.of("sh", "-c", "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1) exec " + java + " \"$@\"", "sh");
        String log = runAndRelay("", command, Map.of());
        List<String> lines = log.lines().filter(l -> !l.isBlank()).toList();
        assertFalse(lines.isEmpty());
        for (String line : lines) {
            assertTrue(line.matches("<[3467]>.*"), "no priority: " + line + "\n" + log);
            assertFalse(TIMESTAMP.matcher(line).find(), "journald stamps lines itself: " + line);
        }
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("<6>INFO  transactions session=")), log);
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("<6>INFO  RunCommand SIGTERM: draining for up to 30s")), log);
    }

    @Test
    void jsonLogsCarryTheTransactionFieldsAsFields() throws Exception {
        String log = runAndRelay("logging:\n  format: json", ProxyJar.command(), Map.of());
        List<String> lines = log.lines().filter(l -> !l.isBlank()).toList();
        String transaction = lines.stream().filter(l -> l.contains("\"logger\":\"transactions\"")).findFirst()
                .orElseThrow(() -> new AssertionError(log));
        Map<String, Object> fields = parseJson(transaction);
        assertEquals("INFO", fields.get("level"));
        assertEquals("plain", fields.get("listener"));
        assertTrue(((String) fields.get("client")).startsWith("127.0.0.1:"), transaction);
        assertEquals("none", fields.get("in_tls"), "a plaintext session: " + transaction);
        assertTrue(((String) fields.get("out_tls")).startsWith("TLSv1."), transaction);
        assertEquals("a@legacy.example", fields.get("from"));
        assertEquals(1, ((Number) fields.get("rcpts")).intValue());
        assertEquals(1, ((Number) fields.get("accepted")).intValue());
        assertTrue(((Number) fields.get("size")).longValue() > 0);
        assertTrue(((String) fields.get("reply")).startsWith("250 "), transaction);
        assertEquals("relayed", fields.get("outcome"));
        assertEquals("none", fields.get("reason"));
        assertTrue(fields.containsKey("time") && fields.containsKey("session") && fields.containsKey("ms"), transaction);
        assertFalse(fields.containsKey("message"), "the fields are the message: " + transaction);
        for (String line : lines) {
            assertTrue(line.startsWith("{") && line.endsWith("}"), "every line is one JSON object: " + line);
            parseJson(line);
        }
        assertTrue(log.contains("\"message\":\"SIGTERM: draining for up to 30s\""), log);
    }

    @Test
    void theEnvironmentChoosesJsonWithoutTheConfig() throws Exception {
        String log = runAndRelay("", ProxyJar.command(), Map.of("SMTP_TLS_PROXY_LOG_FORMAT", "json"));
        String transaction = log.lines().filter(l -> l.contains("\"logger\":\"transactions\"")).findFirst()
                .orElseThrow(() -> new AssertionError(log));
        assertEquals("relayed", parseJson(transaction).get("outcome"));
    }

    private static void awaitLog(Path log, String text, Process proxy) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            String content = Files.exists(log) ? Files.readString(log) : "";
            if (content.contains(text)) {
                return;
            }
            if (!proxy.isAlive()) {
                throw new AssertionError("proxy exited (" + proxy.exitValue() + "): " + content);
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no '" + text + "' in the log: " + Files.readString(log));
    }

    /** Python's json module when it is installed (a strict parser); SnakeYAML's reading of it otherwise. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> parseJson(String line) throws Exception {
        if (ProxyJar.installed("python3")) {
            Process python = new ProcessBuilder("python3", "-c",
                    "import json,sys; o=json.loads(sys.stdin.read()); assert isinstance(o, dict); print(json.dumps(o))")
                    .redirectErrorStream(true).start();
            try (var in = python.getOutputStream()) {
                in.write(line.getBytes(StandardCharsets.UTF_8));
            }
            String normalized = new String(python.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(python.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, python.exitValue(), "not JSON: " + line + "\n" + normalized);
        }
        Object parsed = new Yaml(new LoaderOptions()).load(line);
        assertTrue(parsed instanceof Map, line);
        return (Map<String, Object>) parsed;
    }
}
