package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The real disk with a failure at the k-th operation: either that one operation fails (a full
 * disk, a failed fsync) or, in crash mode, it and every later one do, as if the process had died
 * there: nothing after step k reaches the disk.
 */
final class FaultySpoolFiles implements SpoolFiles {

    private final SpoolFiles disk = SpoolFiles.disk();
    private final int failAt;
    private final boolean crash;
    private final boolean realSync;
    private final AtomicInteger steps = new AtomicInteger();
    private final AtomicInteger reuses = new AtomicInteger();

    FaultySpoolFiles(int failAt, boolean crash) {
        this(failAt, crash, true);
    }

    /**
     * {@code realSync} false counts fsyncs as steps without doing them: the simulated crash keeps
     * the page cache anyway, and thousands of runs then take seconds.
     */
    FaultySpoolFiles(int failAt, boolean crash, boolean realSync) {
        this.failAt = failAt;
        this.crash = crash;
        this.realSync = realSync;
    }

    int steps() {
        return steps.get();
    }

    /** Files of delivered messages opened to be overwritten, successfully. */
    int reuses() {
        return reuses.get();
    }

    private void step(String what) throws IOException {
        int step = steps.incrementAndGet();
        if (step == failAt || (crash && step > failAt)) {
            throw new IOException("injected failure at step " + step + " (" + what + ")");
        }
    }

    @Override
    public WritableFile create(Path file) throws IOException {
        step("create");
        return faulty(disk.create(file));
    }

    @Override
    public WritableFile reuse(Path file) throws IOException {
        step("reuse");
        WritableFile reused = faulty(disk.reuse(file));
        reuses.incrementAndGet();
        return reused;
    }

    private WritableFile faulty(WritableFile real) {
        return new WritableFile() {
            @Override
            public void write(ByteBuffer bytes) throws IOException {
                step("write");
                real.write(bytes);
            }

            @Override
            public void truncate(long size) throws IOException {
                step("truncate");
                real.truncate(size);
            }

            @Override
            public void sync() throws IOException {
                step("fsync");
                if (realSync) {
                    real.sync();
                }
            }

            @Override
            public void close() throws IOException {
                real.close(); // closing loses nothing: not a step
            }
        };
    }

    @Override
    public void rename(Path source, Path target) throws IOException {
        step("rename");
        disk.rename(source, target);
    }

    @Override
    public void syncDirectory(Path directory) throws IOException {
        step("directory fsync");
        if (realSync) {
            disk.syncDirectory(directory);
        }
    }

    @Override
    public void delete(Path file) throws IOException {
        step("delete");
        disk.delete(file);
    }
}
