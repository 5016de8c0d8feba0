package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/** The built {@code smtp-tls-proxy.jar}, run as an administrator runs it: {@code java -jar}. */
final class ProxyJar {

    static final Path JAR = Path.of("..", "proxy-server", "target", "smtp-tls-proxy.jar").toAbsolutePath().normalize();
    static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();

    private ProxyJar() {
    }

    static Path jar() {
        assertTrue(Files.exists(JAR), "build proxy-server first: " + JAR);
        return JAR;
    }

    /** {@code java -jar smtp-tls-proxy.jar ARGS...}. */
    static List<String> command(String... args) {
        List<String> command = new ArrayList<>(List.of(JAVA, "-jar", jar().toString()));
        command.addAll(List.of(args));
        return command;
    }

    static boolean installed(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }

    /** Single quotes for sh: paths in temporary directories are the only dynamic parts. */
    static String shellQuote(String text) {
        return "'" + text.replace("'", "'\\''") + "'";
    }

    /** Collects a stream on a daemon thread; {@link #await} waits for what a person would wait to see. */
    static final class Output {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        Output(InputStream in) {
            Thread reader = new Thread(() -> {
                byte[] buffer = new byte[4096];
                try {
                    int n;
                    while ((n = in.read(buffer)) >= 0) {
                        synchronized (bytes) {
                            bytes.write(buffer, 0, n);
                        }
                    }
                } catch (IOException closed) {
                    // the process ended
                }
            }, "output-reader");
            reader.setDaemon(true);
            reader.start();
        }

        String text() {
            synchronized (bytes) {
                return bytes.toString(StandardCharsets.UTF_8);
            }
        }

        String await(Predicate<String> condition, Duration timeout, Process process) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                String text = text();
                if (condition.test(text)) {
                    return text;
                }
                if (!process.isAlive()) {
                    Thread.sleep(200); // the last bytes
                    if (condition.test(text())) {
                        return text();
                    }
                    throw new AssertionError("process ended (" + process.exitValue() + ") before expected output: " + text());
                }
                Thread.sleep(50);
            }
            throw new AssertionError("expected output did not appear within " + timeout + ": " + text());
        }
    }
}
