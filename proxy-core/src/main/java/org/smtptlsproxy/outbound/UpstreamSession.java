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
import io.netty.handler.codec.smtp.SmtpResponse;
import io.netty.handler.codec.smtp.SmtpResponseDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSession;
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

    static final int MAX_REPLY_LINE = 4096;
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

    public boolean isTls() {
        return tlsSession != null;
    }

    /** TLS protocol agreed with the upstream, e.g. "TLSv1.3". */
    public String tlsProtocol() {
        return tlsSession == null ? "none" : tlsSession.getProtocol();
    }

    public String tlsCipher() {
        return tlsSession == null ? "none" : tlsSession.getCipherSuite();
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
        return enqueue(last, "end of data");
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
     * whose connection drops, so a message the proxy rejected is never delivered.
     */
    public void abort(String reason) {
        fail(new UpstreamFailure(Outcome.CONNECTION_LOST, reason));
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
        if (!(msg instanceof SmtpResponse response)) {
            // Plaintext that followed the 220 to STARTTLS, handed over by the removed decoder.
            ReferenceCountUtil.release(msg);
            return;
        }
        if (tlsUpgrade != null) {
            return; // a reply between STARTTLS and TLS was not sent by the server we will verify
        }
        Expectation expectation = awaiting.poll();
        if (expectation == null) {
            fail(new UpstreamFailure(Outcome.PROTOCOL_ERROR,
                    "unexpected reply from upstream " + target + ": " + toReply(response).oneLine()));
            return;
        }
        cancelTimeout();
        SmtpReply reply = toReply(response);
        metrics.upstreamReply(expectation.what(), reply); // smtp_proxy_upstream_replies_total{stage,class,reason}
        if (expectation.what().equals("STARTTLS") && reply.code() == 220) {
            beginTls();
        }
        expectation.promise().trySuccess(reply);
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
        pipeline.addAfter(UpstreamHandlerNames.TLS, UpstreamHandlerNames.DECODER, new SmtpResponseDecoder(MAX_REPLY_LINE));
        watchHandshake(ssl, tlsUpgrade);
    }

    private void watchHandshake(SslHandler ssl, Promise<Void> upgraded) {
        long started = System.nanoTime();
        ssl.handshakeFuture().addListener(f -> {
            long elapsed = System.nanoTime() - started;
            if (f.isSuccess()) {
                tlsSession = ssl.engine().getSession();
                metrics.tlsHandshake(ProxyMetrics.Side.OUTBOUND, tlsSession.getProtocol(), true, elapsed);
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
        fail(new UpstreamFailure(Outcome.PROTOCOL_ERROR,
                "upstream " + target + " error: " + TlsFailures.reason(cause)));
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelTimeout();
        UpstreamFailure cause = currentFailure();
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
        if (writabilityListener != null) {
            writabilityListener.run(); // a blocked relay must wake up and notice
        }
        ctx.fireChannelInactive();
    }

    private UpstreamFailure currentFailure() {
        if (failure == null) {
            failure = new UpstreamFailure(Outcome.CONNECTION_LOST, "upstream " + target + " closed the connection");
        }
        return failure;
    }

    private void fail(UpstreamFailure cause) {
        if (failure == null) {
            failure = cause;
        }
        channel.close();
    }

    private void armTimeout() {
        cancelTimeout();
        Expectation head = awaiting.peekFirst();
        if (head == null) {
            return;
        }
        timeout = channel.eventLoop().schedule(() -> fail(new UpstreamFailure(Outcome.TIMEOUT,
                "no reply from upstream " + target + " to " + head.what() + " within " + describe(commandTimeout))),
                commandTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void cancelTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
    }

    static SmtpReply toReply(SmtpResponse response) {
        List<String> lines = new ArrayList<>(response.details().size());
        for (CharSequence line : response.details()) {
            lines.add(line.toString());
        }
        return new SmtpReply(response.code(), lines);
    }

    static String describe(Duration duration) {
        long millis = duration.toMillis();
        return millis % 60_000 == 0 ? millis / 60_000 + "m" : millis % 1000 == 0 ? millis / 1000 + "s" : millis + "ms";
    }
}
