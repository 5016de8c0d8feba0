package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The real disk with a failure at the k-th operation: either that one operation fails (a full
 * disk, a failed fsync) or, in crash mode, it and every later one do, as if the process had died
 * there: nothing after step k reaches the disk.
 *
 * <p>With a graveyard directory it also models the power loss that may follow such a crash: it
 * journals every name it changes (create, rename, delete), and {@link #losePowerNow()} undoes,
 * newest first, those no directory fsync made durable. A name change is durable once an fsync of
 * a directory it touched (a rename touches two, atomically) has completed after it. File contents
 * are kept as written, fsynced or not: the worst case for a name that comes back.
 */
final class FaultySpoolFiles implements SpoolFiles {

    private enum Kind { CREATE, RENAME, DELETE }

    /** A name change: {@code grave} holds a hard link to what a rename replaced or a delete removed. */
    private record Change(Kind kind, Path from, Path to, Path grave, Set<Path> directories) {
    }

    private final SpoolFiles disk = SpoolFiles.disk();
    private final int failAt;
    private final boolean crash;
    private final boolean realSync;
    private final Path graveyard;
    private final AtomicInteger steps = new AtomicInteger();
    private final AtomicInteger reuses = new AtomicInteger();
    private final List<Change> notDurable = new ArrayList<>();
    private int graves;

    FaultySpoolFiles(int failAt, boolean crash) {
        this(failAt, crash, true, null);
    }

    /**
     * {@code realSync} false counts fsyncs as steps without doing them: the simulated crash keeps
     * the page cache anyway, and thousands of runs then take seconds. {@code graveyard} (on the
     * spool's file system; null for none) enables {@link #losePowerNow()}.
     */
    FaultySpoolFiles(int failAt, boolean crash, boolean realSync, Path graveyard) {
        this.failAt = failAt;
        this.crash = crash;
        this.realSync = realSync;
        this.graveyard = graveyard;
    }

    int steps() {
        return steps.get();
    }

    /** Files of delivered messages opened to be overwritten, successfully. */
    int reuses() {
        return reuses.get();
    }

    /** Undoes the name changes no directory fsync made durable, newest first. */
    synchronized void losePowerNow() throws IOException {
        for (int i = notDurable.size() - 1; i >= 0; i--) {
            Change change = notDurable.get(i);
            switch (change.kind()) {
                case CREATE -> Files.deleteIfExists(change.to());
                case RENAME -> {
                    if (Files.exists(change.to())) {
                        Files.move(change.to(), change.from(), StandardCopyOption.ATOMIC_MOVE);
                    }
                    if (change.grave() != null) {
                        Files.move(change.grave(), change.to(), StandardCopyOption.ATOMIC_MOVE);
                    }
                }
                case DELETE -> {
                    if (change.grave() != null) {
                        Files.move(change.grave(), change.to(), StandardCopyOption.ATOMIC_MOVE);
                    }
                }
                default -> throw new IllegalStateException();
            }
        }
        notDurable.clear();
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
        WritableFile created = faulty(disk.create(file));
        journal(Kind.CREATE, null, file, null);
        return created;
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
        Path grave = bury(target);
        try {
            disk.rename(source, target);
        } catch (IOException | RuntimeException e) {
            if (grave != null) {
                Files.delete(grave);
            }
            throw e;
        }
        journal(Kind.RENAME, source, target, grave);
    }

    @Override
    public void syncDirectory(Path directory) throws IOException {
        step("directory fsync");
        int covered;
        synchronized (this) {
            covered = notDurable.size();
        }
        if (realSync) {
            disk.syncDirectory(directory);
        }
        Path synced = directory.toAbsolutePath().normalize();
        synchronized (this) {
            int kept = 0;
            for (int i = 0; i < notDurable.size(); i++) {
                Change change = notDurable.get(i);
                boolean durable = i < covered && change.directories().contains(synced);
                if (durable && change.grave() != null) {
                    Files.deleteIfExists(change.grave());
                }
                if (!durable) {
                    notDurable.set(kept++, change);
                }
            }
            notDurable.subList(kept, notDurable.size()).clear();
        }
    }

    @Override
    public void delete(Path file) throws IOException {
        step("delete");
        Path grave = bury(file);
        disk.delete(file);
        journal(Kind.DELETE, null, file, grave);
    }

    /** A hard link to {@code file} if it exists and power loss is modelled, so that its name can come back. */
    private Path bury(Path file) throws IOException {
        if (graveyard == null || !Files.exists(file)) {
            return null;
        }
        Path grave;
        synchronized (this) {
            grave = graveyard.resolve(Integer.toString(++graves));
        }
        Files.createDirectories(graveyard);
        return Files.createLink(grave, file);
    }

    private synchronized void journal(Kind kind, Path from, Path to, Path grave) {
        if (graveyard == null) {
            return;
        }
        Path toDirectory = to.toAbsolutePath().normalize().getParent();
        Set<Path> directories = from == null ? Set.of(toDirectory)
                : Set.copyOf(List.of(from.toAbsolutePath().normalize().getParent(), toDirectory));
        notDurable.add(new Change(kind, from, to, grave, directories));
    }
}
