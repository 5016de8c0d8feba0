package org.smtptlsproxy.server.cli;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.Console;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Where {@code hash-password} gets the password from.
 *
 * <p>The README's form is {@code hash-password USER >> users}: standard output is a file, so
 * {@link System#console()} is {@code null} on Java 17 and cannot be the test for "a person is
 * typing". The test is standard input: a terminal there means a person, who is asked twice on
 * the controlling terminal ({@code /dev/tty}) with echo off, whatever standard output is. Anything
 * else (a pipe, a file) is a script, which gives one line on standard input and sees no prompt.
 */
final class PasswordPrompt {

    private static final File TTY = new File("/dev/tty");

    /** The password could not be read; the message is for the administrator. */
    static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;

        Refused(String message) {
            super(message);
        }
    }

    private PasswordPrompt() {
    }

    static char[] read() throws IOException, Refused {
        if (TTY.exists()) {
            String settings = standardInputTerminalSettings();
            if (settings != null) {
                return askTwiceOnTty(settings);
            }
            return oneLine(System.in);
        }
        // No /dev/tty (Windows): the console, when there is one, does the echo handling itself.
        Console console = System.console();
        if (console != null) {
            char[] first = console.readPassword("Password: ");
            char[] again = console.readPassword("Again: ");
            return confirmed(first, again);
        }
        return oneLine(System.in);
    }

    /**
     * {@code stty -g} succeeds only on a terminal: run with our standard input it answers "is a
     * person typing?" and gives the settings to restore afterwards; {@code null} if not a terminal.
     */
    private static String standardInputTerminalSettings() {
        try {
            Process stty = new ProcessBuilder("stty", "-g")
                    .redirectInput(ProcessBuilder.Redirect.INHERIT)
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            String settings = new String(stty.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
            if (!stty.waitFor(10, TimeUnit.SECONDS) || stty.exitValue() != 0 || settings.isEmpty()) {
                return null;
            }
            return settings;
        } catch (IOException e) {
            return null; // no stty: treat standard input as a script's
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static char[] askTwiceOnTty(String savedSettings) throws IOException, Refused {
        // Ctrl-C while echo is off must not leave the administrator's terminal silent.
        Thread restore = new Thread(() -> stty(savedSettings), "restore-terminal");
        Runtime.getRuntime().addShutdownHook(restore);
        try (InputStream in = new FileInputStream(TTY); OutputStream prompt = new FileOutputStream(TTY)) {
            // Echo goes off before the prompt appears: nothing typed after the prompt is shown.
            if (!stty("-echo")) {
                throw new Refused("cannot turn off echo on the terminal");
            }
            char[] first = ask(in, prompt, "Password: ");
            char[] again = ask(in, prompt, "Again: ");
            return confirmed(first, again);
        } finally {
            stty(savedSettings);
            try {
                Runtime.getRuntime().removeShutdownHook(restore);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
    }

    private static char[] ask(InputStream in, OutputStream prompt, String text) throws IOException {
        prompt.write(text.getBytes(StandardCharsets.UTF_8));
        prompt.flush();
        char[] line = readLine(in);
        prompt.write('\n'); // the Enter the terminal did not echo
        prompt.flush();
        return line;
    }

    private static char[] confirmed(char[] first, char[] again) throws Refused {
        if (first == null || again == null) {
            throw new Refused("no password given");
        }
        try {
            if (!Arrays.equals(first, again)) {
                throw new Refused("passwords do not match");
            }
            return first;
        } finally {
            Arrays.fill(again, '\0');
        }
    }

    /** Byte by byte, so that nothing after the line is consumed; {@code null} at end of input. */
    private static char[] readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            if (b != '\r') {
                line.write(b);
            }
        }
        if (b < 0 && line.size() == 0) {
            return null;
        }
        return line.toString(StandardCharsets.UTF_8).toCharArray();
    }

    private static char[] oneLine(InputStream in) throws IOException {
        String line = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).readLine();
        return line == null ? null : line.toCharArray();
    }

    private static boolean stty(String argument) {
        try {
            Process stty = new ProcessBuilder("stty", argument)
                    .redirectInput(TTY)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            return stty.waitFor(10, TimeUnit.SECONDS) && stty.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
