package org.smtptlsproxy.delivery;

import io.netty.channel.EventLoop;
import org.smtptlsproxy.outbound.UpstreamPool;

/**
 * Relays each transaction to the upstream while the client sends it: the client's 250 for its
 * data is the upstream's own, so nothing is ever held by the proxy.
 */
public final class CutThroughDelivery implements Delivery {

    private final UpstreamPool pool;

    public CutThroughDelivery(UpstreamPool pool) {
        this.pool = pool;
    }

    @Override
    public DeliverySession open(EventLoop loop) {
        return new CutThroughSession(pool, loop);
    }
}
