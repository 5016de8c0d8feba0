package org.smtptlsproxy.spool;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;

/**
 * Files of delivered messages kept in {@code free/} to be overwritten by the next messages: a new
 * message then costs no inode or block allocation, the bulk of the kernel's work per message.
 *
 * <p>A freed file is not reusable at once. Until an fsync of {@code queue/} that started after its
 * rename out of {@code queue/} has completed, a crash may bring the old name back, and it must not
 * then point at another message's octets. So a freed file waits: {@link #beforeDirectorySync()}
 * marks what an fsync about to start covers, and {@link #directorySynced} makes those reusable.
 * Thread-safe.
 */
final class RecycledFiles {

    /** Files kept at most; more are unlinked. */
    static final int CAPACITY = 256;
    /**
     * Only files of messages up to this size are kept: the pool must not hold much disk outside
     * {@code spool.max_size}, and the common small message is what gains from it.
     */
    static final long MAX_CONTENT_BYTES = 256 * 1024;

    private record Freed(Path file, long sequence) {
    }

    private final Deque<Freed> awaitingSync = new ArrayDeque<>();
    private final Deque<Path> ready = new ArrayDeque<>();
    private long sequence;

    /** Whether a delivered message of this size is worth keeping now. */
    synchronized boolean accepts(long contentSize) {
        return contentSize <= MAX_CONTENT_BYTES && awaitingSync.size() + ready.size() < CAPACITY;
    }

    /** The file was renamed into {@code free/}: reusable after the next fsync of {@code queue/}. */
    synchronized void freed(Path file) {
        awaitingSync.addLast(new Freed(file, ++sequence));
    }

    /** Called just before an fsync of {@code queue/} starts; pass the result to {@link #directorySynced}. */
    synchronized long beforeDirectorySync() {
        return sequence;
    }

    /** The fsync that started at {@code mark} succeeded: what was freed before it is reusable. */
    synchronized void directorySynced(long mark) {
        for (Iterator<Freed> it = awaitingSync.iterator(); it.hasNext(); ) {
            Freed freed = it.next();
            if (freed.sequence() > mark) {
                break;
            }
            it.remove();
            ready.addLast(freed.file());
        }
    }

    /** A file to overwrite, or null when none is ready. */
    synchronized Path take() {
        return ready.pollLast(); // the most recently freed: its blocks are likeliest in cache
    }

    /** A taken file that was not used after all (an aborted message): reusable again. */
    synchronized void giveBack(Path file) {
        ready.addLast(file);
    }
}
