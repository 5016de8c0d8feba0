package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.auth.PasswordHashes;

/**
 * {@code hash-password USER >> users} as the README writes it: a person at a real terminal (a
 * pseudo-terminal from util-linux {@code script}) with standard output appended to a file.
 */
@Timeout(90)
class HashPasswordTest {

    private static final String PASSWORD = "Tr0ub4dor-and-3";

    private record Typed(int exit, String terminal, String usersFile) {
    }

    /** Runs the command under a pseudo-terminal, answering each prompt once it is shown. */
    private static Typed typeAtTerminal(String first, String again) throws Exception {
        assumeTrue(ProxyJar.installed("script"), "util-linux script is needed for a pseudo-terminal");
        Path users = Files.createTempDirectory("hash-password").resolve("users");
        String commandLine = "exec " + String.join(" ", ProxyJar.command("hash-password", "printer", "--cost", "4")
                .stream().map(ProxyJar::shellQuote).toList()) + " >> " + ProxyJar.shellQuote(users.toString());
        Process script = new ProcessBuilder("script", "-qec", commandLine, "/dev/null").redirectErrorStream(true).start();
        try {
            ProxyJar.Output terminal = new ProxyJar.Output(script.getInputStream());
            OutputStream keyboard = script.getOutputStream();
            terminal.await(t -> t.contains("Password:"), Duration.ofSeconds(30), script);
            keyboard.write((first + "\n").getBytes(StandardCharsets.UTF_8));
            keyboard.flush();
            terminal.await(t -> t.contains("Again:"), Duration.ofSeconds(10), script);
            keyboard.write((again + "\n").getBytes(StandardCharsets.UTF_8));
            keyboard.flush();
            assertTrue(script.waitFor(30, TimeUnit.SECONDS), terminal.text());
            Thread.sleep(100);
            return new Typed(script.exitValue(), terminal.text(), Files.exists(users) ? Files.readString(users) : "");
        } finally {
            script.destroyForcibly();
        }
    }

    @Test
    void aPersonIsAskedTwiceOnTheTerminalWithoutEchoEvenWithOutputRedirected() throws Exception {
        Typed typed = typeAtTerminal(PASSWORD, PASSWORD);
        assertEquals(0, typed.exit(), typed.terminal());
        assertFalse(typed.terminal().contains(PASSWORD), "the terminal echoed the password: " + typed.terminal());
        assertFalse(typed.usersFile().contains(PASSWORD), typed.usersFile());
        assertFalse(typed.usersFile().contains("Password"), "prompts belong on the terminal: " + typed.usersFile());
        List<String> lines = typed.usersFile().lines().toList();
        assertEquals(1, lines.size(), typed.usersFile());
        assertTrue(lines.get(0).startsWith("printer:$2"), lines.get(0));
        assertTrue(PasswordHashes.matches(lines.get(0).substring("printer:".length()), PASSWORD));
    }

    @Test
    void aMismatchSaysSoAndWritesNothing() throws Exception {
        Typed typed = typeAtTerminal(PASSWORD, PASSWORD + "x");
        assertNotEquals(0, typed.exit(), typed.terminal());
        assertTrue(typed.terminal().contains("passwords do not match"), typed.terminal());
        assertFalse(typed.terminal().contains(PASSWORD), typed.terminal());
        assertEquals("", typed.usersFile());
    }

    @Test
    void aScriptGivesOneLineOnStandardInputAndSeesNoPrompt() throws Exception {
        Process process = new ProcessBuilder(ProxyJar.command("hash-password", "scanner", "--cost", "4")).start();
        ProxyJar.Output out = new ProxyJar.Output(process.getInputStream());
        ProxyJar.Output err = new ProxyJar.Output(process.getErrorStream());
        try (OutputStream in = process.getOutputStream()) {
            in.write((PASSWORD + "\n").getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(process.waitFor(30, TimeUnit.SECONDS));
        Thread.sleep(100);
        assertEquals(0, process.exitValue(), err.text());
        assertEquals("", err.text());
        String line = out.text().strip();
        assertTrue(line.startsWith("scanner:$2"), line);
        assertTrue(PasswordHashes.matches(line.substring("scanner:".length()), PASSWORD));
    }
}
