package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Counts the fsyncs (of files and of directories) that reach the disk: fsyncs per message is what
 * group commit exists to lower, so it is a figure to read, not to guess.
 */
final class CountedSpoolFiles implements SpoolFiles {

    private final SpoolFiles files;
    private final Runnable fsynced;

    CountedSpoolFiles(SpoolFiles files, Runnable fsynced) {
        this.files = files;
        this.fsynced = fsynced;
    }

    @Override
    public WritableFile create(Path file) throws IOException {
        return counted(files.create(file));
    }

    @Override
    public WritableFile reuse(Path file) throws IOException {
        return counted(files.reuse(file));
    }

    private WritableFile counted(WritableFile created) {
        return new WritableFile() {
            @Override
            public void write(ByteBuffer bytes) throws IOException {
                created.write(bytes);
            }

            @Override
            public void truncate(long size) throws IOException {
                created.truncate(size);
            }

            @Override
            public void sync() throws IOException {
                created.sync();
                fsynced.run();
            }

            @Override
            public void close() throws IOException {
                created.close();
            }
        };
    }

    @Override
    public void rename(Path source, Path target) throws IOException {
        files.rename(source, target);
    }

    @Override
    public void syncDirectory(Path directory) throws IOException {
        files.syncDirectory(directory);
        fsynced.run();
    }

    @Override
    public void delete(Path file) throws IOException {
        files.delete(file);
    }
}
