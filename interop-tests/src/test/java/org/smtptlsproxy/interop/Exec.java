package org.smtptlsproxy.interop;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs an external program with a hard time limit. Output goes to a file, never a pipe, so a
 * chatty program cannot block on a full pipe buffer; on timeout the program and everything it
 * started are killed.
 */
final class Exec {

    record Result(List<String> command, int exitCode, String output) {

        boolean succeeded() {
            return exitCode == 0;
        }

        /** For assertion messages: the command line and what it printed. */
        String describe() {
            return String.join(" ", command) + " -> exit " + exitCode + "\n" + output;
        }
    }

    private Exec() {
    }

    static Result run(Duration timeout, List<String> command) {
        return run(timeout, command, Map.of(), null);
    }

    /**
     * @param stdin bytes written to the program's standard input, or null for none
     */
    static Result run(Duration timeout, List<String> command, Map<String, String> environment, byte[] stdin) {
        Path output = null;
        Process process = null;
        try {
            output = Files.createTempFile("interop-exec", ".out");
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile());
            builder.environment().putAll(environment);
            if (stdin == null) {
                builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            }
            process = builder.start();
            if (stdin != null) {
                try (var in = process.getOutputStream()) {
                    in.write(stdin);
                }
            }
            boolean finished = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                kill(process);
                String text = Files.readString(output, StandardCharsets.UTF_8);
                throw new AssertionError("timed out after " + timeout + ": " + String.join(" ", command) + "\n" + text);
            }
            return new Result(List.copyOf(command), process.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("could not run " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill(process);
            throw new AssertionError("interrupted while running " + command, e);
        } finally {
            if (output != null) {
                try {
                    Files.deleteIfExists(output);
                } catch (IOException ignored) {
                    // a leftover temp file is harmless
                }
            }
        }
    }

    /** Runs and fails the test when the program does not exit 0. */
    static Result check(Duration timeout, String... command) {
        Result result = run(timeout, List.of(command));
        if (!result.succeeded()) {
            throw new AssertionError(result.describe());
        }
        return result;
    }

    static void kill(Process process) {
        if (process == null) {
            return;
        }
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
