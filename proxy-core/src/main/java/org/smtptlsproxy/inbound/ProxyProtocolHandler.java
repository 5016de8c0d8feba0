package org.smtptlsproxy.inbound;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.Cidr;
import org.smtptlsproxy.relay.TransactionLog;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * Behind a load balancer ({@code proxy_protocol: true}): only a peer in {@code trusted_proxies}
 * may speak, and its PROXY v1/v2 header (decoded by Netty's {@code HAProxyMessageDecoder}, just
 * before this handler) names the client. Until then the rest of the pipeline has not seen the
 * connection: {@code channelActive} is held back, so the gate's allow-list and limits, the banner
 * and TLS all start with the real client's address. Anything else (an untrusted peer, no header
 * in time, a malformed one, a proxied protocol other than TCP) closes the connection, counted as
 * {@code proxy_protocol_error}.
 */
final class ProxyProtocolHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(ProxyProtocolHandler.class);
    /** A load balancer sends its header as soon as it connects; ten seconds is generous. */
    private static final long HEADER_TIMEOUT_SECONDS = 10;

    private final ListenerContext context;
    private ScheduledFuture<?> headerTimeout;
    private boolean refused;

    ProxyProtocolHandler(ListenerContext context) {
        this.context = context;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        InetAddress peer = peer(ctx).getAddress();
        if (!isTrusted(peer)) {
            refuse(ctx, "the peer is not in trusted_proxies");
            return;
        }
        headerTimeout = ctx.executor().schedule(() -> refuse(ctx, "no PROXY header within " + HEADER_TIMEOUT_SECONDS + " s"),
                HEADER_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        ctx.read(); // auto-read is off: ask for the header
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof HAProxyMessage header)) {
            ctx.fireChannelRead(msg);
            return;
        }
        InetSocketAddress client;
        try {
            client = clientOf(header, peer(ctx));
        } finally {
            header.release();
        }
        if (client == null) {
            refuse(ctx, "the header proxies " + header.proxiedProtocol() + ", not TCP");
            return;
        }
        if (header.proxiedProtocol() == HAProxyProxiedProtocol.TCP4 && !isCanonicalIpv4(header.sourceAddress())) {
            // "010.0.0.1" is 10.0.0.1 to some parsers and 8.0.0.1 to others: the allow-list must not guess.
            refuse(ctx, "non-canonical source address in the header");
            return;
        }
        headerTimeout.cancel(false);
        ctx.channel().attr(ClientAddress.FROM_PROXY_HEADER).set(client);
        ctx.pipeline().remove(this);
        ctx.fireChannelActive();
    }

    /**
     * The header's source; the peer itself for a LOCAL command or an UNKNOWN protocol (the load
     * balancer's own health checks); null for anything but TCP.
     */
    private static InetSocketAddress clientOf(HAProxyMessage header, InetSocketAddress peer) {
        if (header.command() == HAProxyCommand.LOCAL || header.proxiedProtocol() == HAProxyProxiedProtocol.UNKNOWN) {
            return peer;
        }
        if (header.proxiedProtocol() != HAProxyProxiedProtocol.TCP4 && header.proxiedProtocol() != HAProxyProxiedProtocol.TCP6) {
            return null;
        }
        byte[] address = NetUtil.createByteArrayFromIpAddressString(header.sourceAddress());
        try {
            return address == null ? null : new InetSocketAddress(InetAddress.getByAddress(address), header.sourcePort());
        } catch (UnknownHostException impossible) {
            return null; // a 4- or 16-octet array is always a valid address
        }
    }

    /** Dotted decimal without leading zeros, as HAProxy writes it (v1 headers are text). */
    private static boolean isCanonicalIpv4(String address) {
        for (String octet : address.split("\\.", -1)) {
            if (octet.length() > 1 && octet.charAt(0) == '0') {
                return false;
            }
        }
        return true;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof DecoderException) { // HAProxyProtocolException among them
            refuse(ctx, "invalid PROXY header: " + TlsFailures.reason(cause));
        } else {
            ctx.close(); // the load balancer went away before its header: nothing to count
        }
    }

    /** The rest of the pipeline never saw this connection become active, so it must not see it end. */
    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (headerTimeout != null) {
            headerTimeout.cancel(false);
        }
    }

    private boolean isTrusted(InetAddress peer) {
        for (Cidr cidr : context.listener().trustedProxies()) {
            if (cidr.contains(peer)) {
                return true;
            }
        }
        return false;
    }

    private void refuse(ChannelHandlerContext ctx, String why) {
        if (refused) {
            return;
        }
        refused = true;
        InetSocketAddress peer = peer(ctx);
        String peerText = peer.getAddress().getHostAddress() + ":" + peer.getPort();
        context.metrics().connectionRejected(context.name(), "proxy_protocol_error");
        LOG.info("listener={} peer={} PROXY protocol: {}; closing", context.name(), peerText, why);
        TransactionLog.sessionWithoutTransaction("-", peerText, context.name(), "none", "refused:proxy_protocol_error");
        ctx.close();
    }

    private static InetSocketAddress peer(ChannelHandlerContext ctx) {
        return (InetSocketAddress) ctx.channel().remoteAddress();
    }
}
