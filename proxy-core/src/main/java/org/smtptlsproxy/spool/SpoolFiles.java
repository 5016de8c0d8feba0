package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Every file operation through which the store changes the disk: the seam where tests inject a
 * failure (a full disk, a failed fsync) or a crash at any step. Reads go straight to the disk;
 * only what the store writes, syncs, renames and deletes needs to be interruptible.
 */
public interface SpoolFiles {

    /** A file being written: created new (never truncating one that exists). */
    interface WritableFile extends AutoCloseable {

        void write(ByteBuffer bytes) throws IOException;

        /** Forces the file's data and metadata to the device (fsync). */
        void sync() throws IOException;

        @Override
        void close() throws IOException;
    }

    WritableFile create(Path file) throws IOException;

    /** Atomically replaces {@code target} with {@code source} (rename(2)): either name, never half. */
    void rename(Path source, Path target) throws IOException;

    /** Makes the directory's entries (created, renamed, removed names) durable (fsync on the directory). */
    void syncDirectory(Path directory) throws IOException;

    void delete(Path file) throws IOException;

    /** The real disk. */
    static SpoolFiles disk() {
        return DiskSpoolFiles.INSTANCE;
    }
}
