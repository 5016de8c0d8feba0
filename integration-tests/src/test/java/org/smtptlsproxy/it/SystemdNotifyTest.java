package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.EventExecutor;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.server.lifecycle.SystemdNotifier;
import org.smtptlsproxy.server.lifecycle.SystemdWatchdog;
import org.smtptlsproxy.testkit.FakeUpstream;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * systemd {@code Type=notify}: the real jar in a child process, with the test as systemd — a Unix
 * datagram socket in {@code NOTIFY_SOCKET} — and {@code WATCHDOG_USEC} set as {@code WatchdogSec=}
 * would set it.
 */
@Timeout(120)
class SystemdNotifyTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final byte[] MESSAGE = "Subject: notify\r\n\r\nhello\r\n".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path dir;

    @Test
    void theRealProcessReportsReadyWatchdogReloadAndStop() throws Exception {
        Path jar = Path.of("..", "proxy-server", "target", "smtp-tls-proxy.jar").toAbsolutePath().normalize();
        assertTrue(Files.exists(jar), "build proxy-server first: " + jar);
        Path socket = dir.resolve("notify.sock");
        try (NotifySocket systemd = new NotifySocket(socket.toString());
             FakeUpstream upstream = FakeUpstream.builder().identity(ProxyFixture.LOCALHOST).build().start()) {
            ProxyFixture.PKI.writeCaPem(dir.resolve("ca.pem"));
            int smtpPort = freePort();
            int metricsPort = freePort();
            Path config = dir.resolve("config.yaml");
            Files.writeString(config, String.join("\n",
                    "hostname: proxy.test.invalid",
                    "listeners:",
                    "  - name: plain",
                    "    address: 127.0.0.1:" + smtpPort,
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: " + upstream.port(),
                    "  tls:",
                    "    server_name: localhost",
                    "    trust: ca.pem",
                    "metrics:",
                    "  address: 127.0.0.1:" + metricsPort,
                    ""));
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            ProcessBuilder builder = new ProcessBuilder(java, "-jar", jar.toString(), "run", "--config", config.toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("proxy.log").toFile());
            builder.environment().put("NOTIFY_SOCKET", socket.toString());
            builder.environment().put("WATCHDOG_USEC", "1000000"); // WatchdogSec=1s: a ping every 500 ms
            Process proxy = builder.start();
            try {
                String ready = systemd.await("READY=1", WAIT);
                // READY=1 means every listener and the metrics endpoint take connections now.
                assertConnectable(smtpPort);
                assertConnectable(metricsPort);
                assertTrue(ready.contains("STATUS=serving: 0 active connections, 0 messages relayed"), ready);

                systemd.await("WATCHDOG=1", Duration.ofSeconds(5));
                systemd.await("WATCHDOG=1", Duration.ofSeconds(5));

                try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(20))) {
                    client.connect("127.0.0.1", smtpPort);
                    client.ehlo("printer.example");
                    assertEquals(250, client.sendMessage("a@legacy.example", List.of("b@contoso.example"), MESSAGE).code());
                }
                awaitStatus(systemd, "1 message relayed");

                kill("HUP", proxy);
                String reloading = systemd.await("RELOADING=1", WAIT);
                Matcher monotonic = Pattern.compile("(?m)^MONOTONIC_USEC=(\\d+)$").matcher(reloading);
                assertTrue(monotonic.find(), reloading);
                assertTrue(Long.parseLong(monotonic.group(1)) > 0);
                systemd.await("READY=1", WAIT);

                kill("TERM", proxy);
                String stopping = systemd.await("STOPPING=1", WAIT);
                assertTrue(stopping.contains("STATUS=draining"), stopping);
                assertTrue(proxy.waitFor(30, TimeUnit.SECONDS));
                assertEquals(0, proxy.exitValue(), Files.readString(dir.resolve("proxy.log")));
            } finally {
                proxy.destroyForcibly();
            }
        }
    }

    @Test
    void watchdogPingsOnlyWhileEveryEventLoopRunsTasks() throws Exception {
        Path socket = dir.resolve("watchdog.sock");
        EventLoopGroup loops = new MultiThreadIoEventLoopGroup(3, NioIoHandler.newFactory());
        List<EventExecutor> executors = new ArrayList<>();
        loops.forEach(executors::add);
        CountDownLatch release = new CountDownLatch(1);
        try (NotifySocket systemd = new NotifySocket(socket.toString());
             SystemdNotifier notifier = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", socket.toString()))) {
            SystemdWatchdog watchdog = SystemdWatchdog.start(notifier, Map.of("WATCHDOG_USEC", "200000"),
                    () -> executors, () -> "testing");
            try {
                systemd.await("WATCHDOG=1", Duration.ofSeconds(5));
                // One loop of three hangs (a blocking call on an event loop, a livelock): the
                // timer keeps ticking, but no ping may go out.
                executors.get(1).execute(() -> {
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                Thread.sleep(300); // a round that was already under way may still finish
                systemd.clear();
                assertNull(systemd.poll(Duration.ofMillis(1500)), "a ping while an event loop hangs");
                release.countDown();
                systemd.await("WATCHDOG=1", Duration.ofSeconds(5));
            } finally {
                watchdog.close();
            }
        } finally {
            release.countDown();
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void abstractSocketNamesWork() throws Exception {
        String name = "smtp-tls-proxy-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try (NotifySocket systemd = new NotifySocket("\0" + name);
             SystemdNotifier notifier = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "@" + name))) {
            assertTrue(notifier.enabled());
            notifier.ready("serving");
            assertEquals("READY=1\nSTATUS=serving", systemd.await("READY=1", Duration.ofSeconds(5)));
        }
    }

    @Test
    void withoutNotifySocketNothingIsSentAndNoWatchdogRuns() {
        SystemdNotifier notifier = SystemdNotifier.fromEnvironment(Map.of());
        assertFalse(notifier.enabled());
        notifier.ready("serving"); // a no-op, not an exception
        assertNull(SystemdWatchdog.start(notifier, Map.of("WATCHDOG_USEC", "1000000"), List::of, () -> ""));
        notifier.close();
    }

    private static void awaitStatus(NotifySocket systemd, String text) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            String message = systemd.poll(Duration.ofSeconds(1));
            if (message != null && message.contains(text)) {
                return;
            }
        }
        throw new AssertionError("no STATUS with '" + text + "'");
    }

    private static void assertConnectable(int port) throws Exception {
        try (Socket probe = new Socket()) {
            probe.connect(new InetSocketAddress("127.0.0.1", port), 2000);
        }
    }

    private static int freePort() throws Exception {
        try (ServerSocket free = new ServerSocket(0)) {
            return free.getLocalPort();
        }
    }

    private static void kill(String signal, Process process) throws Exception {
        assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start().waitFor());
    }
}
