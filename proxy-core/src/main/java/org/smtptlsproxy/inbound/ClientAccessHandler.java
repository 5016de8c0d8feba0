package org.smtptlsproxy.inbound;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.smtptlsproxy.config.Cidr;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.relay.TransactionLog;
import org.smtptlsproxy.smtp.Replies;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * The gate, first in the pipeline (after the PROXY header, where one is expected): allow-list and
 * connection limits are checked on the client's address before any TLS or SMTP work is spent on
 * it. A refused connection never reaches the session handler.
 */
public final class ClientAccessHandler extends ChannelInboundHandlerAdapter {

    private final ListenerContext context;
    private InetAddress admitted;

    public ClientAccessHandler(ListenerContext context) {
        this.context = context;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        InetAddress client = ClientAddress.of(ctx.channel()).getAddress();
        if (!isAllowed(client)) {
            refuse(ctx, Replies.CLIENT_NOT_ALLOWED, "not_allowed");
            return;
        }
        switch (context.limiter().acquire(client)) {
            case TOO_MANY_CONNECTIONS -> refuse(ctx, Replies.TOO_MANY_CONNECTIONS, "too_many_connections");
            case TOO_MANY_PER_CLIENT -> refuse(ctx, Replies.TOO_MANY_FROM_CLIENT, "too_many_per_client");
            case ACCEPTED -> {
                admitted = client;
                context.metrics().connectionOpened(context.name());
                ctx.fireChannelActive();
            }
            default -> throw new IllegalStateException();
        }
    }

    private boolean isAllowed(InetAddress client) {
        for (Cidr cidr : context.listener().allowedClients()) {
            if (cidr.contains(client)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Plaintext listeners hear why; on an implicit-TLS listener a plaintext reply would be noise
     * in the client's handshake, so the connection is just closed.
     */
    private void refuse(ChannelHandlerContext ctx, SmtpReply reply, String reason) {
        context.metrics().connectionRejected(context.name(), reason);
        InetSocketAddress remote = ClientAddress.of(ctx.channel());
        TransactionLog.sessionWithoutTransaction("-", remote.getAddress().getHostAddress() + ":" + remote.getPort(),
                context.name(), "none", "refused:" + reason);
        if (context.listener().tls().mode() == InboundTlsMode.IMPLICIT) {
            ctx.close();
            return;
        }
        ByteBuf out = ctx.alloc().buffer(64);
        SmtpReplyEncoder.write(reply, out);
        ctx.writeAndFlush(out).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (admitted != null) {
            context.limiter().release(admitted);
            context.metrics().connectionClosed(context.name());
            admitted = null;
            ctx.fireChannelInactive();
        }
    }
}
