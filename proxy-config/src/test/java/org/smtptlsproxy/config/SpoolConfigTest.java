package org.smtptlsproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code spool:} block and the listeners' {@code delivery:} (issue 13). */
class SpoolConfigTest {

    @TempDir
    Path dir;

    private static final String UPSTREAM = """
            upstream:
              host: contoso-com.mail.protection.outlook.com
            """;

    private ProxyConfig load(String yaml) throws ConfigException {
        return new ConfigLoader(Map.of()).load(yaml, dir);
    }

    private List<String> problems(String yaml) {
        ConfigException e = assertThrows(ConfigException.class, () -> load(yaml));
        return e.problems().stream().map(ConfigProblem::toString).toList();
    }

    @Test
    void withoutTheKeysListenersCutThroughAndThereIsNoSpool() throws Exception {
        ProxyConfig config = load("listeners:\n  - address: 127.0.0.1:2525\n" + UPSTREAM);
        assertEquals(DeliveryMode.CUT_THROUGH, config.listeners().get(0).delivery());
        assertFalse(config.spool().configured());
        assertFalse(config.spools());
    }

    @Test
    void spoolBlockBindsWithItsDefaults() throws Exception {
        ProxyConfig config = load("""
                listeners:
                  - name: printers
                    address: 127.0.0.1:2525
                    delivery: spool
                  - name: mta
                    address: 127.0.0.1:2526
                    delivery: cut_through
                spool:
                  directory: spool
                """ + UPSTREAM);
        assertEquals(DeliveryMode.SPOOL, config.listeners().get(0).delivery());
        assertEquals(DeliveryMode.CUT_THROUGH, config.listeners().get(1).delivery());
        assertTrue(config.spools());
        SpoolConfig spool = config.spool();
        assertEquals(dir.resolve("spool"), spool.directory(), "relative to the config file");
        assertEquals(1L << 30, spool.maxSize().bytes());
        assertEquals(10_000, spool.maxMessages());
        assertEquals(Duration.ofDays(5), spool.maxAge());
        assertEquals(BounceMode.DSN, spool.bounce());
        assertEquals(Duration.ofMinutes(1), spool.retryFirst());
        assertEquals(Duration.ofHours(1), spool.retryMax());
    }

    @Test
    void everySpoolKeyBinds() throws Exception {
        SpoolConfig spool = load("""
                listeners:
                  - address: 127.0.0.1:2525
                spool:
                  directory: /var/spool/smtp-tls-proxy
                  max_size: 20GB
                  max_messages: 50000
                  max_age: 2d
                  bounce: log_only
                  retry:
                    first: 30s
                    max: 2h
                """ + UPSTREAM).spool();
        assertEquals(Path.of("/var/spool/smtp-tls-proxy"), spool.directory());
        assertEquals(20L << 30, spool.maxSize().bytes());
        assertEquals(50_000, spool.maxMessages());
        assertEquals(Duration.ofDays(2), spool.maxAge());
        assertEquals(BounceMode.LOG_ONLY, spool.bounce());
        assertEquals(Duration.ofSeconds(30), spool.retryFirst());
        assertEquals(Duration.ofHours(2), spool.retryMax());
    }

    @Test
    void mistakesAreReportedWithPathAndLine() throws Exception {
        Files.writeString(dir.resolve("afile"), "x");
        List<String> problems = problems("""
                listeners:
                  - address: 127.0.0.1:2525
                    delivery: queue
                  - address: 127.0.0.1:2526
                    delivery: spool
                spool:
                  max_sise: 1GB
                  max_messages: 0
                  max_age: 30s
                  bounce: never
                  retry:
                    first: 10m
                    max: 5m
                """ + UPSTREAM);
        List<String> expected = List.of(
                "listeners[0].delivery (line 3): 'queue' is not one of cut_through, spool",
                "listeners[1].delivery (line 5): delivery: spool needs spool.directory (where messages are kept until delivered)",
                "spool.max_sise (line 7): unknown key; did you mean 'max_size'?",
                "spool.max_age (line 9): must be at least 1m",
                "spool.bounce (line 10): 'never' is not one of dsn, log_only",
                "spool.retry.max (line 13): must not be shorter than retry.first (10m)");
        for (String problem : expected) {
            assertTrue(problems.contains(problem), problem + " in " + problems);
        }
        assertTrue(problems.stream().anyMatch(p -> p.startsWith("spool.max_messages (line 8): ")), problems.toString());
        assertTrue(problemsFor("spool:\n  directory: afile\n").stream().anyMatch(p -> p.contains("not a directory")));
    }

    private List<String> problemsFor(String spool) {
        return problems("listeners:\n  - address: 127.0.0.1:2525\n" + spool + UPSTREAM);
    }

    @Test
    void durationsTakeDays() {
        assertEquals(Duration.ofDays(5), Durations.parse("5d"));
    }
}
