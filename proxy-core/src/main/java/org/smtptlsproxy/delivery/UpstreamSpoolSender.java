package org.smtptlsproxy.delivery;

import io.netty.channel.EventLoopGroup;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.smtptlsproxy.spool.AttemptResult;
import org.smtptlsproxy.spool.SpoolSender;
import org.smtptlsproxy.spool.SpooledMessage;

/**
 * Sends spooled messages upstream as a cut-through transaction of the proxy's own: the same pool,
 * STARTTLS, TLS 1.2+ with verification, AUTH, fallback hosts and reply checks as a sender's
 * relayed message gets. The delivery is asked for each attempt, so a reload's new upstream
 * applies to the next attempt.
 */
public final class UpstreamSpoolSender implements SpoolSender {

    private final Supplier<Delivery> upstream;
    private final EventLoopGroup loops;
    private final Executor fileReads;
    private final String hostname;

    /**
     * @param upstream  the cut-through delivery in force (it changes on reload)
     * @param loops     where attempts run, next to the inbound sessions
     * @param fileReads reads message files, off the event loops
     */
    public UpstreamSpoolSender(Supplier<Delivery> upstream, EventLoopGroup loops, Executor fileReads, String hostname) {
        this.upstream = upstream;
        this.loops = loops;
        this.fileReads = fileReads;
        this.hostname = hostname;
    }

    @Override
    public CompletionStage<AttemptResult> send(SpooledMessage message) {
        CompletableFuture<AttemptResult> result = new CompletableFuture<>();
        var loop = loops.next();
        loop.execute(() -> new SpoolAttempt(message, upstream.get().open(loop), loop, fileReads, hostname, result).start());
        return result;
    }
}
