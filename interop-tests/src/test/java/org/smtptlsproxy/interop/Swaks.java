package org.smtptlsproxy.interop;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** swaks, the SMTP test tool administrators use, sending one prepared message. */
final class Swaks {

    /** The reply to end-of-data as swaks prints it ({@code <~} inside TLS, {@code <-} outside). */
    private static final Pattern QUEUED = Pattern.compile("(?m)^<[~-] +250 2\\.0\\.0 Ok: queued as ([0-9A-F]+)\\s*$");
    private static final Pattern TLS_STARTED = Pattern.compile("=== TLS started with cipher (TLSv1(?:\\.[123])?):(\\S+)");

    private final List<String> arguments = new ArrayList<>();

    Swaks(int port, String from, String to) {
        arguments.addAll(List.of(Tools.SWAKS.require(), "--server", "127.0.0.1", "--port", String.valueOf(port),
                "--from", from, "--to", to, "--helo", "swaks.interop.test", "--timeout", "60", "--suppress-data"));
    }

    Swaks with(String... more) {
        arguments.addAll(List.of(more));
        return this;
    }

    /** STARTTLS with one protocol version; TLS 1.0/1.1 need OpenSSL's security level 0 on OpenSSL 3. */
    Swaks startTls(String swaksProtocol) {
        with("--tls", "--tls-protocol", swaksProtocol);
        if (swaksProtocol.equals("tlsv1") || swaksProtocol.equals("tlsv1_1")) {
            with("--tls-cipher", "DEFAULT:@SECLEVEL=0");
        }
        return this;
    }

    /** Sends {@code message} exactly: swaks gets the wire form and is told not to touch it. */
    Result send(byte[] message, Path scratch) throws IOException {
        Path data = Files.createTempFile(scratch, "swaks", ".eml");
        try {
            Files.write(data, TestMessages.wireData(message));
            List<String> command = new ArrayList<>(arguments);
            command.addAll(List.of("--data", data.toString(), "--no-data-fixup"));
            return new Result(Exec.run(Duration.ofSeconds(120), command));
        } finally {
            Files.deleteIfExists(data);
        }
    }

    record Result(Exec.Result exec) {

        /** The upstream's queue id from the 250 that reached swaks; fails if there is none. */
        String queueId() {
            Matcher matcher = QUEUED.matcher(exec.output());
            if (!exec.succeeded() || !matcher.find()) {
                throw new AssertionError("swaks did not get '250 2.0.0 Ok: queued as ID':\n" + exec.describe());
            }
            return matcher.group(1);
        }

        /** The TLS protocol swaks negotiated, or null for none. */
        String tlsProtocol() {
            Matcher matcher = TLS_STARTED.matcher(exec.output());
            return matcher.find() ? matcher.group(1) : null;
        }

        String output() {
            return exec.output();
        }
    }
}
