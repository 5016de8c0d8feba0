package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** {@link SpoolFiles} on the local file system. */
final class DiskSpoolFiles implements SpoolFiles {

    static final DiskSpoolFiles INSTANCE = new DiskSpoolFiles();

    private DiskSpoolFiles() {
    }

    @Override
    public WritableFile create(Path file) throws IOException {
        return writable(FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE));
    }

    @Override
    public WritableFile reuse(Path file) throws IOException {
        return writable(FileChannel.open(file, StandardOpenOption.WRITE));
    }

    private static WritableFile writable(FileChannel channel) {
        return new WritableFile() {
            @Override
            public void write(ByteBuffer bytes) throws IOException {
                while (bytes.hasRemaining()) {
                    channel.write(bytes);
                }
            }

            @Override
            public void truncate(long size) throws IOException {
                channel.truncate(size);
            }

            @Override
            public void sync() throws IOException {
                channel.force(true);
            }

            @Override
            public void close() throws IOException {
                channel.close();
            }
        };
    }

    @Override
    public void rename(Path source, Path target) throws IOException {
        Files.move(source, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    @Override
    public void syncDirectory(Path directory) throws IOException {
        // On Linux a directory opened read-only can be fsynced; that is what makes a rename durable.
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    @Override
    public void delete(Path file) throws IOException {
        Files.deleteIfExists(file);
    }
}
