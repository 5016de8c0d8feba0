package org.smtptlsproxy.spool;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

/** Small helpers the spool tests share. */
final class SpoolTesting {

    private SpoolTesting() {
    }

    static SpoolSettings settings(Path directory) {
        return new SpoolSettings(directory, 64L << 20, 1000, true, 4);
    }

    static SpoolStore open(Path directory) throws IOException {
        return SpoolStore.open(settings(directory), SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none());
    }

    static MessageDraft draft(String sender, String... recipients) {
        return new MessageDraft("printers", "s1", "client=192.0.2.7 helo=mfp", sender, "SIZE=1000",
                java.util.Arrays.stream(recipients).map(r -> SpoolRecipient.pending(r, "")).toList());
    }

    static MessageDraft draft() {
        return draft("scanner@example.com", "alice@example.com");
    }

    static byte[] content(SpoolStore store, SpoolId id) throws IOException {
        try (InputStream in = store.openContent(id)) {
            return in.readAllBytes();
        }
    }

    static List<String> names(Path directory) throws IOException {
        try (var stream = java.nio.file.Files.list(directory)) {
            return stream.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
