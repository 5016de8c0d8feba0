package org.smtptlsproxy.spool;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.smtptlsproxy.smtp.UpstreamReplyReason;

/**
 * The spool's meters ({@code smtp_proxy_spool_*}): depth, bytes and the age of the oldest message
 * as gauges read from the store when scraped, and the configured limits; delivery attempts by
 * outcome and reason, files moved to {@code corrupt/}, and notifications sent. Labels come from
 * enums only.
 */
public final class SpoolMetrics {

    /** How one delivery attempt of a message ended. */
    public enum AttemptOutcome {
        /** Every recipient tried is done (delivered, or some refused for good). */
        DELIVERED,
        /** At least one recipient stays pending for another attempt. */
        DEFERRED,
        /** Every recipient tried was refused for good. */
        FAILED,
        /** Pending recipients given up on after {@code spool.max_age}. */
        EXPIRED;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final MeterRegistry registry;
    private final Map<String, Counter> attempts = new ConcurrentHashMap<>();
    private final Counter corrupt;
    private final Counter notifications;
    private final Counter fsyncs;

    public SpoolMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.corrupt = Counter.builder("smtp.proxy.spool.corrupt.files")
                .description("Spool files that could not be read at start, moved aside to corrupt/")
                .register(registry);
        this.notifications = Counter.builder("smtp.proxy.spool.notifications")
                .description("Delivery status notifications (bounces) queued for senders")
                .register(registry);
        this.fsyncs = Counter.builder("smtp.proxy.spool.fsyncs")
                .description("Fsyncs the spool made, of files and of directories (group commit shares them between messages)")
                .register(registry);
        for (AttemptOutcome outcome : AttemptOutcome.values()) {
            attemptCounter(outcome, UpstreamReplyReason.NONE);
        }
    }

    /** Meters that record into nothing: for tools and tests that need none. */
    public static SpoolMetrics none() {
        return new SpoolMetrics(new SimpleMeterRegistry());
    }

    /**
     * The gauges that read the store's depth, bytes and oldest arrival, and its limits: alerts
     * compare the first with the last, so a spool configured smaller than the default is warned
     * about in time too.
     */
    public void bind(SpoolStore store, SpoolSettings settings, Clock clock) {
        Gauge.builder("smtp.proxy.spool.limit.messages", settings, SpoolSettings::maxMessages)
                .description("spool.max_messages: from this depth on, spooling listeners answer 452 4.3.1")
                .register(registry);
        Gauge.builder("smtp.proxy.spool.limit.size", settings, SpoolSettings::maxSize)
                .baseUnit("bytes")
                .description("spool.max_size: content bytes from which spooling listeners answer 452 4.3.1")
                .register(registry);
        Gauge.builder("smtp.proxy.spool.messages", store, SpoolStore::depth)
                .description("Messages in the spool")
                .register(registry);
        Gauge.builder("smtp.proxy.spool.size", store, SpoolStore::bytes)
                .baseUnit("bytes")
                .description("Content bytes in the spool, messages being written included")
                .register(registry);
        Gauge.builder("smtp.proxy.spool.oldest.age", store, s -> s.oldestArrival()
                        .map(arrival -> Math.max(0, Duration.between(arrival, Instant.now(clock)).toMillis() / 1000.0))
                        .orElse(0.0))
                .baseUnit("seconds")
                .description("Age of the oldest message in the spool (0 when empty)")
                .register(registry);
    }

    public void attempt(AttemptOutcome outcome, UpstreamReplyReason reason) {
        attemptCounter(outcome, reason).increment();
    }

    void corruptMovedAside() {
        corrupt.increment();
    }

    void fsynced() {
        fsyncs.increment();
    }

    void notificationQueued() {
        notifications.increment();
    }

    private Counter attemptCounter(AttemptOutcome outcome, UpstreamReplyReason reason) {
        String key = outcome.label() + '|' + reason.label();
        return attempts.computeIfAbsent(key, k -> Counter.builder("smtp.proxy.spool.delivery.attempts")
                .description("Delivery attempts from the spool, by outcome and the upstream's reason")
                .tag("outcome", outcome.label())
                .tag("reason", reason.label())
                .register(registry));
    }
}
