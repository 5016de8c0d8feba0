package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * A message written and waiting to become durable: its open file (content and trailer written, in
 * {@code tmp/} or {@code free/}), the envelope it will have, and the future the session waits on
 * for its 250.
 */
final class PendingCommit {

    final SpoolEnvelope envelope;
    final Path path;
    final SpoolFiles.WritableFile file;
    final CompletableFuture<SpoolEnvelope> future = new CompletableFuture<>();
    /** Set once its file is in {@code queue/}: a failure after that must remove it from there. */
    boolean published;
    /** Set when a step failed: the commit fails and its file is removed. */
    Throwable failure;

    PendingCommit(SpoolEnvelope envelope, Path path, SpoolFiles.WritableFile file) {
        this.envelope = envelope;
        this.path = path;
        this.file = file;
    }

    /** The file on the device, then closed. */
    void syncFile() throws IOException {
        file.sync();
        file.close();
    }
}
