package org.smtptlsproxy.delivery;

import io.netty.channel.EventLoop;
import java.util.concurrent.Executor;
import org.smtptlsproxy.spool.SpoolStore;

/**
 * Stores each message durably before the sender gets its 250 (issue 13): for senders that cannot
 * queue themselves. The spool's scheduler delivers it later, over the same upstream path as
 * cut-through.
 */
public final class SpoolDelivery implements Delivery {

    private final SpoolStore store;
    private final String listener;
    private final Executor fileIo;

    /** @param fileIo the spool's I/O threads: every file operation of a transaction runs there, not on the event loop */
    public SpoolDelivery(SpoolStore store, String listener, Executor fileIo) {
        this.store = store;
        this.listener = listener;
        this.fileIo = fileIo;
    }

    @Override
    public DeliverySession open(EventLoop loop) {
        return new DeliverySession() {
            @Override
            public DeliveryTransaction begin(TransactionFacts facts) {
                return new SpoolTransaction(store, listener, facts, loop, fileIo);
            }

            @Override
            public void close() {
                // Nothing is held between transactions: each one owns its spool file.
            }
        };
    }
}
