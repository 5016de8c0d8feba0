package org.smtptlsproxy.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The real proxy in a JVM of its own, started the way operators start it
 * ({@code java [options] -jar smtp-tls-proxy.jar run --config FILE}), or from a class path with
 * the main class when the jar may not be packaged yet (tests). Its memory is read from outside
 * the process: {@code jcmd} for the heap after a full GC and a class histogram,
 * {@code /proc/PID/status} for RSS, and the proxy's own {@code /metrics} for Netty's buffers.
 *
 * <p>Ports: the config binds port 0; the bound ports are read back from the proxy's start-up log.
 */
public final class ProxyProcess implements AutoCloseable {

    private static final Pattern LISTENER = Pattern.compile("listener (\\S+) on \\S*:(\\d+) \\(tls");
    private static final Pattern METRICS = Pattern.compile("metrics on http://[^:]+:(\\d+)/metrics");
    private static final Pattern GEN_USED = Pattern.compile("total (\\d+)K, used (\\d+)K");
    private static final Pattern HISTOGRAM_ROW = Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)");
    private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("^Total\\s+(\\d+)\\s+(\\d+)");

    /** How to launch the proxy: a runnable jar, or a class path with the main class. */
    public record Launcher(Path jar, String classPath) {

        public static Launcher jar(Path jar) {
            return new Launcher(jar, null);
        }

        /** This JVM's own class path: always the code just compiled, packaged or not. */
        public static Launcher currentClassPath() {
            return new Launcher(null, System.getProperty("java.class.path"));
        }

        List<String> command(List<String> jvmOptions, Path config) {
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.addAll(jvmOptions);
            if (jar != null) {
                command.add("-jar");
                command.add(jar.toString());
            } else {
                command.add("-cp");
                command.add(classPath);
                command.add("org.smtptlsproxy.server.Main");
            }
            command.add("run");
            command.add("--config");
            command.add(config.toString());
            return command;
        }

        @Override
        public String toString() {
            return jar != null ? "-jar " + jar : "-cp <class path> org.smtptlsproxy.server.Main";
        }
    }

    /**
     * The proxy's memory at one moment. Sizes in bytes; -1 when unavailable.
     *
     * @param heapUsed      heap in use right after a full GC ({@code jcmd GC.run}, {@code GC.heap_info})
     * @param liveObjects   bytes of live objects per {@code GC.class_histogram} (which also collects first)
     * @param rss           VmRSS
     * @param peakRss       VmHWM: the highest RSS since start
     * @param nettyDirect   Netty allocator direct memory in use ({@code netty_allocator_memory_used}); the JDK figure includes it
     *                      when Netty allocates through {@code ByteBuffer.allocateDirect} (its default on Java 17)
     * @param jdkDirect     the JDK's direct buffer pool ({@code jvm_buffer_memory_used_bytes{id="direct"}})
     * @param histogram     class name to {instances, bytes}; empty when not taken
     */
    public record Sample(long heapUsed, long liveObjects, long rss, long peakRss, long nettyDirect, long jdkDirect,
                         Map<String, long[]> histogram) {
    }

    private final Process process;
    private final Thread killOnExit;
    private final Path log;
    private final Map<String, Integer> listenerPorts;
    private final int metricsPort;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private ProxyProcess(Process process, Thread killOnExit, Path log, Map<String, Integer> listenerPorts, int metricsPort) {
        this.process = process;
        this.killOnExit = killOnExit;
        this.log = log;
        this.listenerPorts = listenerPorts;
        this.metricsPort = metricsPort;
    }

    /**
     * Starts the proxy and waits (at most {@code timeout}) until every listener is bound.
     *
     * @param listeners how many listeners the config has: start-up is complete once all are logged
     */
    public static ProxyProcess start(Launcher launcher, List<String> jvmOptions, Path config, int listeners, Path log,
                                     Duration timeout) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(launcher.command(jvmOptions, config))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        // If this JVM is stopped (Ctrl-C, a script's timeout), the proxy must not outlive it.
        Thread killOnExit = new Thread(process::destroyForcibly, "kill-proxy-" + process.pid());
        Runtime.getRuntime().addShutdownHook(killOnExit);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            String text = new String(Files.readAllBytes(log), StandardCharsets.UTF_8); // lenient: the log is being written
            Map<String, Integer> ports = new LinkedHashMap<>();
            Matcher m = LISTENER.matcher(text);
            while (m.find()) {
                ports.put(m.group(1), Integer.parseInt(m.group(2)));
            }
            Matcher metrics = METRICS.matcher(text);
            if (ports.size() >= listeners && metrics.find()) {
                return new ProxyProcess(process, killOnExit, log, ports, Integer.parseInt(metrics.group(1)));
            }
            if (!process.isAlive()) {
                throw new IOException("the proxy exited with " + process.exitValue() + " during start-up:\n" + tail(log));
            }
            Thread.sleep(100);
        }
        process.destroyForcibly();
        throw new IOException("the proxy did not start within " + timeout + ":\n" + tail(log));
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public int listenerPort(String name) {
        Integer port = listenerPorts.get(name);
        if (port == null) {
            throw new IllegalArgumentException("no listener " + name + " in " + listenerPorts);
        }
        return port;
    }

    public Path log() {
        return log;
    }

    /** GET on the proxy's HTTP endpoint; the status code, or -1 when it does not answer. */
    public int httpStatus(String path) {
        try {
            return http.send(request(path), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** The Prometheus text of {@code /metrics}. */
    public String metrics() throws IOException, InterruptedException {
        return http.send(request("/metrics"), HttpResponse.BodyHandlers.ofString()).body();
    }

    private HttpRequest request(String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + path))
                .timeout(Duration.ofSeconds(10)).build();
    }

    /** Sum of the samples of {@code name} whose label set contains {@code labelPart} (may be empty). */
    public static double metricSum(String metricsText, String name, String labelPart) {
        double sum = 0;
        boolean found = false;
        for (String line : metricsText.split("\n")) {
            if (line.startsWith("#") || !line.startsWith(name)) {
                continue;
            }
            int space = line.lastIndexOf(' ');
            String series = line.substring(0, space);
            boolean sameName = series.equals(name) || series.startsWith(name + "{");
            if (sameName && series.contains(labelPart)) {
                sum += Double.parseDouble(line.substring(space + 1));
                found = true;
            }
        }
        return found ? sum : Double.NaN;
    }

    /** Polls {@code smtp_proxy_connections_active} until it equals {@code expected}; the last value seen. */
    public long awaitActiveConnections(long expected, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long seen = -1;
        while (System.nanoTime() < deadline) {
            seen = (long) metricSum(metrics(), "smtp_proxy_connections_active", "");
            if (seen == expected) {
                return seen;
            }
            Thread.sleep(200);
        }
        return seen;
    }

    /**
     * Full GC, then heap used, RSS and Netty's direct memory; with {@code histogram} also the
     * live-object histogram (a second full GC). With {@code finalize}, pending finalizers run
     * between two full GCs first: objects that are garbage but finalizable (BoringSSL engines of a
     * {@code SslProvider.OPENSSL} context have a finalizer) survive one GC and would otherwise
     * count as live.
     */
    public Sample sample(boolean histogram, boolean finalize) throws IOException, InterruptedException {
        List<String> commands = new ArrayList<>(finalize ? List.of("GC.run", "GC.run_finalization", "GC.run") : List.of("GC.run"));
        commands.add("GC.heap_info");
        if (histogram) {
            commands.add("GC.class_histogram");
        }
        // One attach for all of it (jcmd -f): each jcmd is a JVM start, slow on a busy machine.
        String text = jcmd(commands.toArray(String[]::new));
        long heapUsed = -1;
        long live = -1;
        Map<String, long[]> classes = new HashMap<>();
        if (text != null) {
            Matcher m = GEN_USED.matcher(text);
            long used = 0;
            boolean any = false;
            while (m.find()) { // G1 prints one line for the heap; generational collectors one per generation
                used += Long.parseLong(m.group(2)) * 1024;
                any = true;
            }
            heapUsed = any ? used : -1;
            for (String line : text.split("\n")) {
                Matcher row = HISTOGRAM_ROW.matcher(line);
                if (row.find()) {
                    classes.put(row.group(3), new long[] {Long.parseLong(row.group(1)), Long.parseLong(row.group(2))});
                }
                Matcher total = HISTOGRAM_TOTAL.matcher(line);
                if (total.find()) {
                    live = Long.parseLong(total.group(2));
                }
            }
        }
        String metrics = metrics();
        double nettyDirect = metricSum(metrics, "netty_allocator_memory_used", "memory_type=\"direct\"");
        double jdkDirect = metricSum(metrics, "jvm_buffer_memory_used_bytes", "id=\"direct\"");
        return new Sample(heapUsed, live, procStatus(pid(), "VmRSS"), procStatus(pid(), "VmHWM"),
                Double.isNaN(nettyDirect) ? -1 : (long) nettyDirect, Double.isNaN(jdkDirect) ? -1 : (long) jdkDirect,
                classes);
    }

    /** A {@code kB} field of {@code /proc/PID/status} in bytes, or -1. */
    public static long procStatus(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith(field + ":")) {
                    String[] parts = line.substring(field.length() + 1).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Runs {@code commands} in one {@code jcmd PID -f FILE} (bounded to a minute); the output, or null on failure. */
    private String jcmd(String... commands) throws IOException, InterruptedException {
        Path input = Files.createTempFile("jcmd-in", ".txt");
        Path output = Files.createTempFile("jcmd-out", ".txt");
        try {
            Files.write(input, List.of(commands), StandardCharsets.US_ASCII);
            Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
            String executable = Files.isExecutable(jcmd) ? jcmd.toString() : "jcmd";
            Process p;
            try {
                // Output to a file, not a pipe: reading a pipe to its end would not be bounded in time.
                p = new ProcessBuilder(executable, Long.toString(pid()), "-f", input.toString())
                        .redirectErrorStream(true).redirectOutput(output.toFile()).start();
            } catch (IOException e) {
                return null; // no jcmd: a JRE without the JDK tools
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return null;
            }
            return p.exitValue() == 0 ? Files.readString(output, StandardCharsets.UTF_8) : null;
        } finally {
            Files.deleteIfExists(input);
            Files.deleteIfExists(output);
        }
    }

    /** SIGKILL: the proxy gets no chance to finish anything. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
        try {
            Runtime.getRuntime().removeShutdownHook(killOnExit);
        } catch (IllegalStateException e) {
            // already shutting down: the hook runs and finds the process gone
        }
    }

    /** SIGTERM (the proxy drains for its drain_timeout), then a hard kill after {@code timeout}. */
    public int stop(Duration timeout) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(killOnExit);
        } catch (IllegalStateException e) {
            // already shutting down: the hook runs and finds the process gone
        }
        return process.isAlive() ? -1 : process.exitValue();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            try {
                stop(Duration.ofSeconds(20));
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Up to {@code limit} lines of the proxy's log that contain any of {@code needles}, and how many there were. */
    public Map.Entry<Integer, List<String>> logLines(int limit, String... needles) {
        List<String> found = new ArrayList<>();
        int count = 0;
        try {
            for (String line : new String(Files.readAllBytes(log), StandardCharsets.UTF_8).lines().toList()) {
                for (String needle : needles) {
                    if (line.contains(needle)) {
                        if (found.size() < limit) {
                            found.add(line);
                        }
                        count++;
                        break;
                    }
                }
            }
        } catch (IOException e) {
            found.add("(no log: " + e.getMessage() + ")");
        }
        return Map.entry(count, found);
    }

    /** The last lines of the proxy's log, for failure messages. */
    public static String tail(Path log) {
        try {
            List<String> lines = new String(Files.readAllBytes(log), StandardCharsets.UTF_8).lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** Bytes as MiB with two decimals; "n/a" for -1. */
    static String mib(long bytes) {
        return bytes < 0 ? "n/a" : String.format(java.util.Locale.ROOT, "%.2f MiB", bytes / 1048576.0);
    }
}
