package org.smtptlsproxy.runtime;

import io.netty.handler.flush.FlushConsolidationHandler;

/**
 * One write syscall for what a session says in one go. Every reply and upstream command is
 * flushed where it is written, which keeps the session code simple, but a pipelined MAIL, RCPT
 * and DATA, or the replies to them, would then cost a syscall (and on loopback the peer's TCP
 * processing) each. The handler defers those flushes to the end of the current read cycle, or of
 * the current event-loop task when no read is in progress: nothing waits for more input.
 */
public final class Flushes {

    /** Still flush after this many deferred flushes, so that a long burst keeps moving. */
    private static final int MAX_DEFERRED = 256;

    private Flushes() {
    }

    public static FlushConsolidationHandler consolidating() {
        return new FlushConsolidationHandler(MAX_DEFERRED, true);
    }
}
