package org.smtptlsproxy.interop;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.TestPki;

/**
 * What the interop tests share in one JVM: a CA with the proxy's, the upstream's and the proxy's
 * client identity; the Exchange-like upstream Postfix and the proxy in front of it, started on
 * first use. Everything started here is stopped when the test run ends, whatever the outcome
 * (JUnit closes the root store), and again from a shutdown hook should the JVM be killed: no
 * Postfix daemon outlives the build.
 *
 * <p>The Postfix instances live under a short directory in /tmp, not under target/: their
 * unix-domain sockets must stay under the 108-octet path limit wherever the build runs. Their
 * logs are copied to target/interop-logs at the end.
 */
final class InteropEnvironment implements AutoCloseable {

    static final TestPki PKI = TestPki.create("smtp-tls-proxy interop CA", KeyType.RSA);

    final TestPki.Identity proxyIdentity = PKI.issue("proxy.interop.test", "proxy.interop.test", "localhost", "127.0.0.1");
    final TestPki.Identity upstreamIdentity = PKI.issue(UpstreamPostfix.HOSTNAME, UpstreamPostfix.HOSTNAME, "localhost");
    final TestPki.Identity proxyClientIdentity = PKI.issue("proxy-client.interop.test", "proxy-client.interop.test");

    private final Path root;
    private final Path caPem;
    private final Deque<AutoCloseable> resources = new ArrayDeque<>();
    private final Thread shutdownHook = new Thread(this::closeQuietly, "interop-cleanup");
    private UpstreamPostfix upstream;
    private ProxyUnderTest proxy;

    private InteropEnvironment() {
        try {
            root = Files.createTempDirectory(Path.of("/tmp"), "stp-interop-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
            caPem = PKI.writeCaPem(root.resolve("ca.pem"));
            // Logs of an earlier run would only confuse a post-mortem of this one.
            if (Files.isDirectory(logDirectory())) {
                try (Stream<Path> old = Files.list(logDirectory())) {
                    for (Path file : old.toList()) {
                        Files.deleteIfExists(file);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** A private directory for one component (traversable by Postfix's unprivileged users). */
    Path directory(String name) throws IOException {
        Path dir = root.resolve(name);
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        return dir;
    }

    Path caPem() {
        return caPem;
    }

    /** The Exchange-like upstream, started on first use. */
    synchronized UpstreamPostfix upstream() throws IOException {
        if (upstream == null) {
            upstream = closeAtEnd(UpstreamPostfix.start("upstream", directory("upstream"), freePort(), upstreamIdentity, null));
        }
        return upstream;
    }

    /** The proxy in front of {@link #upstream()}, started on first use. */
    synchronized ProxyUnderTest proxy() throws Exception {
        if (proxy == null) {
            proxy = closeAtEnd(ProxyUnderTest.start(directory("proxy"), proxyIdentity, upstreamYaml(upstream().port())));
        }
        return proxy;
    }

    /** The upstream block for a STARTTLS upstream Postfix on {@code port}, verified by name. */
    List<String> upstreamYaml(int port) {
        return List.of(
                "  host: 127.0.0.1",
                "  port: " + port,
                "  tls:",
                "    mode: starttls",
                "    min_protocol: TLSv1.2",
                "    server_name: " + UpstreamPostfix.HOSTNAME,
                "    trust: " + caPem);
    }

    /** Registers a resource to be closed when the run ends (last registered, first closed). */
    synchronized <T extends AutoCloseable> T closeAtEnd(T resource) {
        resources.push(resource);
        return resource;
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    @Override
    public void close() {
        closeQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // the hook is running or ran
        }
    }

    private synchronized void closeQuietly() {
        while (!resources.isEmpty()) {
            try {
                resources.pop().close();
            } catch (Exception e) {
                System.err.println("interop cleanup: " + e);
            }
        }
        keepLogsAndDelete();
    }

    /** The Postfix/Exim logs go to target/interop-logs for a post-mortem; the rest is deleted. */
    private void keepLogsAndDelete() {
        if (!Files.exists(root)) {
            return;
        }
        Path logs = logDirectory();
        try (Stream<Path> walk = Files.walk(root)) {
            Files.createDirectories(logs);
            for (Path path : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                String file = path.getFileName().toString();
                if (file.equals("maillog") || file.endsWith("log") && Files.isRegularFile(path)) {
                    Files.copy(path, logs.resolve(root.relativize(path).toString().replace('/', '-')),
                            StandardCopyOption.REPLACE_EXISTING);
                }
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            System.err.println("interop cleanup: could not remove " + root + ": " + e);
        }
    }

    private static Path logDirectory() {
        return Path.of(System.getProperty("basedir", ".")).resolve("target/interop-logs");
    }

    /** Hands the shared environment to test constructors and methods. */
    static final class Extension implements ParameterResolver {

        private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(InteropEnvironment.class);

        @Override
        public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
            return parameter.getParameter().getType() == InteropEnvironment.class;
        }

        @Override
        public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
            // The root store closes AutoCloseable values when the whole run ends.
            return context.getRoot().getStore(NAMESPACE)
                    .computeIfAbsent(InteropEnvironment.class, key -> new InteropEnvironment(), InteropEnvironment.class);
        }
    }
}
