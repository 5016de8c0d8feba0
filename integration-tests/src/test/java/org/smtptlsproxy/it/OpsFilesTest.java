package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.spool.SpoolFiles;
import org.smtptlsproxy.spool.SpoolMetrics;
import org.smtptlsproxy.spool.SpoolSettings;
import org.smtptlsproxy.spool.SpoolStore;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * What ships beside the code: the Grafana dashboard and alert rules query only metrics the proxy
 * really exports (a renamed metric would silently empty a panel or disarm an alert); the licence
 * is in the jar, the archive and the Debian package; the systemd unit is the hardened notify unit
 * in all of them.
 */
@Timeout(60)
class OpsFilesTest {

    private static final Path PACKAGING = Path.of("..", "packaging");
    private static final Path TARGET = Path.of("..", "proxy-server", "target");
    private static final String VERSION = System.getProperty("smtp-tls-proxy.version", "*");
    /** jdeb turns 1.0-SNAPSHOT into 1.0~SNAPSHOT, which Debian sorts before the release 1.0. */
    private static final String DEB = "smtp-tls-proxy_" + VERSION.replace('-', '~') + "_all.deb";
    private static final Pattern METRIC = Pattern.compile("\\b((?:smtp_proxy|netty|jvm|process)_[a-z0-9_]+)");

    @SuppressWarnings("unchecked")
    @Test
    void dashboardAndAlertRulesQueryOnlyExportedMetrics(@TempDir Path spoolDir) throws Exception {
        Yaml yaml = new Yaml(new LoaderOptions());
        Map<String, Object> dashboard = yaml.load(Files.readString(PACKAGING.resolve("grafana/smtp-tls-proxy.json")));
        List<Map<String, Object>> panels = (List<Map<String, Object>>) dashboard.get("panels");
        assertFalse(panels.isEmpty());
        List<String> expressions = new ArrayList<>();
        Set<Object> ids = new HashSet<>();
        for (Map<String, Object> panel : panels) {
            assertTrue(ids.add(panel.get("id")), "panel ids are unique");
            assertNotNull(panel.get("gridPos"), "every panel has a place");
            for (Map<String, Object> target : (List<Map<String, Object>>) panel.get("targets")) {
                expressions.add((String) target.get("expr"));
            }
        }
        Map<String, Object> rules = yaml.load(Files.readString(PACKAGING.resolve("prometheus/smtp-tls-proxy.rules.yml")));
        int alerts = 0;
        for (Map<String, Object> group : (List<Map<String, Object>>) rules.get("groups")) {
            for (Map<String, Object> rule : (List<Map<String, Object>>) group.get("rules")) {
                assertNotNull(rule.get("alert"));
                assertNotNull(((Map<String, Object>) rule.get("labels")).get("severity"), rule.get("alert") + " severity");
                assertNotNull(((Map<String, Object>) rule.get("annotations")).get("summary"), rule.get("alert") + " summary");
                expressions.add((String) rule.get("expr"));
                alerts++;
            }
        }
        assertTrue(alerts >= 4);

        Set<String> exported = new HashSet<>();
        try (ProxyFixture fixture = ProxyFixture.builder()
                .upstreamReply("RCPT TO:<NOBODY@", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found").start()) {
            try (SmtpTestClient client = fixture.connect("starttls")) {
                client.ehlo("sender.example");
                client.startTls(fixture.trust("TLSv1"));
                client.ehlo("sender.example");
                // An Exchange reply with a reason, so that smtp_proxy_upstream_replies_total has one too.
                assertEquals(250, client.command("MAIL FROM:<a@legacy.example>").code());
                assertEquals(550, client.command("RCPT TO:<nobody@contoso.example>").code());
                assertEquals(250, client.command("RSET").code());
                RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            }
            exported.addAll(exportedNames(fixture.metrics()));
        }
        // Metrics that exist only with XOAUTH2 configured: a second proxy with a local token endpoint.
        HttpServer tokens = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        tokens.createContext("/token", exchange -> {
            exchange.getRequestBody().readAllBytes();
            byte[] body = "{\"access_token\":\"t\",\"expires_in\":3600}".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        tokens.start();
        try (ProxyFixture fixture = ProxyFixture.builder()
                .requireUpstreamXoauth2("relay@contoso.example", "t")
                .upstream("auth:")
                .upstream("  mechanism: xoauth2")
                .upstream("  username: relay@contoso.example")
                .upstream("  oauth2:")
                .upstream("    token_endpoint: http://127.0.0.1:" + tokens.getAddress().getPort() + "/token")
                .upstream("    client_id: app")
                .upstream("    client_secret_file: secret")
                .file("secret", "s")
                .start()) {
            exported.addAll(exportedNames(fixture.metrics()));
        } finally {
            tokens.stop(0);
        }
        // The spool's meters: no listener can spool yet, so the proxy's own SpoolMetrics on a real
        // store, scraped by the registry type the proxy serves (the names are Micrometer's to make).
        PrometheusMeterRegistry spoolRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        SpoolSettings spool = new SpoolSettings(spoolDir, 1L << 20, 10, true, 1);
        try (SpoolStore store = SpoolStore.open(spool, SpoolFiles.disk(), Clock.systemUTC(), new SpoolMetrics(spoolRegistry))) {
            exported.addAll(exportedNames(spoolRegistry.scrape()));
        }
        int checked = 0;
        for (String expression : expressions) {
            Matcher m = METRIC.matcher(expression);
            while (m.find()) {
                assertTrue(exported.contains(m.group(1)), m.group(1) + " is not exported (used in: " + expression + ")");
                checked++;
            }
        }
        assertTrue(checked > 20, "the check looked at the queries: " + checked);
        for (String wanted : List.of("smtp_proxy_upstream_replies_total", "smtp_proxy_auth_total",
                "smtp_proxy_tls_sessions_resumed_total", "smtp_proxy_message_bytes_sum", "smtp_proxy_oauth2_token_expiry_seconds",
                "jvm_memory_used_bytes", "process_cpu_usage", "smtp_proxy_certificate_expiry_timestamp_seconds",
                "smtp_proxy_tls_handshake_cipher_seconds_count", "smtp_proxy_tls_inbound_handshakes_total",
                "smtp_proxy_spool_messages", "smtp_proxy_spool_size_bytes", "smtp_proxy_spool_oldest_age_seconds",
                "smtp_proxy_spool_delivery_attempts_total")) {
            assertTrue(dashboardExpressions(dashboard).stream().anyMatch(e -> e.contains(wanted)), "a dashboard panel shows " + wanted);
        }
    }

    private static Set<String> exportedNames(String scrape) {
        Set<String> names = new HashSet<>();
        for (String line : scrape.split("\n")) {
            if (!line.startsWith("#") && !line.isBlank()) {
                names.add(line.split("[{ ]", 2)[0]);
            }
        }
        return names;
    }

    @SuppressWarnings("unchecked")
    private static List<String> dashboardExpressions(Map<String, Object> dashboard) {
        List<String> expressions = new ArrayList<>();
        for (Map<String, Object> panel : (List<Map<String, Object>>) dashboard.get("panels")) {
            for (Map<String, Object> target : (List<Map<String, Object>>) panel.get("targets")) {
                expressions.add((String) target.get("expr"));
            }
        }
        return expressions;
    }

    /**
     * The rules work for any scrape job name, every alert links a section of
     * docs/TROUBLESHOOTING.md that exists, and rules.test.yml exercises every alert (CI runs it
     * with promtool).
     */
    @SuppressWarnings("unchecked")
    @Test
    void everyAlertIsJobAgnosticHasARunbookAndAPromtoolTest() throws Exception {
        Yaml yaml = new Yaml(new LoaderOptions());
        String rulesText = Files.readString(PACKAGING.resolve("prometheus/smtp-tls-proxy.rules.yml"));
        Map<String, Object> rules = yaml.load(rulesText);
        Set<String> anchors = new HashSet<>();
        for (String line : Files.readAllLines(Path.of("..", "docs", "TROUBLESHOOTING.md"))) {
            if (line.startsWith("## ")) {
                anchors.add(githubAnchor(line.substring(3)));
            }
        }
        Map<String, Object> tests = yaml.load(Files.readString(PACKAGING.resolve("prometheus/rules.test.yml")));
        assertEquals(List.of("smtp-tls-proxy.rules.yml"), tests.get("rule_files"));
        Set<String> tested = new HashSet<>();
        for (Map<String, Object> test : (List<Map<String, Object>>) tests.get("tests")) {
            for (Map<String, Object> check : (List<Map<String, Object>>) test.get("alert_rule_test")) {
                if (!((List<?>) check.get("exp_alerts")).isEmpty()) {
                    tested.add((String) check.get("alertname"));
                }
            }
        }
        int alerts = 0;
        for (Map<String, Object> group : (List<Map<String, Object>>) rules.get("groups")) {
            for (Map<String, Object> rule : (List<Map<String, Object>>) group.get("rules")) {
                String alert = (String) rule.get("alert");
                String expr = (String) rule.get("expr");
                assertFalse(expr.contains("job="), alert + " must not depend on the scrape job's name: " + expr);
                String runbook = (String) ((Map<String, Object>) rule.get("annotations")).get("runbook_url");
                assertNotNull(runbook, alert + " runbook_url");
                assertTrue(runbook.startsWith("docs/TROUBLESHOOTING.md#"), runbook);
                String anchor = runbook.substring(runbook.indexOf('#') + 1);
                assertTrue(anchors.contains(anchor), alert + ": no section for #" + anchor + " in " + anchors);
                assertTrue(tested.contains(alert), alert + " fires in no test of rules.test.yml");
                alerts++;
            }
        }
        assertTrue(alerts >= 10, "alerts: " + alerts);
    }

    /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
    static String githubAnchor(String heading) {
        return heading.strip().toLowerCase(java.util.Locale.ROOT).replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-');
    }

    @Test
    void licenceAndMergedNoticeShipInTheJarTheArchiveAndThePackage(@TempDir Path dir) throws Exception {
        String licence = Files.readString(Path.of("..", "LICENSE"));
        assertTrue(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004"), "LICENSE is Apache-2.0");
        assertTrue(Files.readString(Path.of("..", "pom.xml")).contains("<name>Apache-2.0</name>"), "<licenses> in the POM");

        Path jar = TARGET.resolve("smtp-tls-proxy.jar");
        assertTrue(Files.exists(jar), "build proxy-server first: " + jar);
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            assertEquals(licence, entry(zip, "META-INF/LICENSE"));
            assertMergedNotice(entry(zip, "META-INF/NOTICE"));
            assertTrue(entry(zip, "META-INF/license/LICENSE.bouncycastle.txt").contains("Bouncy Castle"));
            assertNull(zip.getEntry("META-INF/NOTICE.txt"), "every NOTICE merged into one");
        }

        Path archive = single(TARGET, "smtp-tls-proxy-" + VERSION + ".tar.gz");
        Path unpacked = Files.createDirectories(dir.resolve("archive"));
        run("tar", "xzf", archive.toString(), "-C", unpacked.toString());
        Path home = single(unpacked, "smtp-tls-proxy-" + VERSION);
        assertEquals(licence, Files.readString(home.resolve("LICENSE")));
        assertMergedNotice(Files.readString(home.resolve("NOTICE")));
        for (String file : List.of("licenses/LICENSE.bouncycastle.txt", "CHANGELOG.md", "sysusers.d/smtp-tls-proxy.conf",
                "tmpfiles.d/smtp-tls-proxy.conf", "systemd/smtp-tls-proxy.service", "bin/smtp-tls-proxy", "lib/smtp-tls-proxy.jar")) {
            assertTrue(Files.exists(home.resolve(file)), "the archive has " + file);
        }

        Path deb = single(TARGET, DEB);
        Path root = Files.createDirectories(dir.resolve("deb"));
        run("dpkg-deb", "-x", deb.toString(), root.toString());
        Path doc = root.resolve("usr/share/doc/smtp-tls-proxy");
        assertEquals(licence, Files.readString(doc.resolve("LICENSE")));
        assertMergedNotice(Files.readString(doc.resolve("NOTICE")));
        assertTrue(Files.readString(doc.resolve("copyright")).contains("License: Apache-2.0"));
        assertTrue(Files.exists(doc.resolve("changelog.gz")));
        assertTrue(run("dpkg-deb", "-f", deb.toString(), "Depends").contains("java17-runtime-headless"));
        assertEquals("/etc/smtp-tls-proxy/config.yaml", run("dpkg-deb", "--info", deb.toString(), "conffiles").strip(),
                "the config is a conffile: an upgrade never overwrites it");
    }

    @Test
    void theUnitIsAHardenedNotifyServiceInTheArchiveAndThePackage(@TempDir Path dir) throws Exception {
        String unit = Files.readString(PACKAGING.resolve("systemd/smtp-tls-proxy.service"));
        for (String line : List.of("Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "SystemCallFilter=@system-service",
                "ProtectProc=invisible", "PrivateMounts=yes", "RemoveIPC=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE", "Restart=on-failure",
                "ExecStart=/opt/smtp-tls-proxy/current/bin/smtp-tls-proxy run --config /etc/smtp-tls-proxy/config.yaml")) {
            assertTrue(unit.lines().anyMatch(line::equals), "the unit has " + line);
        }
        // The JIT writes code and runs it: W^X would kill the JVM.
        assertTrue(unit.lines().noneMatch(line -> line.startsWith("MemoryDenyWriteExecute=yes")));
        assertTrue(Files.readString(Path.of("..", "proxy-server", "src", "dist", "bin", "smtp-tls-proxy"))
                .contains("-XX:+ExitOnOutOfMemoryError"), "the launcher makes an out-of-memory JVM exit");

        Path deb = single(TARGET, DEB);
        run("dpkg-deb", "-x", deb.toString(), dir.toString());
        String packaged = Files.readString(dir.resolve("lib/systemd/system/smtp-tls-proxy.service"));
        assertTrue(packaged.contains("ExecStart=/usr/bin/smtp-tls-proxy run --config /etc/smtp-tls-proxy/config.yaml"));
        assertEquals(settings(unit).replace("/opt/smtp-tls-proxy/current/bin/", "/usr/bin/"), settings(packaged),
                "the package's unit differs from the archive's only in the launcher's path");
        assertEquals("../share/smtp-tls-proxy/bin/smtp-tls-proxy",
                Files.readSymbolicLink(dir.resolve("usr/bin/smtp-tls-proxy")).toString());
    }

    private static String settings(String unit) {
        return unit.lines().filter(line -> !line.startsWith("#")).collect(Collectors.joining("\n"));
    }

    private static void assertMergedNotice(String notice) {
        assertTrue(notice.startsWith("smtp-tls-proxy") || notice.contains("\nsmtp-tls-proxy\n"), notice);
        // One from netty-tcnative's NOTICE.txt, one from Micrometer's NOTICE: both survive the merge.
        assertTrue(notice.contains("The Netty Project"), "netty-tcnative's NOTICE merged");
        assertTrue(notice.contains("Micrometer"), "Micrometer's NOTICE merged");
    }

    private static String entry(ZipFile zip, String name) throws IOException {
        ZipEntry entry = zip.getEntry(name);
        assertNotNull(entry, name + " in the jar");
        try (InputStream in = zip.getInputStream(entry)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static Path single(Path dir, String glob) throws IOException {
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir, glob)) {
            stream.forEach(found::add);
        }
        assertEquals(1, found.size(), glob + " in " + dir + ": " + found);
        return found.get(0);
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), String.join(" ", command) + ": " + output);
        return output;
    }
}
