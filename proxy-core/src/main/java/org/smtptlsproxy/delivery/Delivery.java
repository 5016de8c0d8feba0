package org.smtptlsproxy.delivery;

import io.netty.channel.EventLoop;

/**
 * Where a listener's messages go once the session has accepted their envelope: relayed
 * cut-through to the upstream as they arrive, or stored first and forwarded later. Chosen per
 * listener; the inbound session does not know which.
 */
public interface Delivery {

    /**
     * Opens the delivery side of one client connection.
     *
     * @param loop the client's event loop: every method of what is returned is called on it, and
     *             every future it returns must complete on it
     */
    DeliverySession open(EventLoop loop);
}
