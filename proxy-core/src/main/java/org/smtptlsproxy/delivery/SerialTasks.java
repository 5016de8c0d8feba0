package org.smtptlsproxy.delivery;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one owner's tasks one at a time and in order on a shared pool: tasks submitted while a run
 * is going join it, so a burst (a short message's header, body and end of data, handed over in
 * one read) costs one trip to the pool, not one per task. Each task sees what the ones before it
 * did. When the pool refuses work (it is shutting down), each waiting task's fallback runs
 * instead, on the submitting thread.
 *
 * <p>Netty's {@code NonStickyEventExecutorGroup} orders tasks the same way, but when its pool
 * refuses one it throws and leaves the task queued, and every later task of that executor then
 * waits silently: a sender would hang instead of getting its 451.
 */
final class SerialTasks {

    private static final Logger LOG = LoggerFactory.getLogger(SerialTasks.class);

    private record Task(Runnable work, Runnable refused) {
    }

    private final Executor pool;
    private final Queue<Task> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean running = new AtomicBoolean();

    SerialTasks(Executor pool) {
        this.pool = pool;
    }

    /** Queues {@code work}; {@code refused} runs instead if the pool will not run it. Any thread. */
    void submit(Runnable work, Runnable refused) {
        tasks.add(new Task(work, refused));
        schedule();
    }

    private void schedule() {
        while (!tasks.isEmpty() && running.compareAndSet(false, true)) {
            try {
                pool.execute(this::drain);
                return;
            } catch (RejectedExecutionException e) {
                for (Task task; (task = tasks.poll()) != null; ) {
                    task.refused().run();
                }
                running.set(false);
            }
        }
    }

    private void drain() {
        for (Task task; (task = tasks.poll()) != null; ) {
            try {
                task.work().run();
            } catch (RuntimeException e) {
                LOG.error("a spool file task failed", e);
            }
        }
        running.set(false);
        schedule(); // a task queued after the last poll and before the flag was cleared
    }
}
