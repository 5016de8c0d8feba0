package org.smtptlsproxy.server.lifecycle;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.util.concurrent.EventExecutor;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * systemd's watchdog ({@code WatchdogSec=} in the unit, {@code WATCHDOG_USEC} in the environment)
 * and the live {@code STATUS=} line. At half the interval a round starts: a task goes to every
 * event loop of the proxy, and {@code WATCHDOG=1} is sent by the last of them to run it. A timer
 * alone would keep pinging while every loop hangs; this way a loop that stops running tasks
 * (blocked, spinning) stops the pings, and systemd restarts the service. A new round starts only
 * when the previous one has finished, so a stuck loop does not pile up probes.
 */
public final class SystemdWatchdog implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SystemdWatchdog.class);
    /** Without a watchdog the STATUS line is still refreshed, this often. */
    private static final Duration STATUS_INTERVAL = Duration.ofSeconds(10);

    private final SystemdNotifier notifier;
    private final Supplier<List<EventExecutor>> eventLoops;
    private final Supplier<String> status;
    private final ScheduledExecutorService timer;
    private final boolean watchdogEnabled;
    private final long periodMillis;
    private final AtomicBoolean roundInFlight = new AtomicBoolean();
    /** One warning per stretch of missed pings, not one per tick. */
    private final AtomicBoolean missing = new AtomicBoolean();

    private SystemdWatchdog(SystemdNotifier notifier, Supplier<List<EventExecutor>> eventLoops, Supplier<String> status,
                            Duration watchdogInterval) {
        this.notifier = notifier;
        this.eventLoops = eventLoops;
        this.status = status;
        this.watchdogEnabled = watchdogInterval != null;
        this.timer = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "sd-watchdog");
            thread.setDaemon(true);
            return thread;
        });
        this.periodMillis = watchdogEnabled ? Math.max(1, watchdogInterval.toMillis() / 2) : STATUS_INTERVAL.toMillis();
        timer.scheduleAtFixedRate(this::tick, watchdogEnabled ? 0 : periodMillis, periodMillis, TimeUnit.MILLISECONDS);
    }

    /**
     * Starts the pings when {@code WATCHDOG_USEC} asks for them (and {@code WATCHDOG_PID}, if set,
     * is this process), else only the periodic STATUS; nothing at all without a notifier.
     */
    public static SystemdWatchdog start(SystemdNotifier notifier, Map<String, String> environment,
                                        Supplier<List<EventExecutor>> eventLoops, Supplier<String> status) {
        if (!notifier.enabled()) {
            return null;
        }
        Duration interval = watchdogInterval(environment);
        if (interval != null) {
            LOG.info("systemd watchdog: every event loop is checked every {} ms", interval.toMillis() / 2);
        }
        return new SystemdWatchdog(notifier, eventLoops, status, interval);
    }

    static Duration watchdogInterval(Map<String, String> environment) {
        String usec = environment.get("WATCHDOG_USEC");
        if (usec == null || usec.isBlank()) {
            return null;
        }
        String pid = environment.get("WATCHDOG_PID");
        if (pid != null && !pid.isBlank() && !pid.trim().equals(Long.toString(ProcessHandle.current().pid()))) {
            return null; // meant for another process (sd_watchdog_enabled does the same)
        }
        try {
            long micros = Long.parseLong(usec.trim());
            return micros > 0 ? Duration.ofNanos(micros * 1000) : null;
        } catch (NumberFormatException e) {
            LOG.warn("WATCHDOG_USEC={} is not a number of microseconds: no watchdog pings", usec);
            return null;
        }
    }

    private void tick() {
        try {
            if (!watchdogEnabled) {
                notifier.status(status.get());
                return;
            }
            if (!roundInFlight.compareAndSet(false, true)) {
                if (missing.compareAndSet(false, true)) {
                    LOG.warn("systemd watchdog: an event loop has not run its check for {} ms; no pings until it does",
                            periodMillis);
                }
                return;
            }
            List<EventExecutor> loops = eventLoops.get();
            AtomicInteger waiting = new AtomicInteger(loops.size());
            for (EventExecutor loop : loops) {
                loop.execute(() -> {
                    if (waiting.decrementAndGet() == 0) {
                        roundInFlight.set(false);
                        if (missing.compareAndSet(true, false)) {
                            LOG.info("systemd watchdog: every event loop answers again");
                        }
                        notifier.watchdog(status.get());
                    }
                });
            }
        } catch (RejectedExecutionException e) {
            // The loops are shutting down: the process is on its way out, no more pings.
            LOG.debug("systemd watchdog: event loops are shutting down");
        } catch (RuntimeException e) {
            LOG.warn("systemd watchdog round failed: {}", e.toString());
        }
    }

    /** The STATUS line: what an administrator sees in {@code systemctl status}. */
    public static String liveCounts(MeterRegistry registry, String state) {
        double active = registry.find("smtp.proxy.connections.active").gauges().stream().mapToDouble(Gauge::value).sum();
        return String.format("%s: %d active connection%s, %d message%s relayed, %d deferred, %d rejected", state,
                (long) active, (long) active == 1 ? "" : "s", messages(registry, "relayed"),
                messages(registry, "relayed") == 1 ? "" : "s", messages(registry, "deferred"), messages(registry, "rejected"));
    }

    private static long messages(MeterRegistry registry, String outcome) {
        Counter counter = registry.find("smtp.proxy.messages").tag("outcome", outcome).counter();
        return counter == null ? 0 : (long) counter.count();
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
