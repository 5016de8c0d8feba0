package org.smtptlsproxy.spool;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * One thread that makes commits durable in batches: it takes every commit waiting, fsyncs their
 * files (one per message) concurrently (on ext4 concurrent fsyncs share one journal commit), renames them into
 * {@code queue/}, fsyncs that directory once for all of them, and completes them. Commits that
 * arrive while a batch is on the disk form the next batch, so the more sessions are waiting, the
 * fewer fsyncs each costs. This is Postfix's single fsync per message, shared.
 *
 * <p>Removals of delivered messages ride along: their renames and unlinks are done by the caller,
 * and the fsync of {@code queue/} that makes them durable is the next batch's (or one of its own
 * when no commit is waiting), instead of one per removed message on the scheduler's thread.
 */
final class GroupCommitter {

    private static final int MAX_BATCH = 256;
    private static final PendingCommit STOP = new PendingCommit(null, null, null);
    private static final PendingCommit REMOVED = new PendingCommit(null, null, null);

    private final BlockingQueue<PendingCommit> queue = new LinkedBlockingQueue<>();
    private final Predicate<List<PendingCommit>> batchWriter;
    private final Runnable directorySync;
    private final ExecutorService syncThreads;
    private final Thread thread;

    /**
     * {@code batchWriter} gets each batch after the fsyncs: it discards the commits that carry a
     * failure and renames the rest, fsyncs the directory and completes them; it says whether it
     * fsynced the directory. {@code directorySync} fsyncs it for removals when no batch did.
     */
    GroupCommitter(String name, int syncParallelism, Predicate<List<PendingCommit>> batchWriter, Runnable directorySync) {
        this.batchWriter = batchWriter;
        this.directorySync = directorySync;
        this.syncThreads = Executors.newFixedThreadPool(syncParallelism, runnable -> {
            Thread t = new Thread(runnable, name + "-fsync");
            t.setDaemon(true);
            return t;
        });
        this.thread = new Thread(this::run, name);
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    void submit(PendingCommit commit) {
        queue.add(commit);
    }

    /** A message's file left {@code queue/}: the directory is fsynced soon, with the next batch. */
    void removed() {
        queue.add(REMOVED);
    }

    /** Finishes every commit submitted so far, then stops. */
    void stop() throws InterruptedException {
        queue.add(STOP);
        thread.join(TimeUnit.SECONDS.toMillis(30));
        syncThreads.shutdownNow();
    }

    private void run() {
        List<PendingCommit> batch = new ArrayList<>();
        boolean stopping = false;
        while (!stopping) {
            batch.clear();
            try {
                batch.add(queue.take());
            } catch (InterruptedException e) {
                return;
            }
            queue.drainTo(batch, MAX_BATCH);
            stopping = batch.remove(STOP);
            boolean removals = batch.removeIf(commit -> commit == REMOVED);
            boolean directorySynced = false;
            if (!batch.isEmpty()) {
                syncAll(batch);
                directorySynced = batchWriter.test(batch);
            }
            if (removals && !directorySynced) {
                directorySync.run();
            }
        }
    }

    /** Fsyncs every commit's file at once; a commit whose fsync failed carries the failure. */
    private void syncAll(List<PendingCommit> batch) {
        List<Future<?>> syncs = new ArrayList<>(batch.size());
        for (PendingCommit commit : batch) {
            syncs.add(batch.size() == 1 ? null : syncThreads.submit(() -> {
                commit.syncFile();
                return null;
            }));
        }
        for (int i = 0; i < batch.size(); i++) {
            PendingCommit commit = batch.get(i);
            try {
                if (syncs.get(i) == null) {
                    commit.syncFile();
                } else {
                    syncs.get(i).get();
                }
            } catch (java.util.concurrent.ExecutionException e) {
                commit.failure = e.getCause();
            } catch (Exception e) {
                commit.failure = e;
            }
        }
    }
}
