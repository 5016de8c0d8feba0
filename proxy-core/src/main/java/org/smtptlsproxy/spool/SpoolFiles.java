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

    /**
     * A file being written from its start: created new ({@link #create}) or an existing one
     * overwritten in place ({@link #reuse}); neither truncates on open.
     */
    interface WritableFile extends AutoCloseable {

        /** Writes at the current position, which starts at 0 and advances by what was written. */
        void write(ByteBuffer bytes) throws IOException;

        /** Cuts the file to {@code size} bytes: what a reused longer file still held past it goes. */
        void truncate(long size) throws IOException;

        /** Forces the file's data and metadata to the device (fsync). */
        void sync() throws IOException;

        @Override
        void close() throws IOException;
    }

    WritableFile create(Path file) throws IOException;

    /**
     * Opens an existing file to overwrite it from offset 0 without truncating it first: the blocks
     * it has are written over instead of freed and allocated again (the caller truncates at the end).
     */
    WritableFile reuse(Path file) throws IOException;

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
