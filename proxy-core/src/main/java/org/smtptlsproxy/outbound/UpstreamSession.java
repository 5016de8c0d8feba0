package org.smtptlsproxy.outbound;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.smtp.DefaultSmtpRequest;
import io.netty.handler.codec.smtp.LastSmtpContent;
import io.netty.handler.codec.smtp.SmtpCommand;
import io.netty.handler.codec.smtp.SmtpContent;
import io.netty.handler.codec.smtp.SmtpRequest;
import io.netty.handler.codec.smtp.SmtpRequests;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.Durations;
import org.smtptlsproxy.config.HostPort;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.outbound.UpstreamFailure.Outcome;
import org.smtptlsproxy.smtp.EhloCapabilities;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.tls.SessionResumption;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * One connection to the upstream: matches replies to the commands that asked for them, in order,
 * times out every wait, and performs the STARTTLS switch. All calls happen on the channel's event
 * loop (the inbound session's own loop), so no field needs to be volatile.
 *
 * <p>Invariant: nothing but EHLO and STARTTLS is ever written before TLS is up; the relay asks
 * for this session only after {@link UpstreamSetup} finished, which requires TLS.
 */
public final class UpstreamSession extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(UpstreamSession.class);

    static final int MAX_REPLY_LINE = 4096;
    /** How long a QUIT sent on giving up may take to be answered before the connection is closed. */
    private static final Duration QUIT_WAIT = Duration.ofSeconds(2);
    /** netty-codec-smtp has no constant for it. */
    private static final SmtpCommand STARTTLS = SmtpCommand.valueOf("STARTTLS");

    private record Expectation(String what, Promise<SmtpReply> promise) {
    }

    private record Unsent(Object message, Expectation expectation) {
    }

    private final HostPort target;
    private final String serverName;
    private final Duration commandTimeout;
    private final ProxyMetrics metrics;

    private Channel channel;
    private Promise<SmtpReply> banner;
    private final ArrayDeque<Expectation> awaiting = new ArrayDeque<>();
    /** Commands held back while a reply is outstanding, for an upstream without PIPELINING. */
    private final ArrayDeque<Unsent> unsent = new ArrayDeque<>();
    private boolean pipelining;
    private EhloCapabilities capabilities = EhloCapabilities.NONE;
    private ScheduledFuture<?> timeout;
    private SSLSession tlsSession;
    /** Kept apart from the SSLSession: a closed engine may no longer tell, and the log needs it after a drop. */
    private String tlsProtocol = "none";
    private String tlsCipher = "none";
    /** From DATA until the end of data: the upstream may be reading message content, so no QUIT. */
    private boolean dataOpen;
    /** A QUIT was sent on giving up; whatever comes next only ends the connection. */
    private boolean quitting;
    private boolean authenticated;
    /** Set from the 220 to STARTTLS until the handshake ends; replies then are plaintext injections. */
    private Promise<Void> tlsUpgrade;
    private SslContext pendingTlsContext;
    private Promise<Void> pendingTlsPromise;
    private UpstreamFailure failure;
    private Runnable writabilityListener;

    UpstreamSession(HostPort target, String serverName, Duration commandTimeout, ProxyMetrics metrics) {
        this.target = target;
        this.serverName = serverName;
        this.commandTimeout = commandTimeout;
        this.metrics = metrics;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        // The banner is the first reply; it is awaited from the moment the connection exists.
        banner = channel.eventLoop().newPromise();
        awaiting.add(new Expectation("the banner", banner));
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        SslHandler implicitTls = ctx.pipeline().get(SslHandler.class);
        if (implicitTls != null) {
            watchHandshake(implicitTls, null);
        }
        armTimeout();
        ctx.fireChannelActive();
    }

    /**
     * The upstream's greeting. Kept apart from the queue of awaited replies: the connect listener
     * that asks for it may run after the banner arrived (or the connection died) and left the queue.
     */
    Future<SmtpReply> banner() {
        return banner;
    }

    /** The loop this session lives on: results computed elsewhere hop back here. */
    EventLoop eventLoop() {
        return channel.eventLoop();
    }

    public HostPort target() {
        return target;
    }

    public String serverName() {
        return serverName;
    }

    public EhloCapabilities capabilities() {
        return capabilities;
    }

    void capabilities(EhloCapabilities capabilities) {
        this.capabilities = capabilities;
        this.pipelining = capabilities.pipelining();
    }

    /** True once AUTH succeeded on this session (RFC 4954 5: only then does MAIL carry AUTH=). */
    public boolean isAuthenticated() {
        return authenticated;
    }

    void authenticated() {
        this.authenticated = true;
    }

    public boolean isTls() {
        return tlsSession != null;
    }

    /** TLS protocol agreed with the upstream, e.g. "TLSv1.3"; still known after the connection broke. */
    public String tlsProtocol() {
        return tlsProtocol;
    }

    public String tlsCipher() {
        return tlsCipher;
    }

    public boolean isUsable() {
        return failure == null && channel.isActive() && tlsUpgrade == null;
    }

    public boolean isWritable() {
        return channel.isWritable();
    }

    /** Called when the upstream can take more data again (backpressure towards the client). */
    public void onWritable(Runnable listener) {
        this.writabilityListener = listener;
    }

    /** Sends a command; the future completes with the upstream's reply, whatever its code. */
    public Future<SmtpReply> send(SmtpRequest request) {
        if (request.command().equals(SmtpCommand.DATA)) {
            dataOpen = true;
        } else if (request.command().equals(SmtpCommand.RSET)) {
            dataOpen = false;
        }
        return enqueue(request, request.command().name().toString());
    }

    /** Message data: no reply is expected for it. */
    public void writeContent(SmtpContent content) {
        if (!isUsable()) {
            content.release();
            return;
        }
        channel.writeAndFlush(content, channel.voidPromise());
    }

    /** The final piece of data; the encoder appends the terminator. Completes with the final reply. */
    public Future<SmtpReply> endData(LastSmtpContent last) {
        Future<SmtpReply> reply = enqueue(last, "end of data");
        dataOpen = false;
        return reply;
    }

    /** Ends the session politely; failures do not matter any more. */
    public void quit() {
        if (!isUsable()) {
            channel.close();
            return;
        }
        enqueue(SmtpRequests.quit(), "QUIT").addListener(f -> channel.close());
    }

    /**
     * Abandons whatever is in flight without an end-of-data: the upstream discards a transaction
     * whose connection drops, so a message the proxy rejected is never delivered. Outside message
     * data the upstream is told with a QUIT first, as a well-behaved client would.
     */
    public void abort(String reason) {
        fail(new UpstreamFailure(Outcome.CONNECTION_LOST, reason));
    }

    /** Gives up on this session for a reason of the set-up (no STARTTLS, AUTH refused, ...). */
    void abort(UpstreamFailure reason) {
        fail(reason);
    }

    public Future<Void> closeFuture() {
        return channel.closeFuture();
    }

    /**
     * Sends STARTTLS and, on its 220, switches to TLS. The future succeeds once the handshake
     * has verified the upstream.
     */
    Future<Void> startTls(SslContext sslContext) {
        Promise<Void> upgraded = channel.eventLoop().newPromise();
        pendingTlsContext = sslContext;
        pendingTlsPromise = upgraded;
        enqueue(new DefaultSmtpRequest(STARTTLS), "STARTTLS").addListener(f -> {
                    if (!f.isSuccess()) {
                        upgraded.tryFailure(f.cause());
                        return;
                    }
                    SmtpReply reply = (SmtpReply) f.getNow();
                    if (reply.code() != 220) {
                        upgraded.tryFailure(new UpstreamFailure(Outcome.TLS_FAILED,
                                "upstream " + target + " refused STARTTLS: " + reply.oneLine()).asException());
                    }
                });
        return upgraded;
    }

    private Future<SmtpReply> enqueue(Object message, String what) {
        Expectation expectation = new Expectation(what, channel.eventLoop().newPromise());
        if (failure != null || !channel.isActive()) {
            ReferenceCountUtil.release(message);
            expectation.promise().tryFailure(currentFailure().asException());
        } else if (!pipelining && !awaiting.isEmpty()) {
            unsent.add(new Unsent(message, expectation));
        } else {
            write(message, expectation);
        }
        return expectation.promise();
    }

    private void write(Object message, Expectation expectation) {
        awaiting.add(expectation);
        if (awaiting.size() == 1) {
            armTimeout();
        }
        channel.writeAndFlush(message).addListener(f -> {
            if (!f.isSuccess()) {
                fail(new UpstreamFailure(Outcome.CONNECTION_LOST,
                        "writing to upstream " + target + " failed: " + TlsFailures.reason(f.cause())));
            }
        });
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (quitting) {
            ReferenceCountUtil.release(msg);
            channel.close(); // the answer to our QUIT, or whatever else: we are done either way
            return;
        }
        if (msg instanceof SmtpReplyDecoder.MalformedReply malformed) {
            Expectation head = awaiting.peekFirst();
            fail(new UpstreamFailure(Outcome.PROTOCOL_ERROR, "upstream " + target + " sent a malformed reply"
                    + (head == null ? "" : " to " + head.what()) + ", " + malformed.description()));
            return;
        }
        if (!(msg instanceof SmtpReply reply)) {
            // Plaintext that followed the 220 to STARTTLS, handed over by the removed decoder.
            ReferenceCountUtil.release(msg);
            return;
        }
        if (tlsUpgrade != null || failure != null) {
            return; // a reply between STARTTLS and TLS was not sent by the server we will verify
        }
        Expectation expectation = awaiting.poll();
        if (expectation == null) {
            fail(new UpstreamFailure(Outcome.PROTOCOL_ERROR,
                    "unexpected reply from upstream " + target + ": " + reply.oneLine()));
            return;
        }
        cancelTimeout();
        metrics.upstreamReply(expectation.what(), reply); // smtp_proxy_upstream_replies_total{stage,class,reason}
        if (expectation.what().equals("STARTTLS") && reply.code() == 220) {
            beginTls();
        }
        expectation.promise().trySuccess(reply);
        if (failure != null) {
            return; // the reply's listener gave up on this session
        }
        if (!awaiting.isEmpty()) {
            armTimeout();
        }
        while (!unsent.isEmpty() && (pipelining || awaiting.isEmpty()) && failure == null) {
            Unsent next = unsent.poll();
            write(next.message(), next.expectation());
        }
    }

    /**
     * The STARTTLS recipe: bytes after the 220 are dropped with the old decoder, TLS goes first in
     * the pipeline, and a fresh decoder reads only what comes through TLS.
     */
    private void beginTls() {
        tlsUpgrade = pendingTlsPromise;
        ChannelPipeline pipeline = channel.pipeline();
        SslHandler ssl = pendingTlsContext.newHandler(channel.alloc(), serverName, target.port());
        ssl.setHandshakeTimeout(commandTimeout.toMillis(), TimeUnit.MILLISECONDS);
        pipeline.remove(UpstreamHandlerNames.DECODER);
        pipeline.addFirst(UpstreamHandlerNames.TLS, ssl);
        pipeline.addAfter(UpstreamHandlerNames.TLS, UpstreamHandlerNames.DECODER, new SmtpReplyDecoder(MAX_REPLY_LINE));
        watchHandshake(ssl, tlsUpgrade);
    }

    private void watchHandshake(SslHandler ssl, Promise<Void> upgraded) {
        long started = System.nanoTime();
        ssl.handshakeFuture().addListener(f -> {
            long elapsed = System.nanoTime() - started;
            if (f.isSuccess()) {
                tlsSession = ssl.engine().getSession();
                tlsProtocol = tlsSession.getProtocol();
                tlsCipher = tlsSession.getCipherSuite();
                metrics.tlsHandshake(ProxyMetrics.Side.OUTBOUND, tlsProtocol, tlsCipher, elapsed);
                metrics.certificates().upstreamSeen(tlsSession);
                if (SessionResumption.resumed(ssl.engine())) {
                    metrics.tlsSessionResumed(ProxyMetrics.Side.OUTBOUND);
                }
                tlsUpgrade = null;
                if (upgraded != null) {
                    upgraded.trySuccess(null);
                }
            } else {
                metrics.tlsHandshake(ProxyMetrics.Side.OUTBOUND, null, false, elapsed);
                UpstreamFailure tlsFailure = handshakeFailure(f.cause());
                if (upgraded != null) {
                    upgraded.tryFailure(tlsFailure.asException());
                }
                fail(tlsFailure);
            }
        });
    }

    private UpstreamFailure handshakeFailure(Throwable cause) {
        String why = TlsFailures.reason(cause);
        return switch (TlsFailures.classify(cause)) {
            case CERTIFICATE -> new UpstreamFailure(Outcome.CERTIFICATE_INVALID,
                    "upstream " + target + " certificate not accepted for " + serverName + ": " + why);
            case TIMEOUT -> new UpstreamFailure(Outcome.TIMEOUT,
                    "TLS handshake with upstream " + target + " timed out");
            case OTHER -> new UpstreamFailure(Outcome.TLS_FAILED,
                    "TLS 1.2+ handshake with upstream " + target + " failed: " + why);
        };
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && writabilityListener != null) {
            writabilityListener.run();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof IOException || cause instanceof SSLException || cause.getCause() instanceof SSLException) {
            fail(new UpstreamFailure(Outcome.CONNECTION_LOST,
                    "connection to upstream " + target + " failed: " + TlsFailures.reason(cause)));
        } else {
            // Our bug, not the upstream's: the detail is for the log, never for a sender's bounce.
            LOG.warn("upstream={} unexpected error, closing the session", target, cause);
            fail(new UpstreamFailure(Outcome.PROTOCOL_ERROR, "internal error while talking to upstream " + target));
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelTimeout();
        failPending(currentFailure());
        if (writabilityListener != null) {
            writabilityListener.run(); // a blocked relay must wake up and notice
        }
        ctx.fireChannelInactive();
    }

    /** Every reply still awaited now fails: no later byte from this connection is trusted. */
    private void failPending(UpstreamFailure cause) {
        List<Promise<?>> toFail = new ArrayList<>();
        awaiting.forEach(e -> toFail.add(e.promise()));
        unsent.forEach(u -> {
            ReferenceCountUtil.release(u.message());
            toFail.add(u.expectation().promise());
        });
        awaiting.clear();
        unsent.clear();
        if (tlsUpgrade != null) {
            toFail.add(tlsUpgrade);
        }
        for (Promise<?> promise : toFail) {
            promise.tryFailure(cause.asException());
        }
    }

    private UpstreamFailure currentFailure() {
        if (failure == null) {
            failure = new UpstreamFailure(Outcome.CONNECTION_LOST, "upstream " + target + " closed the connection");
        }
        return failure;
    }

    /**
     * Ends the session for {@code cause}. Whoever waits for a reply learns it at once; the upstream
     * gets a QUIT first where one cannot be taken for message data or land in a half-done TLS switch.
     */
    private void fail(UpstreamFailure cause) {
        if (failure != null) {
            return;
        }
        failure = cause;
        cancelTimeout();
        if (cause.outcome() == Outcome.PROTOCOL_ERROR) {
            LOG.info("upstream={} upstream_protocol_error: {}", target, cause.reason());
        }
        boolean polite = channel.isActive() && !dataOpen && tlsUpgrade == null;
        failPending(cause);
        if (!polite) {
            channel.close();
            return;
        }
        quitting = true;
        channel.writeAndFlush(SmtpRequests.quit()).addListener(f -> {
            if (!f.isSuccess()) {
                channel.close();
            }
        });
        long wait = Math.min(QUIT_WAIT.toNanos(), commandTimeout.toNanos());
        channel.eventLoop().schedule(() -> channel.close(), wait, TimeUnit.NANOSECONDS);
    }

    private void armTimeout() {
        cancelTimeout();
        Expectation head = awaiting.peekFirst();
        if (head == null) {
            return;
        }
        timeout = channel.eventLoop().schedule(() -> fail(new UpstreamFailure(Outcome.TIMEOUT,
                "upstream " + target + " timed out: no reply to " + head.what() + " within " + Durations.format(commandTimeout))),
                commandTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void cancelTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
    }
}
