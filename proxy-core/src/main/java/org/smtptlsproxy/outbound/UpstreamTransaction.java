package org.smtptlsproxy.outbound;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.util.ArrayList;
import java.util.List;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * The upstream half of one mail transaction's envelope. MAIL, RCPT and DATA are sent the moment
 * the client's commands arrive, pipelined behind the RSET that proves a reused session alive,
 * which saves a round trip per command group. Until that probe has passed, each command is kept
 * and its reply withheld; when the probe fails, the session is dropped and the commands run again,
 * in order, on a new connection. So a stale pooled session never shows in a client's replies, and
 * the upstream never sees half of one transaction on one connection and half on another.
 *
 * <p>Lives on the client's event loop, like the sessions it uses.
 */
public final class UpstreamTransaction {

    /**
     * One envelope command. It may run twice, on two sessions, so it must build its request from
     * scratch and may consult the session it is given (its capabilities) each time.
     */
    @FunctionalInterface
    public interface Step {
        Future<SmtpReply> sendOn(UpstreamSession session);
    }

    private static final class Pending {
        final Step step;
        final Promise<SmtpReply> reply;
        Future<SmtpReply> sent;

        Pending(Step step, Promise<SmtpReply> reply) {
            this.step = step;
            this.reply = reply;
        }
    }

    private final EventLoop loop;
    private final UpstreamPool pool;
    private final Promise<UpstreamSession> proven;
    /** Commands whose replies wait for the probe. Empty once the session is proven. */
    private final List<Pending> pending = new ArrayList<>();
    /** The session the commands went to; null while one is being leased. */
    private UpstreamSession session;
    private Throwable failure;
    private boolean abandoned;

    /**
     * @param first the session to try first, from {@link UpstreamPool#lease} or the client's own
     *              session of its previous transaction
     */
    public UpstreamTransaction(EventLoop loop, UpstreamPool pool, Future<UpstreamLease> first) {
        this.loop = loop;
        this.pool = pool;
        this.proven = loop.newPromise();
        first.addListener(f -> onLease(f));
    }

    /** Completes with the session once it has proven alive, or fails when none can be had. */
    public Future<UpstreamSession> proven() {
        return proven;
    }

    /** The proven session, or null before that (and forever, if none could be had). */
    public UpstreamSession session() {
        return proven.isSuccess() ? proven.getNow() : null;
    }

    /**
     * Sends a command now if a session is there, else as soon as one is. The future completes with
     * the reply on the session that proved alive, or fails with why no session could be had.
     */
    public Future<SmtpReply> run(Step step) {
        if (failure != null) {
            return loop.newFailedFuture(failure);
        }
        if (proven.isSuccess()) {
            return step.sendOn(session);
        }
        Pending next = new Pending(step, loop.newPromise());
        pending.add(next);
        if (session != null) {
            next.sent = step.sendOn(session);
        }
        return next.reply;
    }

    /**
     * The client is gone or the proxy ended the transaction: whatever session carries the envelope
     * is closed without an end-of-data, so nothing of it is delivered.
     */
    public void abandon(String reason) {
        abandoned = true;
        if (session != null) {
            session.abort(reason);
        }
    }

    private void onLease(Future<? super UpstreamLease> leased) {
        if (!leased.isSuccess()) {
            failAll(leased.cause());
            return;
        }
        UpstreamLease lease = (UpstreamLease) leased.getNow();
        if (abandoned) {
            // Nothing was sent on it yet: it is as good as before, keep it warm for somebody else.
            pool.release(lease.session(), loop);
            return;
        }
        session = lease.session();
        if (lease.provedAlive()) {
            prove(); // sends what is pending and hands its replies through
            return;
        }
        for (Pending p : pending) {
            p.sent = p.step.sendOn(session);
        }
        lease.probe().addListener(f -> onProbe(lease));
    }

    private void onProbe(UpstreamLease lease) {
        if (lease.session() != session || abandoned) {
            return;
        }
        if (lease.provedAlive()) {
            prove();
            return;
        }
        // The replies to what followed the probe are not to be trusted: that connection ends here.
        session.abort("reused session failed its RSET probe: "
                + (lease.probe().isSuccess() ? lease.probe().getNow().oneLine() : "connection lost"));
        session = null;
        for (Pending p : pending) {
            p.sent = null;
        }
        pool.open(loop).addListener(f -> onLease(f));
    }

    private void prove() {
        proven.setSuccess(session);
        for (Pending p : pending) {
            if (p.sent == null) {
                p.sent = p.step.sendOn(session);
            }
            Future<SmtpReply> sent = p.sent;
            Promise<SmtpReply> reply = p.reply;
            sent.addListener(f -> {
                if (f.isSuccess()) {
                    reply.setSuccess(sent.getNow());
                } else {
                    reply.setFailure(f.cause());
                }
            });
        }
        pending.clear();
    }

    private void failAll(Throwable cause) {
        failure = cause;
        proven.setFailure(cause);
        for (Pending p : pending) {
            p.reply.setFailure(cause);
        }
        pending.clear();
    }
}
