package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.server.Main;
import org.smtptlsproxy.server.cli.RootCommand;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.TestPki;
import picocli.CommandLine;

/** The commands as an administrator runs them. */
@Timeout(60)
class CommandLineTest {

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void checkAcceptsAGoodConfig() throws Exception {
        Path dir = Files.createTempDirectory("check-good");
        TestPki.PemFiles pem = ProxyFixture.LOCALHOST.writePem(dir, "server", KeyFormat.PKCS1);
        Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                "listeners:",
                "  - name: lan",
                "    address: 0.0.0.0:2525",
                "    tls:",
                "      mode: starttls",
                "      certificate: " + pem.certificate(),
                "      key: " + pem.key(),
                "upstream:",
                "  host: contoso-com.mail.protection.outlook.com",
                ""));
        Run run = run("check", "--config", dir.resolve("config.yaml").toString());
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("OK"), run.out());
        assertTrue(run.out().contains("listeners[0].tls.certificate: RSA 2048, CN=localhost, names localhost, 127.0.0.1, valid until "),
                run.out());
    }

    @Test
    void checkNamesTheSpoolingListenersAndTheirSpool() throws Exception {
        Path dir = Files.createTempDirectory("check-spool");
        Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                "listeners:",
                "  - name: lan",
                "    address: 0.0.0.0:2525",
                "  - name: printers",
                "    address: 0.0.0.0:2526",
                "    delivery: spool",
                "spool:",
                "  directory: " + dir.resolve("spool"),
                "upstream:",
                "  host: contoso-com.mail.protection.outlook.com",
                ""));
        Run run = run("check", "--config", dir.resolve("config.yaml").toString());
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("  spool.directory: " + dir.resolve("spool")
                + " (delivery: spool on printers; empty, created at start-up)"), run.out());
    }

    @Test
    void checkReportsBothCertificatesOfADualCertificateListenerAndRefusesSwappedKeyTypes() throws Exception {
        Path dir = Files.createTempDirectory("check-dual");
        TestPki.PemFiles rsa = ProxyFixture.LOCALHOST.writePem(dir, "server", KeyFormat.PKCS1);
        TestPki.PemFiles ec = DualCertificateTest.EC_LOCALHOST.writePem(dir, "server-ec", KeyFormat.SEC1);
        String config = String.join("\n",
                "listeners:",
                "  - name: lan",
                "    address: 0.0.0.0:2525",
                "    tls:",
                "      mode: starttls",
                "      certificate: " + rsa.certificate(),
                "      key: " + rsa.key(),
                "      ec_certificate: " + ec.certificate(),
                "      ec_key: " + ec.key(),
                "upstream:",
                "  host: contoso-com.mail.protection.outlook.com",
                "");
        Files.writeString(dir.resolve("config.yaml"), config);
        Run run = run("check", "--config", dir.resolve("config.yaml").toString());
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("listeners[0].tls.certificate: RSA 2048, CN=localhost"), run.out());
        assertTrue(run.out().contains("listeners[0].tls.ec_certificate: EC 256, CN=localhost"), run.out());

        Files.writeString(dir.resolve("config.yaml"), config.replace("      ec_", "      rsa_").replace("      certificate", "      ec_certificate")
                .replace("      key", "      ec_key").replace("      rsa_", "      "));
        run = run("check", "--config", dir.resolve("config.yaml").toString());
        assertEquals(1, run.exit(), run.out());
        assertTrue(run.err().contains("listeners[0].tls.ec_key (line 7): an ECDSA key is expected here, this is RSA"), run.err());
        assertTrue(run.err().contains("listeners[0].tls.key (line 9): with ec_certificate set, certificate and key must be the RSA pair"),
                run.err());
    }

    @Test
    void checkListsEveryProblemWithKeyPathAndLine() throws Exception {
        Path dir = Files.createTempDirectory("check-bad");
        Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                "listeners:",
                "  - name: lan",
                "    address: 0.0.0.0:99999",
                "    tls:",
                "      mode: starttls",
                "      certificate: missing.pem",
                "      key: missing.key",
                "upstream:",
                "  host: contoso-com.mail.protection.outlook.com",
                "  tls:",
                "    min_protocol: TLSv1",
                "  conect_timeout: 30s",
                ""));
        Run run = run("check", "--config", dir.resolve("config.yaml").toString());
        assertEquals(1, run.exit());
        String err = run.err();
        assertTrue(err.contains("listeners[0].address (line 3): port 99999 is out of range"), err);
        assertTrue(err.contains("listeners[0].tls.certificate (line 6): file not found"), err);
        assertTrue(err.contains("listeners[0].tls.key (line 7): file not found"), err);
        assertTrue(err.contains("upstream.tls.min_protocol (line 11): TLSv1 is below the TLSv1.2 minimum"), err);
        assertTrue(err.contains("upstream.conect_timeout (line 12): unknown key; did you mean 'connect_timeout'?"), err);
        assertFalse(err.contains("Exception"), "no stack trace for a user mistake: " + err);
    }

    @Test
    void missingConfigFileIsAPlainError() {
        Run run = run("check", "--config", "/nonexistent/config.yaml");
        assertEquals(1, run.exit());
        assertTrue(run.err().contains("configuration file not found"), run.err());
        Run running = run("run", "--config", "/nonexistent/config.yaml");
        assertEquals(1, running.exit());
        assertFalse(running.err().contains("Exception"), running.err());
    }

    @Test
    void usageErrorsExitWithTwo() {
        assertEquals(2, run("frobnicate").exit());
        assertEquals(2, run("check", "--bogus").exit());
    }

    @Test
    void versionNamesNettyAndTheTlsProvider() {
        Run run = run("version");
        assertEquals(0, run.exit());
        String[] lines = run.out().split("\n");
        assertTrue(lines[0].startsWith("smtp-tls-proxy "), run.out());
        assertTrue(run.out().contains("Netty 4.2"), run.out());
        assertTrue(run.out().contains("TLS provider: BoringSSL"), run.out());
    }

    @Test
    void demoRelaysALegacyTls10MessageOverTls12Plus() {
        Run run = run("demo", "--exit");
        assertEquals(0, run.exit(), run.out() + run.err());
        String out = run.out();
        assertTrue(out.contains("sender   --[TLSv1 "), out);
        assertTrue(out.contains("proxy    --[TLSv1.3 ") || out.contains("proxy    --[TLSv1.2 "), out);
        assertTrue(out.contains("the sender got: 250 2.6.0"), out);
        assertTrue(out.contains("smtp_proxy_tls_handshakes_total{outcome=\"success\",protocol=\"TLSv1\",side=\"inbound\"} 1.0"), out);
        assertTrue(out.contains("metrics        http://127.0.0.1:"), out);
        java.util.regex.Matcher folder = java.util.regex.Pattern.compile("config\\s+(\\S+)/config\\.yaml").matcher(out);
        assertTrue(folder.find(), out);
        assertFalse(Files.exists(Path.of(folder.group(1))), "the demo's folder (with its private key) is removed");
    }

    @Test
    void everyCommandAnswersHelpWithItsUsage() {
        CommandLine root = RootCommand.commandLine();
        assertTrue(root.getSubcommands().size() >= 7, root.getSubcommands().keySet().toString());
        for (String command : root.getSubcommands().keySet()) {
            for (String option : new String[] {"--help", "-h"}) {
                Run run = run(command, option);
                assertEquals(0, run.exit(), command + " " + option + ": " + run.err());
                assertTrue(run.out().contains("Usage: smtp-tls-proxy " + command), command + " " + option + ": " + run.out());
                assertEquals("", run.err(), command + " " + option);
            }
            if (!command.equals("help")) {
                Run help = run("help", command);
                assertEquals(0, help.exit(), "help " + command);
                assertEquals(run(command, "--help").out(), help.out(), "help " + command + " and " + command + " --help agree");
            }
        }
    }

    @Test
    void aTakenListenerPortIsNamedWithoutAStackTrace() throws Exception {
        Path dir = Files.createTempDirectory("port-taken");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            Files.writeString(dir.resolve("config.yaml"), String.join("\n",
                    "listeners:",
                    "  - name: free",
                    "    address: 127.0.0.1:0",
                    "  - name: printers",
                    "    address: 127.0.0.1:" + port,
                    "upstream:",
                    "  host: 127.0.0.1",
                    "  port: 25",
                    "metrics:",
                    "  address: 127.0.0.1:0",
                    ""));
            Process process = new ProcessBuilder(ProxyJar.command("run", "--config", dir.resolve("config.yaml").toString()))
                    .redirectErrorStream(true).start();
            ProxyJar.Output output = new ProxyJar.Output(process.getInputStream());
            try {
                assertTrue(process.waitFor(40, TimeUnit.SECONDS), output.text());
                Thread.sleep(100);
                String text = output.text();
                assertEquals(1, process.exitValue(), text);
                assertTrue(text.contains("listeners[1] (printers) cannot listen on 127.0.0.1:" + port + ": address already in use"), text);
                assertFalse(text.contains("Exception") || text.contains("\tat ") || text.contains("error(-98)"), text);
            } finally {
                process.destroyForcibly();
            }
        }
    }
}
