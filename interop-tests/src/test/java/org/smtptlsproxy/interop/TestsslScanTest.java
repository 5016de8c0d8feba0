package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * testssl.sh against the proxy's inbound TLS, as an auditor would run it: the STARTTLS listener
 * ({@code --starttls smtp}) and the implicit-TLS listener. Protocols, cipher categories, forward
 * secrecy and the vulnerability checks; the certificate checks are left out (the test CA is
 * untrusted by design). Any finding rated HIGH or CRITICAL fails the test. The legacy protocols
 * the proxy offers on purpose (TLS 1.0/1.1) are rated lower than that by testssl.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(300)
class TestsslScanTest {

    /** One finding of testssl's flat JSON output ({@code --jsonfile}). */
    record Finding(String id, String severity, String finding) {
    }

    private static final Pattern FINDING = Pattern.compile(
            "\"id\"\\s*:\\s*\"([^\"]*)\".*?\"severity\"\\s*:\\s*\"([^\"]*)\".*?\"finding\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"",
            Pattern.DOTALL);

    private static InteropEnvironment env;

    @BeforeAll
    static void startProxy(InteropEnvironment environment) throws Exception {
        Tools.TESTSSL.require();
        env = environment;
        env.proxy();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"starttls", "smtps"})
    void noHighOrCriticalFinding(String listener) throws Exception {
        Path dir = env.directory("testssl-" + listener);
        Path json = dir.resolve("testssl.json");
        List<String> command = new ArrayList<>(List.of(Tools.TESTSSL.require(),
                "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
                "--connect-timeout", "10", "--openssl-timeout", "10",
                "--protocols", "--std", "--fs", "--vulnerable",
                "--jsonfile", json.toString()));
        if (listener.equals("starttls")) {
            command.addAll(List.of("--starttls", "smtp"));
        }
        command.add("127.0.0.1:" + env.proxy().port(listener));
        long start = System.nanoTime();
        Exec.Result result = Exec.run(Duration.ofSeconds(280), command);
        long seconds = Duration.ofNanos(System.nanoTime() - start).toSeconds();
        assertTrue(Files.exists(json), "testssl wrote no JSON:\n" + result.describe());
        List<Finding> findings = parse(Files.readString(json, StandardCharsets.UTF_8));
        assertTrue(findings.size() > 10, "testssl produced findings:\n" + result.describe());
        Map<String, Integer> bySeverity = new TreeMap<>();
        findings.forEach(f -> bySeverity.merge(f.severity(), 1, Integer::sum));
        System.out.println("testssl " + listener + " listener (" + seconds + " s): " + bySeverity);
        findings.stream().filter(f -> !List.of("OK", "INFO", "DEBUG").contains(f.severity()))
                .forEach(f -> System.out.println("  " + f.severity() + " " + f.id() + ": " + f.finding()));
        List<Finding> severe = findings.stream()
                .filter(f -> f.severity().equals("HIGH") || f.severity().equals("CRITICAL")).toList();
        assertEquals(List.of(), severe, "testssl rated these HIGH or CRITICAL:\n" + result.output());
        // The scan really reached TLS: the protocol check saw TLS 1.2 offered.
        assertTrue(findings.stream().anyMatch(f -> f.id().equals("TLS1_2") && f.finding().startsWith("offered")),
                "testssl saw TLS 1.2 offered:\n" + result.output());
    }

    static List<Finding> parse(String json) {
        List<Finding> findings = new ArrayList<>();
        for (String object : json.split("\\}")) {
            Matcher matcher = FINDING.matcher(object);
            if (matcher.find()) {
                findings.add(new Finding(matcher.group(1), matcher.group(2), matcher.group(3)));
            }
        }
        return findings;
    }
}
