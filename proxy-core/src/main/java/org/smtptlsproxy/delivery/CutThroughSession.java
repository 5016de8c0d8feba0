package org.smtptlsproxy.delivery;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import org.smtptlsproxy.outbound.UpstreamLease;
import org.smtptlsproxy.outbound.UpstreamPool;
import org.smtptlsproxy.outbound.UpstreamSession;
import org.smtptlsproxy.outbound.UpstreamTransaction;
import org.smtptlsproxy.smtp.Replies;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * One client's upstream side: its transactions go out on the session of its previous one while
 * that is usable, else on one from the pool. Lives on the client's event loop.
 */
final class CutThroughSession implements DeliverySession {

    /** The probe result for this client's own session when its last transaction ended cleanly. */
    private static final Future<SmtpReply> CLEAN_SESSION = ImmediateEventExecutor.INSTANCE.newSucceededFuture(Replies.OK);

    private final UpstreamPool pool;
    private final EventLoop loop;
    private UpstreamSession upstream;
    private boolean upstreamNeedsReset;
    private boolean closed;

    CutThroughSession(UpstreamPool pool, EventLoop loop) {
        this.pool = pool;
        this.loop = loop;
    }

    @Override
    public DeliveryTransaction begin(TransactionFacts facts) {
        return new CutThroughTransaction(this, upstreamFor(), loop, facts.authenticated());
    }

    /**
     * The upstream side of a new transaction: on this client's session of its previous one
     * (behind an RSET if that one did not end cleanly), else on one from the pool.
     */
    private UpstreamTransaction upstreamFor() {
        UpstreamSession current = upstream;
        Future<UpstreamLease> lease;
        if (current != null && current.isUsable()) {
            Future<SmtpReply> probe = upstreamNeedsReset ? current.send(io.netty.handler.codec.smtp.SmtpRequests.rset())
                    : CLEAN_SESSION;
            lease = loop.newSucceededFuture(new UpstreamLease(current, probe));
        } else {
            upstream = null;
            lease = pool.lease(loop);
        }
        upstreamNeedsReset = false;
        UpstreamTransaction envelope = new UpstreamTransaction(loop, pool, lease);
        envelope.proven().addListener(f -> {
            if (!f.isSuccess()) {
                return;
            }
            if (closed) {
                pool.release(envelope.session(), loop); // the probe clears what we sent
            } else {
                upstream = envelope.session(); // kept for this client's next transaction
            }
        });
        return envelope;
    }

    /** The upstream's state may be mid-transaction: the next transaction starts with an RSET. */
    void needsReset() {
        upstreamNeedsReset = true;
    }

    /** A session closed by an aborted transaction is not this client's to reuse. */
    void forget(UpstreamSession session) {
        if (upstream == session) {
            upstream = null;
        }
    }

    @Override
    public void close() {
        closed = true;
        if (upstream != null) {
            // Between transactions the session is still good: keep it warm for the next client.
            pool.release(upstream, loop);
            upstream = null;
        }
    }
}
