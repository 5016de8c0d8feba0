package org.smtptlsproxy.spool;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;

/**
 * A message handed to a {@link SpoolSender}: its envelope (send to the pending recipients only) and
 * its content, read from its file ({@code queue/ID.msg}) as a stream each time it is sent.
 */
public record SpooledMessage(SpoolEnvelope envelope, Path file) {

    public SpoolId id() {
        return envelope.id();
    }

    /** The octets to send after DATA (dot-unstuffed: the sender stuffs them on the way out), without the trailer. */
    public InputStream openContent() throws IOException {
        return MessageFile.openContent(file, envelope.contentSize());
    }
}
