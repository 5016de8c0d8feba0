package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * A message written to {@code tmp/} and waiting to become durable: its two open temp files, the
 * envelope it will have, and the future the session waits on for its 250.
 */
final class PendingCommit {

    final SpoolEnvelope envelope;
    final Path dataTemp;
    final Path envelopeTemp;
    final SpoolFiles.WritableFile data;
    final SpoolFiles.WritableFile envelopeFile;
    final CompletableFuture<SpoolEnvelope> future = new CompletableFuture<>();
    /** Set once its files are in {@code queue/}: a failure after that must remove them from there. */
    boolean published;
    /** Set when a step failed: the commit fails and its files are removed. */
    Throwable failure;

    PendingCommit(SpoolEnvelope envelope, Path dataTemp, Path envelopeTemp,
            SpoolFiles.WritableFile data, SpoolFiles.WritableFile envelopeFile) {
        this.envelope = envelope;
        this.dataTemp = dataTemp;
        this.envelopeTemp = envelopeTemp;
        this.data = data;
        this.envelopeFile = envelopeFile;
    }

    /** Both temp files on the device, then closed. */
    void syncFiles() throws IOException {
        data.sync();
        envelopeFile.sync();
        data.close();
        envelopeFile.close();
    }
}
