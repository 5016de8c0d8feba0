package org.smtptlsproxy.server.lifecycle;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import sun.misc.Signal;

/**
 * SIGTERM (systemd stop) and SIGINT (Ctrl-C) start a graceful drain instead of the JVM's
 * immediate shutdown, so the process can finish transactions in flight and exit 0; SIGHUP
 * (systemd reload) re-reads the configuration.
 */
public final class Signals {

    private Signals() {
    }

    /**
     * Runs {@code action} at each SIGHUP, one at a time on a thread of its own. Without this the
     * JVM treats SIGHUP as a request to exit, and {@code systemctl reload} would cut every session.
     */
    public static void onReload(Runnable action) {
        ExecutorService reloads = Executors.newSingleThreadExecutor(runnable -> {
            Thread thread = new Thread(runnable, "reload");
            thread.setDaemon(true);
            return thread;
        });
        Signal.handle(new Signal("HUP"), signal -> reloads.execute(action));
    }

    /** Runs {@code action} on its own thread, once, at the first SIGTERM or SIGINT. */
    public static void onTerminate(Consumer<String> action) {
        java.util.concurrent.atomic.AtomicBoolean fired = new java.util.concurrent.atomic.AtomicBoolean();
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), signal -> {
                if (fired.compareAndSet(false, true)) {
                    Thread drain = new Thread(() -> action.accept("SIG" + signal.getName()), "drain");
                    drain.start();
                }
            });
        }
    }
}
