package org.smtptlsproxy.spool;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One thread that makes commits durable in batches: it takes every commit waiting, fsyncs their
 * files concurrently (on ext4 concurrent fsyncs share one journal commit), renames them into
 * {@code queue/}, fsyncs that directory once for all of them, and completes them. Commits that
 * arrive while a batch is on the disk form the next batch, so the more sessions are waiting, the
 * fewer fsyncs each costs. This is Postfix's single fsync per message, shared.
 */
final class GroupCommitter {

    private static final int MAX_BATCH = 256;
    private static final PendingCommit STOP = new PendingCommit(null, null, null, null, null);

    private final BlockingQueue<PendingCommit> queue = new LinkedBlockingQueue<>();
    private final Consumer<List<PendingCommit>> batchWriter;
    private final ExecutorService syncThreads;
    private final Thread thread;

    /**
     * {@code batchWriter} gets each batch after the fsyncs: it discards the commits that carry a
     * failure and renames the rest, fsyncs the directory and completes them.
     */
    GroupCommitter(String name, int syncParallelism, Consumer<List<PendingCommit>> batchWriter) {
        this.batchWriter = batchWriter;
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
            if (!batch.isEmpty()) {
                syncAll(batch);
                batchWriter.accept(batch);
            }
        }
    }

    /** Fsyncs every commit's files at once; a commit whose fsync failed carries the failure. */
    private void syncAll(List<PendingCommit> batch) {
        List<Future<?>> syncs = new ArrayList<>(batch.size());
        for (PendingCommit commit : batch) {
            syncs.add(batch.size() == 1 ? null : syncThreads.submit(() -> {
                commit.syncFiles();
                return null;
            }));
        }
        for (int i = 0; i < batch.size(); i++) {
            PendingCommit commit = batch.get(i);
            try {
                if (syncs.get(i) == null) {
                    commit.syncFiles();
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
