package org.smtptlsproxy.inbound;

import java.net.InetAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Counts open inbound connections, in total and per client address, across all listeners and
 * event loops (hence the atomics: connections of one client may land on different loops).
 */
public final class ConnectionLimiter {

    public enum Verdict { ACCEPTED, TOO_MANY_CONNECTIONS, TOO_MANY_PER_CLIENT }

    // Volatile: a reload sets new limits while connections keep being counted against the same totals.
    private volatile int maxConnections;
    private volatile int maxPerClient;
    private final AtomicInteger total = new AtomicInteger();
    private final ConcurrentHashMap<InetAddress, AtomicInteger> perClient = new ConcurrentHashMap<>();

    public ConnectionLimiter(int maxConnections, int maxPerClient) {
        this.maxConnections = maxConnections;
        this.maxPerClient = maxPerClient;
    }

    /** New limits for connections from now on; open ones are neither counted anew nor closed. */
    public void setLimits(int maxConnections, int maxPerClient) {
        this.maxConnections = maxConnections;
        this.maxPerClient = maxPerClient;
    }

    /** On ACCEPTED the caller owns one slot and must {@link #release} it when the connection ends. */
    public Verdict acquire(InetAddress client) {
        if (total.incrementAndGet() > maxConnections) {
            total.decrementAndGet();
            return Verdict.TOO_MANY_CONNECTIONS;
        }
        // Increment inside compute: a concurrent release may be removing this client's entry.
        int[] afterIncrement = new int[1];
        perClient.compute(client, (address, count) -> {
            AtomicInteger c = count == null ? new AtomicInteger() : count;
            afterIncrement[0] = c.incrementAndGet();
            return c;
        });
        if (afterIncrement[0] > maxPerClient) {
            release(client);
            return Verdict.TOO_MANY_PER_CLIENT;
        }
        return Verdict.ACCEPTED;
    }

    public void release(InetAddress client) {
        total.decrementAndGet();
        perClient.computeIfPresent(client, (a, count) -> count.decrementAndGet() <= 0 ? null : count);
    }

    public int open() {
        return total.get();
    }
}
