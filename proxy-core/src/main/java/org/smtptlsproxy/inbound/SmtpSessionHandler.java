package org.smtptlsproxy.inbound;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.smtp.LastSmtpContent;
import io.netty.handler.codec.smtp.SmtpContent;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.smtp.CommandLine;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.tls.SessionResumption;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * Connects one {@link SmtpSession} to its channel: decoded commands, data and SASL responses go
 * in, and the session's replies, TLS upgrade, decoder modes, reads and close come out here.
 *
 * <p>Reading is explicit (auto-read is off): a {@code FlowControlHandler} in front hands over one
 * command or data chunk per {@link #read()}, which the session asks for when it is ready.
 */
public final class SmtpSessionHandler extends ChannelInboundHandlerAdapter implements SessionOutput {

    private static final Logger LOG = LoggerFactory.getLogger(SmtpSessionHandler.class);

    private final ListenerContext context;
    private ChannelHandlerContext ctx;
    private SmtpServerDecoder decoder;
    private SmtpSession session;

    private boolean dispatching;
    private boolean wantMore;
    private boolean awaitingClient;
    private boolean readWhenWritable;

    public SmtpSessionHandler(ListenerContext context) {
        this.context = context;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.decoder = ctx.pipeline().get(SmtpServerDecoder.class);
        this.session = new SmtpSession(context, ctx.executor(), context.delivery().open(ctx.channel().eventLoop()), this);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        SslHandler implicitTls = ctx.pipeline().get(SslHandler.class);
        if (implicitTls != null) {
            watchHandshake(implicitTls);
        }
        session.start(ClientAddress.of(ctx.channel()));
        ctx.fireChannelActive();
    }

    // ---- reading, one message at a time ------------------------------------------------------

    /**
     * Asks for the next command or data chunk. The FlowControlHandler may deliver it inside
     * {@code ctx.read()}; the trampoline keeps a burst of pipelined commands from recursing.
     */
    @Override
    public void read() {
        if (session.isClosing()) {
            return;
        }
        if (dispatching) {
            wantMore = true;
            return;
        }
        if (!ctx.channel().isWritable()) {
            // A client that does not read its replies must not make us queue them without bound.
            readWhenWritable = true;
            return;
        }
        dispatching = true;
        try {
            do {
                wantMore = false;
                awaitingClient = true;
                ctx.read();
            } while (wantMore && !session.isClosing());
        } finally {
            dispatching = false;
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        awaitingClient = false;
        if (session.isClosing()) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof CommandLine command) {
            session.command(command);
        } else if (msg instanceof LastSmtpContent last) {
            session.endOfData(last.content(), decoder.dataSize());
        } else if (msg instanceof SmtpContent content) {
            session.content(content.content());
        } else if (msg instanceof SmtpServerDecoder.SaslResponse response) {
            session.saslResponse(response.line());
        } else if (msg instanceof DecoderSignal signal) {
            session.signal(signal);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    /**
     * A read cycle ended. With auto-read off, Netty's contract is that a demand not met by the
     * cycle (say, half a command line arrived) is dropped here: ask again while we still wait.
     */
    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (awaitingClient) {
            read();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && readWhenWritable) {
            readWhenWritable = false;
            read();
        }
        ctx.fireChannelWritabilityChanged();
    }

    // ---- what the session asks for ------------------------------------------------------------

    @Override
    public void write(SmtpReply reply) {
        ctx.write(reply);
    }

    @Override
    public void flush() {
        ctx.flush();
    }

    @Override
    public void writeAndClose(SmtpReply reply) {
        ctx.writeAndFlush(reply).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void resumeCommands() {
        decoder.resumeCommands();
    }

    @Override
    public void expectSaslResponse() {
        decoder.expectSaslResponse();
    }

    @Override
    public void startData() {
        decoder.startData();
    }

    @Override
    public void discardData() {
        decoder.discardData();
    }

    @Override
    public void startTls() {
        // Order matters (RFC 3207 5, CVE-2011-0411): drop what was pipelined after STARTTLS and
        // put TLS in front; the session's 220 comes next, and SslHandler lets that one through.
        decoder.startTls();
        SslHandler ssl = new SslHandler(context.tls().newEngine(ctx.alloc()), true);
        ctx.pipeline().addBefore(HandlerNames.DECODER, HandlerNames.TLS, ssl);
        watchHandshake(ssl);
    }

    private void watchHandshake(SslHandler ssl) {
        long started = System.nanoTime();
        ssl.handshakeFuture().addListener(f -> {
            long elapsed = System.nanoTime() - started;
            if (f.isSuccess()) {
                SSLSession tls = ssl.engine().getSession();
                session.tlsEstablished(tls.getProtocol(), tls.getCipherSuite());
                context.metrics().tlsHandshake(ProxyMetrics.Side.INBOUND, tls.getProtocol(), tls.getCipherSuite(), elapsed);
                context.metrics().inboundHandshake(context.name(), tls.getProtocol(), SessionResumption.resumed(ssl.engine()));
            } else {
                context.metrics().tlsHandshake(ProxyMetrics.Side.INBOUND, null, false, elapsed);
                context.metrics().tlsHandshakeFailed(ProxyMetrics.Side.INBOUND, TlsFailures.label(f.cause()));
                session.tlsFailed();
                LOG.info("session={} client={} TLS handshake failed: {}", session.sessionId(), session.clientAddress(),
                        TlsFailures.reason(f.cause()));
            }
        });
    }

    // ---- connection events --------------------------------------------------------------------

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        // Only while we are waiting for the client: a slow upstream has its own timeouts.
        if (evt instanceof IdleStateEvent && awaitingClient && session.idle()) {
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        session.closed();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Expected trouble from the network or a client's TLS: one line. Anything else: the stack.
        if (cause instanceof IOException || cause instanceof SSLException || cause.getCause() instanceof SSLException) {
            LOG.info("session={} client={} connection error: {}", session.sessionId(), session.clientAddress(),
                    TlsFailures.reason(cause));
            LOG.debug("session={} connection error detail", session.sessionId(), cause);
        } else {
            LOG.warn("session={} client={} unexpected error, closing", session.sessionId(), session.clientAddress(), cause);
        }
        session.failed();
        ctx.close();
    }
}
