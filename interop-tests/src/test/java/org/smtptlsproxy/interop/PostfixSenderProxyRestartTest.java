package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.TestPki;

/**
 * The proxy stopped under a real Postfix sender, once by SIGKILL and once by SIGTERM (drain),
 * while Postfix is relaying a batch of messages through it: Postfix keeps what was not
 * acknowledged and, retried, ends with every message delivered, nothing bounced and its queue
 * empty. A message delivered twice must be one Postfix saw fail (the duplicate window of
 * docs/RELIABILITY.md), never one it was told was sent the first time.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(300)
class PostfixSenderProxyRestartTest {

    private static final int PER_ROUND = 8;

    @Test
    void everyMessageArrivesWhenTheProxyIsKilledAndStoppedUnderPostfix(InteropEnvironment env) throws Exception {
        Path dir = env.directory("proxy-restarts");
        int port = InteropEnvironment.freePort();
        Path config = writeConfig(dir, port, env);
        SenderPostfix sender = env.closeAtEnd(SenderPostfix.start("sender-restarts", env.directory("sender-restarts"),
                port, SenderPostfix.Tls.TLS1_ONLY));
        Mailbox mailbox = env.upstream().mailbox("user");
        Map<String, String> queueIdByToken = new LinkedHashMap<>();
        Process proxy = start(config, dir.resolve("proxy-1.log"), port);
        try {
            submit(sender, queueIdByToken, "kill");
            awaitFirstRelay(dir.resolve("proxy-1.log")); // the rest of the batch is in flight now
            proxy.destroyForcibly();
            assertTrue(proxy.waitFor(10, TimeUnit.SECONDS));

            proxy = start(config, dir.resolve("proxy-2.log"), port);
            sender.postfix().flush();
            submit(sender, queueIdByToken, "term");
            awaitFirstRelay(dir.resolve("proxy-2.log"));
            proxy.destroy(); // SIGTERM: listeners close, transactions in flight may finish
            assertTrue(proxy.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, proxy.exitValue(), "a drained proxy exits 0");

            proxy = start(config, dir.resolve("proxy-3.log"), port);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!sender.postfix().queue().isEmpty() && System.nanoTime() < deadline) {
                sender.postfix().flush(); // the MTA's own retry, on the test's clock
                Thread.sleep(2000);
            }
            assertEquals(List.of(), sender.postfix().queue(), "Postfix delivered everything in the end");
        } finally {
            proxy.destroyForcibly();
        }
        String log = sender.postfix().maillog();
        assertFalse(log.contains("status=bounced"), log);
        assertTrue(log.contains("status=deferred"), "a stop caught Postfix in mid-transaction: " + log);
        int duplicates = 0;
        for (Map.Entry<String, String> message : queueIdByToken.entrySet()) {
            int copies = mailbox.find(message.getKey()).size();
            assertTrue(copies >= 1, message.getKey() + " never arrived");
            if (copies > 1) {
                duplicates += copies - 1;
                assertTrue(java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(message.getValue())
                                + ": to=<[^>]+>, relay=.*status=deferred").matcher(log).find(),
                        message.getKey() + " arrived twice though Postfix never saw its relay fail");
            }
        }
        System.out.printf("proxy killed and stopped under Postfix: %d messages, %d delivered twice (duplicate window)%n",
                queueIdByToken.size(), duplicates);
    }

    private static void submit(SenderPostfix sender, Map<String, String> queueIdByToken, String round) throws IOException {
        for (int i = 0; i < PER_ROUND; i++) {
            String token = TestMessages.token("restart-" + round);
            // Large enough that the batch is still on the wire when the first message is through.
            byte[] message = TestMessages.withAttachment(token, "legacy@sender.test", UpstreamPostfix.USER, 3 << 20);
            queueIdByToken.put(token, sender.submit("legacy@sender.test", UpstreamPostfix.USER, message));
        }
    }

    /** Waits until the proxy logged its first relayed message. */
    private static void awaitFirstRelay(Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log) && Files.readString(log).contains("outcome=relayed")) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no message relayed within 60 s:\n" + Files.readString(log));
    }

    /** The proxy as the unit runs it: the shaded jar, a JVM of its own, so it can be killed. */
    private static Process start(Path config, Path log, int port) throws Exception {
        Path jar = Path.of("..", "proxy-server", "target", "smtp-tls-proxy.jar").toAbsolutePath();
        assertTrue(Files.exists(jar), "build proxy-server first: " + jar);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process process = new ProcessBuilder(java.toString(), "-jar", jar.toString(), "run", "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            try (Socket connected = new Socket("127.0.0.1", port)) {
                connected.close();
                return process;
            } catch (IOException notYet) {
                if (!process.isAlive()) {
                    throw new AssertionError("the proxy exited during start-up:\n" + Files.readString(log));
                }
                Thread.sleep(100);
            }
        }
        process.destroyForcibly();
        throw new AssertionError("the proxy did not listen within 60 s:\n" + Files.readString(log));
    }

    private static Path writeConfig(Path dir, int port, InteropEnvironment env) throws Exception {
        TestPki.PemFiles pem = env.proxyIdentity.writePem(dir, "proxy", KeyFormat.PKCS8);
        List<String> yaml = new ArrayList<>(List.of(
                "hostname: proxy.interop.test",
                "listeners:",
                "  - name: starttls",
                "    address: 127.0.0.1:" + port,
                "    tls:",
                "      mode: starttls",
                "      certificate: " + pem.certificate(),
                "      key: " + pem.key(),
                "upstream:"));
        yaml.addAll(env.upstreamYaml(env.upstream().port()));
        yaml.addAll(List.of(
                "  connect_timeout: 5s",
                "  command_timeout: 30s",
                "drain_timeout: 5s",
                "metrics:",
                "  address: 127.0.0.1:0"));
        Path config = dir.resolve("config.yaml");
        Files.writeString(config, String.join("\n", yaml) + "\n", StandardCharsets.UTF_8);
        return config;
    }
}
