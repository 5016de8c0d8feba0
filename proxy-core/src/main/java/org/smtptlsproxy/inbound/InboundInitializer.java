package org.smtptlsproxy.inbound;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.flow.FlowControlHandler;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.runtime.Flushes;

/**
 * Builds each inbound pipeline: flush consolidation, [PROXY header], gate, [TLS], idle timer, SMTP decoder,
 * flow control, reply encoder, session. The context comes from a supplier so that a reload applies to new
 * connections while existing ones keep theirs.
 */
public final class InboundInitializer extends ChannelInitializer<SocketChannel> {

    private final Supplier<ListenerContext> contexts;
    private final ChannelGroup sessions;

    /**
     * @param sessions every inbound connection joins it (and leaves when closed), for draining
     */
    public InboundInitializer(Supplier<ListenerContext> contexts, ChannelGroup sessions) {
        this.contexts = contexts;
        this.sessions = sessions;
    }

    @Override
    protected void initChannel(SocketChannel ch) {
        sessions.add(ch);
        ListenerContext context = contexts.get();
        ChannelPipeline pipeline = ch.pipeline();
        // At the head, where it sees the socket's own read cycles (the FlowControlHandler further
        // on delivers commands outside them).
        pipeline.addLast(HandlerNames.FLUSH, Flushes.consolidating());
        if (context.listener().proxyProtocol()) {
            // Before the gate and TLS: the header names the client they must judge, and it
            // precedes a ClientHello on the wire.
            pipeline.addLast(HandlerNames.PROXY_DECODER, new HAProxyMessageDecoder());
            pipeline.addLast(HandlerNames.PROXY_PROTOCOL, new ProxyProtocolHandler(context));
        }
        pipeline.addLast(HandlerNames.GATE, new ClientAccessHandler(context));
        long idleMillis = context.limits().idleTimeout().toMillis();
        if (context.listener().tls().mode() == InboundTlsMode.IMPLICIT) {
            SslHandler ssl = context.tls().newHandler(ch.alloc());
            ssl.setHandshakeTimeout(idleMillis, TimeUnit.MILLISECONDS);
            pipeline.addLast(HandlerNames.TLS, ssl);
        }
        pipeline.addLast(HandlerNames.IDLE, new IdleStateHandler(idleMillis, 0, 0, TimeUnit.MILLISECONDS));
        pipeline.addLast(HandlerNames.DECODER, new SmtpServerDecoder(context.limits().bareNewlines(),
                context.limits().maxMessageSize().bytes(), context.limits().idleTimeout()));
        pipeline.addLast(HandlerNames.FLOW_CONTROL, new FlowControlHandler());
        pipeline.addLast(HandlerNames.ENCODER, SmtpReplyEncoder.INSTANCE);
        pipeline.addLast(HandlerNames.SESSION, new SmtpSessionHandler(context));
    }
}
