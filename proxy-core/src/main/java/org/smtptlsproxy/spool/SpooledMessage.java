package org.smtptlsproxy.spool;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A message handed to a {@link SpoolSender}: its envelope (send to the pending recipients only) and
 * its content, read from disk as a stream each time it is sent.
 */
public record SpooledMessage(SpoolEnvelope envelope, Path contentFile) {

    public SpoolId id() {
        return envelope.id();
    }

    /** The octets to send after DATA (dot-unstuffed: the sender stuffs them on the way out). */
    public InputStream openContent() throws IOException {
        return Files.newInputStream(contentFile);
    }
}
