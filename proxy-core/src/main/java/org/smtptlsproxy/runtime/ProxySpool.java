package org.smtptlsproxy.runtime;

import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.Durations;
import org.smtptlsproxy.config.SpoolConfig;
import org.smtptlsproxy.delivery.Delivery;
import org.smtptlsproxy.delivery.SpoolDelivery;
import org.smtptlsproxy.delivery.UpstreamSpoolSender;
import org.smtptlsproxy.spool.DeliveryStatusNotification;
import org.smtptlsproxy.spool.RetrySchedule;
import org.smtptlsproxy.spool.SpoolAge;
import org.smtptlsproxy.spool.SpoolFiles;
import org.smtptlsproxy.spool.SpoolMetrics;
import org.smtptlsproxy.spool.SpoolScheduler;
import org.smtptlsproxy.spool.SpoolSettings;
import org.smtptlsproxy.spool.SpoolStore;

/**
 * The spool of the listeners with {@code delivery: spool}: its store (opened, recovered and locked
 * at start-up), the scheduler that delivers from it, and the sender that does so over the
 * upstream path in force. One per process: the directory, its bounds and its retry policy are
 * read at start-up (a reload that changes them says a restart is needed).
 */
final class ProxySpool implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ProxySpool.class);
    /** Spooled messages on their way upstream at once: enough for throughput, few enough for Exchange Online's per-IP limits. */
    static final int MAX_IN_FLIGHT = 20;
    private static final Duration TICK = Duration.ofSeconds(1);

    private final SpoolConfig config;
    private final SpoolStore store;
    private final SpoolScheduler scheduler;
    private final ScheduledExecutorService schedulerThread;
    private final ExecutorService fileIo;

    private ProxySpool(SpoolConfig config, SpoolStore store, SpoolScheduler scheduler,
                       ScheduledExecutorService schedulerThread, ExecutorService fileIo) {
        this.config = config;
        this.store = store;
        this.scheduler = scheduler;
        this.schedulerThread = schedulerThread;
        this.fileIo = fileIo;
    }

    /**
     * Opens the spool and starts delivering from it.
     *
     * @param upstream the cut-through delivery in force (a reload replaces it)
     * @throws SpoolUnavailableException when the directory cannot be used (locked by another
     *         process, unwritable)
     */
    static ProxySpool start(SpoolConfig config, String hostname, MeterRegistry registry, EventLoopGroup loops,
                            Supplier<Delivery> upstream) {
        Clock clock = Clock.systemUTC();
        SpoolMetrics metrics = new SpoolMetrics(registry);
        SpoolStore store;
        try {
            // Recovery logs what it found: unfinished writes deleted, corrupt files moved aside.
            store = SpoolStore.open(SpoolSettings.of(config), SpoolFiles.disk(), clock, metrics);
        } catch (IOException e) {
            throw new SpoolUnavailableException("spool.directory " + config.directory() + ": " + e.getMessage(), e);
        }
        ScheduledExecutorService schedulerThread =
                Executors.newSingleThreadScheduledExecutor(new DefaultThreadFactory("spool-scheduler", true));
        // File work off the event loops: reads for delivery attempts, and each spooling session's
        // open, writes and commit hand-over (SpoolTransaction).
        ExecutorService fileIo = Executors.newFixedThreadPool(2, new DefaultThreadFactory("spool-io", true));
        SecureRandom jitter = new SecureRandom();
        SpoolScheduler scheduler = new SpoolScheduler(store,
                new UpstreamSpoolSender(upstream, loops, fileIo, hostname),
                new RetrySchedule(config.retryFirst(), config.retryMax(), jitter::nextDouble), config.maxAge(),
                config.bounce(), new DeliveryStatusNotification(hostname), metrics, clock,
                schedulerThread, MAX_IN_FLIGHT);
        scheduler.start(TICK);
        LOG.info("spool {}: {} message(s) queued; room for {} messages and {} bytes of content, kept up to {}",
                config.directory(), store.depth(), config.maxMessages(), config.maxSize().bytes(),
                Durations.format(config.maxAge()));
        return new ProxySpool(config, store, scheduler, schedulerThread, fileIo);
    }

    Path directory() {
        return config.directory();
    }

    SpoolConfig config() {
        return config;
    }

    Delivery deliveryFor(String listener) {
        return new SpoolDelivery(store, listener, fileIo);
    }

    /** The spool's state for /health: depth, content bytes, oldest message, a throttling hold. */
    String health(Clock clock) {
        Instant now = clock.instant();
        StringBuilder line = new StringBuilder("spool: ").append(store.depth()).append(" message(s), ")
                .append(store.bytes()).append(" bytes");
        store.oldestArrival().ifPresent(oldest -> line.append(", oldest ").append(SpoolAge.between(oldest, now)));
        Instant held = scheduler.upstreamHeldUntil();
        line.append(held.isAfter(now) ? ", upstream held until " + held + " (throttled)" : ", delivering");
        return line.toString();
    }

    /** Stops delivering (attempts in flight are cut off with the event loops: retried later) and releases the lock. */
    @Override
    public void close() {
        scheduler.close();
        // Not shutdownNow: an interrupt closes a FileChannel mid-write (ClosedByInterruptException),
        // and the result of an attempt that has just ended deserves to be recorded.
        schedulerThread.shutdown();
        fileIo.shutdown();
        try {
            if (!schedulerThread.awaitTermination(5, TimeUnit.SECONDS)) {
                LOG.warn("spool {}: the scheduler did not finish within 5 s; its attempts are retried after the restart",
                        config.directory());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            store.close();
        } catch (IOException e) {
            LOG.warn("spool {}: closing: {}", config.directory(), e.toString());
        }
    }
}
