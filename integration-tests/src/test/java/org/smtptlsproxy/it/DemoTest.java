package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code java -jar smtp-tls-proxy.jar demo} as a person runs it: its "try it yourself" lines
 * work as printed, and however it ends, its temporary folder (with the demo's private key) goes.
 */
@Timeout(120)
class DemoTest {

    private static final Pattern FOLDER = Pattern.compile("config\\s+(\\S+)/config\\.yaml");

    private record Running(Process process, ProxyJar.Output output, Path folder) {
    }

    /**
     * SIGINT is what Ctrl-C sends. A JVM leaves SIGINT alone when it starts with SIGINT ignored
     * (as under a background CI shell), so coreutils env gives the demo the default disposition
     * a terminal would.
     */
    private static Running startDemo() throws Exception {
        List<String> command = new ArrayList<>(List.of("env", "--default-signal=INT"));
        command.addAll(ProxyJar.command("demo"));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        ProxyJar.Output output = new ProxyJar.Output(process.getInputStream());
        String text = output.await(t -> t.contains("Messages end up in the local upstream"), Duration.ofSeconds(60), process);
        Matcher folder = FOLDER.matcher(text);
        assertTrue(folder.find(), text);
        Path path = Path.of(folder.group(1));
        assertTrue(Files.exists(path.resolve("proxy.key")), "the demo's key is in its folder while it runs: " + path);
        return new Running(process, output, path);
    }

    private static void awaitEnd(Running demo) throws Exception {
        try {
            assertTrue(demo.process().waitFor(30, TimeUnit.SECONDS), demo.output().text());
        } finally {
            demo.process().destroyForcibly();
        }
        assertFalse(Files.exists(demo.folder()), "left behind: " + demo.folder() + "\n" + demo.output().text());
    }

    private static String printedLine(String output, String containing) {
        return output.lines().filter(l -> l.contains(containing)).findFirst()
                .orElseThrow(() -> new AssertionError("no line with '" + containing + "': " + output)).strip();
    }

    private static String runShell(String line) throws Exception {
        Process process = new ProcessBuilder("sh", "-c", line).redirectErrorStream(true).start();
        ProxyJar.Output output = new ProxyJar.Output(process.getInputStream());
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), line + "\n" + output.text());
        Thread.sleep(100);
        assertEquals(0, process.exitValue(), line + "\n" + output.text());
        return output.text();
    }

    @Test
    void ctrlCRemovesTheFolderAndThePrintedLinesWorkAsPrinted() throws Exception {
        Running demo = startDemo();
        try {
            String text = demo.output().text();
            String probe = printedLine(text, " probe ").replaceAll("\\s+#.*$", "");
            assertTrue(probe.startsWith("java -jar " + ProxyJar.jar() + " probe "), probe);
            assertTrue(runShell(probe).contains("OK: a relay through"), probe);
            if (ProxyJar.installed("swaks")) {
                String legacy = printedLine(text, "--tls-protocol tlsv1");
                String swaks = runShell(legacy);
                assertTrue(swaks.contains("TLS started with cipher TLSv1:"), swaks);
                assertTrue(swaks.contains("250 2.6.0"), swaks);
                assertTrue(runShell(printedLine(text, "swaks --server")).contains("250 2.6.0"));
            }
            assertEquals(0, new ProcessBuilder("kill", "-INT", Long.toString(demo.process().pid())).start().waitFor());
        } finally {
            awaitEnd(demo);
        }
    }

    @Test
    void sigtermRemovesTheFolder() throws Exception {
        Running demo = startDemo();
        demo.process().destroy();
        awaitEnd(demo);
    }

    @Test
    void theProductionJarCarriesNoTestKit() throws Exception {
        List<String> testClasses = new ArrayList<>();
        try (JarFile jar = new JarFile(ProxyJar.jar().toFile())) {
            for (JarEntry entry : java.util.Collections.list(jar.entries())) {
                if (entry.getName().startsWith("org/smtptlsproxy/testkit/") || entry.getName().contains("greenmail")
                        || entry.getName().startsWith("org/junit/")) {
                    testClasses.add(entry.getName());
                }
            }
            assertTrue(jar.getEntry("org/smtptlsproxy/server/demo/Demo.class") != null, "the demo is in the jar");
        }
        assertEquals(List.of(), testClasses);
    }

    /** Logback before 1.5.35 is behind three published advisories (fixed in 1.5.25, 1.5.34, 1.5.35). */
    @Test
    void theJarShipsALogbackWithoutKnownAdvisories() throws Exception {
        try (JarFile jar = new JarFile(ProxyJar.jar().toFile())) {
            for (String module : List.of("logback-classic", "logback-core")) {
                JarEntry entry = jar.getJarEntry("META-INF/maven/ch.qos.logback/" + module + "/pom.properties");
                assertTrue(entry != null, module + " is in the jar");
                java.util.Properties properties = new java.util.Properties();
                try (var in = jar.getInputStream(entry)) {
                    properties.load(in);
                }
                String version = properties.getProperty("version");
                int[] parts = java.util.Arrays.stream(version.split("[.-]")).limit(3).mapToInt(Integer::parseInt).toArray();
                boolean fixed = parts[0] > 1 || (parts[0] == 1 && (parts[1] > 5 || (parts[1] == 5 && parts[2] >= 35)));
                assertTrue(fixed, module + " " + version + " predates 1.5.35");
            }
        }
    }
}
