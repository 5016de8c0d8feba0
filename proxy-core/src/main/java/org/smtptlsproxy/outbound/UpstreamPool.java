package org.smtptlsproxy.outbound;

import io.netty.channel.EventLoop;
import io.netty.handler.codec.smtp.SmtpRequests;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.smtptlsproxy.config.PoolConfig;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * Warm, verified upstream sessions kept between transactions, so most messages skip the TCP,
 * STARTTLS and TLS set-up. Idle sessions are kept per event loop: a session is only ever reused
 * on the loop it lives on, so a relay still runs on one thread and the per-loop queues need no
 * lock. Every reuse starts with an RSET probe; a session that fails it, closed, or idled past
 * {@code idle_timeout} is dropped. {@link UpstreamTransaction} keeps a failed probe out of the
 * client's replies.
 *
 * <p>{@code max_idle} bounds the idle sessions of all loops together, not an equal share of
 * each: senders are spread over the loops by connection, not by transaction, so at any moment
 * one loop has more transactions in flight than another, and a fixed share closed sessions on
 * the busier loop that it needed again a moment later (with 50 senders and the old default, one
 * message in four set up a new upstream session). The most recently used session is reused
 * first, so at a lower load the least recently used ones idle out: the pool follows the load
 * down within {@code idle_timeout}.
 */
public final class UpstreamPool {

    private final UpstreamConnector connector;
    private final int maxIdle;
    private final Duration idleTimeout;
    private final Map<EventLoop, ArrayDeque<Idle>> idleByLoop = new ConcurrentHashMap<>();
    /** Idle sessions over all loops; each loop's queue changes only on that loop, the total is shared. */
    private final AtomicInteger idleTotal = new AtomicInteger();
    /** Set once by a reload that replaced this pool: nothing is kept from then on. */
    private volatile boolean retired;

    /** The probe result of a connection that was just set up: its EHLO is proof enough. */
    static final SmtpReply PROVEN = SmtpReply.of(250, "2.0.0 New session");

    private record Idle(UpstreamSession session, ScheduledFuture<?> expiry) {
    }

    public UpstreamPool(UpstreamConnector connector, PoolConfig config) {
        this.connector = connector;
        this.maxIdle = config.maxIdle();
        this.idleTimeout = config.idleTimeout();
    }

    /**
     * A session for a new transaction on {@code loop}: the most recently used idle one, with its
     * RSET probe already on the wire, or else a new connection. The caller pipelines its commands
     * behind the probe and starts over with {@link #open} if the probe fails.
     */
    public Future<UpstreamLease> lease(EventLoop loop) {
        ArrayDeque<Idle> idle = idleByLoop.get(loop);
        Idle candidate;
        while (idle != null && (candidate = idle.pollLast()) != null) { // most recent: least likely to be stale
            idleTotal.decrementAndGet();
            candidate.expiry().cancel(false);
            UpstreamSession session = candidate.session();
            if (session.isUsable()) {
                return loop.newSucceededFuture(new UpstreamLease(session, session.send(SmtpRequests.rset())));
            }
        }
        return open(loop);
    }

    /** A new, verified connection; it needs no probe. */
    public Future<UpstreamLease> open(EventLoop loop) {
        Promise<UpstreamLease> result = loop.newPromise();
        connector.open(loop).addListener(f -> {
            if (f.isSuccess()) {
                result.trySuccess(new UpstreamLease((UpstreamSession) f.getNow(), loop.newSucceededFuture(PROVEN)));
            } else {
                result.tryFailure(f.cause());
            }
        });
        return result;
    }

    /**
     * A client is done with {@code session} (between transactions). It is kept if usable and
     * there is room; otherwise it is closed politely.
     */
    public void release(UpstreamSession session, EventLoop loop) {
        session.onWritable(null);
        if (retired || maxIdle == 0 || !session.isUsable()) {
            session.quit();
            return;
        }
        if (idleTotal.incrementAndGet() > maxIdle) {
            idleTotal.decrementAndGet();
            session.quit();
            return;
        }
        ArrayDeque<Idle> idle = idleByLoop.computeIfAbsent(loop, l -> new ArrayDeque<>());
        ScheduledFuture<?> expiry = loop.schedule(() -> {
            if (idle.removeIf(entry -> entry.session() == session)) {
                idleTotal.decrementAndGet();
            }
            session.quit();
        }, idleTimeout.toNanos(), TimeUnit.NANOSECONDS);
        // A session that dies while idle stays queued until its expiry or the next acquire skips it:
        // bounded by maxIdle, and no listener piles up on sessions that are pooled many times.
        idle.addLast(new Idle(session, expiry));
    }

    /**
     * A reload replaced this pool (new upstream, trust or credentials): its idle sessions are
     * closed, each on its own loop, and sessions that clients still use are closed when released.
     */
    public void retire() {
        retired = true;
        idleByLoop.forEach((loop, idle) -> loop.execute(() -> {
            Idle entry;
            while ((entry = idle.pollFirst()) != null) {
                idleTotal.decrementAndGet();
                entry.expiry().cancel(false);
                entry.session().quit();
            }
        }));
    }

    /** Idle sessions on {@code loop}, for tests and metrics. */
    public int idleCount(EventLoop loop) {
        ArrayDeque<Idle> idle = idleByLoop.get(loop);
        return idle == null ? 0 : idle.size();
    }

    /** Idle sessions over all loops, for tests and metrics. */
    public int idleCount() {
        return idleTotal.get();
    }
}
