package org.smtptlsproxy.inbound;

/**
 * Whether the proxy is draining (SIGTERM): sessions finish the transaction in flight, and a
 * session between transactions gets {@code 421 4.3.2} at its next command. Read by sessions on
 * every event loop, written once by the lifecycle thread: hence volatile.
 */
public final class Shutdown {

    private volatile boolean draining;

    public boolean isDraining() {
        return draining;
    }

    public void beginDraining() {
        draining = true;
    }
}
