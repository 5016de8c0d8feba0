package org.smtptlsproxy.inbound;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;

/**
 * Who the client is: the TCP peer, or behind a load balancer the source named in its PROXY header.
 * Allow-list, per-client limits, logs and the {@code Received:} header all ask here.
 */
public final class ClientAddress {

    static final AttributeKey<InetSocketAddress> FROM_PROXY_HEADER = AttributeKey.valueOf("smtp-tls-proxy.client");

    private ClientAddress() {
    }

    public static InetSocketAddress of(Channel channel) {
        InetSocketAddress fromHeader = channel.attr(FROM_PROXY_HEADER).get();
        return fromHeader != null ? fromHeader : (InetSocketAddress) channel.remoteAddress();
    }
}
