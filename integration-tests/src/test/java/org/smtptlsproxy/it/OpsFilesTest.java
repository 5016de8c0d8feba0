package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.testkit.SmtpTestClient;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * The shipped Grafana dashboard and alert rules parse, and every metric they query is one the
 * proxy really exports (a renamed metric would silently empty a panel or disarm an alert).
 */
@Timeout(60)
class OpsFilesTest {

    private static final Path PACKAGING = Path.of("..", "packaging");
    private static final Pattern METRIC = Pattern.compile("\\b((?:smtp_proxy|netty|jvm|process)_[a-z0-9_]+)");

    @SuppressWarnings("unchecked")
    @Test
    void dashboardAndAlertRulesQueryOnlyExportedMetrics() throws Exception {
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

        try (ProxyFixture fixture = ProxyFixture.builder().start()) {
            try (SmtpTestClient client = fixture.connect("starttls")) {
                client.ehlo("sender.example");
                client.startTls(fixture.trust("TLSv1"));
                client.ehlo("sender.example");
                RelayTest.assertRelayed(fixture, RelayTest.send(client), 0);
            }
            String scrape = fixture.metrics();
            Set<String> exported = new HashSet<>();
            for (String line : scrape.split("\n")) {
                if (!line.startsWith("#") && !line.isBlank()) {
                    exported.add(line.split("[{ ]", 2)[0]);
                }
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
        }
    }
}
