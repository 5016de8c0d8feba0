package org.smtptlsproxy.delivery;

import io.netty.channel.EventLoop;
import org.smtptlsproxy.spool.SpoolStore;

/**
 * Stores each message durably before the sender gets its 250 (issue 13): for senders that cannot
 * queue themselves. The spool's scheduler delivers it later, over the same upstream path as
 * cut-through.
 */
public final class SpoolDelivery implements Delivery {

    private final SpoolStore store;
    private final String listener;

    public SpoolDelivery(SpoolStore store, String listener) {
        this.store = store;
        this.listener = listener;
    }

    @Override
    public DeliverySession open(EventLoop loop) {
        return new DeliverySession() {
            @Override
            public DeliveryTransaction begin(TransactionFacts facts) {
                return new SpoolTransaction(store, listener, facts, loop);
            }

            @Override
            public void close() {
                // Nothing is held between transactions: each one owns its spool file.
            }
        };
    }
}
