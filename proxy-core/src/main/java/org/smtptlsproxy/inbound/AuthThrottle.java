package org.smtptlsproxy.inbound;

import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Failed AUTH attempts per client address, across connections and listeners: a password guesser
 * that reconnects after each failure gets {@code maxFailures} tries per window, then no AUTH at all
 * from that address until the window has passed ({@code limits.auth_failures_per_client},
 * {@code limits.auth_failure_window}). Shared by every event loop, hence the concurrent map.
 */
public final class AuthThrottle {

    /** Addresses tracked at most; past that, expired windows are swept before a new one is added. */
    private static final int MAX_TRACKED = 100_000;

    private record Window(long startNanos, int failures) {
    }

    // Volatile: a reload sets new limits while the windows already open keep counting.
    private volatile int maxFailures;
    private volatile long windowNanos;
    private final ConcurrentHashMap<InetAddress, Window> windows = new ConcurrentHashMap<>();

    public AuthThrottle(int maxFailures, Duration window) {
        setLimits(maxFailures, window);
    }

    public void setLimits(int maxFailures, Duration window) {
        this.maxFailures = maxFailures;
        this.windowNanos = window.toNanos();
    }

    /** True while {@code client} has used up its failures in the current window. */
    public boolean isBlocked(InetAddress client) {
        Window window = windows.get(client);
        if (window == null) {
            return false;
        }
        if (expired(window, System.nanoTime())) {
            windows.remove(client, window);
            return false;
        }
        return window.failures() >= maxFailures;
    }

    /** Counts a failed AUTH from {@code client}. */
    public void failed(InetAddress client) {
        long now = System.nanoTime();
        if (windows.size() >= MAX_TRACKED) {
            windows.values().removeIf(w -> expired(w, now));
        }
        windows.compute(client, (address, window) ->
                window == null || expired(window, now) ? new Window(now, 1) : new Window(window.startNanos(), window.failures() + 1));
    }

    private boolean expired(Window window, long now) {
        return now - window.startNanos() > windowNanos;
    }
}
