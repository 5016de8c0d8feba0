package org.smtptlsproxy.spool;

import java.nio.file.Path;
import java.util.Objects;
import org.smtptlsproxy.config.SpoolConfig;

/**
 * What the store needs: where, how much, and how commits reach the disk. {@code groupCommit} off
 * means each commit does its own fsyncs in the caller's thread (the naive way, kept to measure the
 * gain); {@code syncParallelism} is how many fsyncs of one batch run at once.
 */
public record SpoolSettings(Path directory, long maxSize, int maxMessages, boolean groupCommit, int syncParallelism) {

    public static final int DEFAULT_SYNC_PARALLELISM = 16;

    public SpoolSettings {
        Objects.requireNonNull(directory, "directory");
        if (maxSize <= 0 || maxMessages <= 0 || syncParallelism <= 0) {
            throw new IllegalArgumentException("spool bounds must be positive");
        }
    }

    public static SpoolSettings of(SpoolConfig config) {
        return new SpoolSettings(config.directory(), config.maxSize().bytes(), config.maxMessages(), true,
                DEFAULT_SYNC_PARALLELISM);
    }

    public SpoolSettings withGroupCommit(boolean enabled) {
        return new SpoolSettings(directory, maxSize, maxMessages, enabled, syncParallelism);
    }
}
