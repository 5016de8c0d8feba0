package org.smtptlsproxy.interop;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** A Maildir the upstream Postfix's virtual(8) delivers into; messages are found by a unique token. */
final class Mailbox {

    private final Path maildir;

    Mailbox(Path maildir) {
        this.maildir = maildir;
    }

    /** Waits for the message whose header block contains {@code token}. */
    DeliveredMessage await(String token, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<Path> found = find(token);
            if (found.size() == 1) {
                return new DeliveredMessage(Files.readAllBytes(found.get(0)));
            }
            if (found.size() > 1) {
                throw new AssertionError(found.size() + " deliveries of " + token + " in " + maildir + ": " + found);
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no message with " + token + " in " + maildir + " within " + timeout);
            }
            PostfixInstance.sleep(200);
        }
    }

    /** Every delivered file whose header block mentions {@code token}: more than one is a duplicate. */
    List<Path> find(String token) throws IOException {
        List<Path> matches = new ArrayList<>();
        for (String sub : List.of("new", "cur")) {
            Path dir = maildir.resolve(sub);
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> files = Files.list(dir)) {
                for (Path file : files.toList()) {
                    if (headerBlock(file).contains(token)) {
                        matches.add(file);
                    }
                }
            }
        }
        return matches;
    }

    /** The first 64 KiB are enough for any header block the tests write. */
    private static String headerBlock(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(64 * 1024);
            String text = new String(head, StandardCharsets.ISO_8859_1);
            int end = text.indexOf("\n\n");
            return end < 0 ? text : text.substring(0, end);
        }
    }
}
