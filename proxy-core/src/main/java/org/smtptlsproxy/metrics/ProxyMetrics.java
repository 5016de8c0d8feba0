package org.smtptlsproxy.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The product's metrics (PRODUCT.md, "Metrics"). Meters are looked up once per label set and
 * cached, so recording on the hot path is a map hit and an increment. Labels are bounded by
 * construction: listener names come from the config, everything else from enums or TLS protocol
 * names; never a client address, sender or recipient.
 */
public final class ProxyMetrics {

    public enum Side {
        INBOUND, OUTBOUND;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public enum MessageOutcome {
        RELAYED, DEFERRED, REJECTED;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        /** By the class of the reply that ended the transaction. */
        public static MessageOutcome ofReplyCode(int code) {
            return code < 400 ? RELAYED : code < 500 ? DEFERRED : REJECTED;
        }
    }

    private static final Duration[] HANDSHAKE_BUCKETS = durations(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000);
    private static final Duration[] RELAY_BUCKETS = durations(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000);

    private final MeterRegistry registry;
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    /** The per-message and per-connection meters, resolved once: no key is built on the hot path. */
    private final Map<MessageOutcome, Counter> messageCounters = new EnumMap<>(MessageOutcome.class);
    private final Map<String, Counter> connectionCounters = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> active = new ConcurrentHashMap<>();
    private final Map<Side, Timer> handshakeTimers = new ConcurrentHashMap<>();
    private final DistributionSummary messageBytes;
    private final Timer relayTimer;

    public ProxyMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.messageBytes = DistributionSummary.builder("smtp.proxy.message")
                .baseUnit("bytes")
                .description("Size of message data received from clients")
                .register(registry);
        this.relayTimer = Timer.builder("smtp.proxy.relay")
                .description("Client end-of-data to the upstream's final reply")
                .serviceLevelObjectives(RELAY_BUCKETS)
                .register(registry);
        // Every series of a bounded label set exists from the start at zero: a query or alert on
        // a fresh instance sees 0, not "no data".
        for (MessageOutcome outcome : MessageOutcome.values()) {
            messageCounters.put(outcome, counter("smtp.proxy.messages", "Mail transactions by the class of their final reply",
                    "outcome", outcome.label()));
        }
        for (Side side : Side.values()) {
            handshakeTimer(side);
            resumedCounter(side);
            for (String reason : HANDSHAKE_FAILURE_REASONS) {
                tlsHandshakeFailureCounter(side, reason);
            }
        }
        for (String outcome : UPSTREAM_OUTCOMES) {
            upstreamSessionCounter(outcome);
        }
        authCounter(true);
        authCounter(false);
    }

    /** An inbound AUTH attempt. */
    public void authAttempt(boolean success) {
        authCounter(success).increment();
    }

    /**
     * A client refused AUTH (and disconnected) because its address used up its failures
     * ({@code limits.auth_failures_per_client}); or a session closed for a forbidden command.
     */
    public void sessionRefused(String listener, String reason) {
        counter("smtp.proxy.sessions.refused", "Sessions closed for abuse: auth_throttled, forbidden_command, line_timeout",
                "listener", listener, "reason", reason).increment();
    }

    private Counter authCounter(boolean success) {
        return counter("smtp.proxy.auth", "Inbound AUTH attempts", "outcome", success ? "success" : "failure");
    }

    /** Labels of {@code smtp_proxy_upstream_sessions_total}. */
    public static final List<String> UPSTREAM_OUTCOMES = List.of("ok", "connect_failed", "rejected", "starttls_missing",
            "tls_failed", "certificate_invalid", "auth_failed", "timeout", "protocol_error");
    /** Labels of {@code smtp_proxy_tls_handshake_failures_total} (see TlsFailures.label). */
    public static final List<String> HANDSHAKE_FAILURE_REASONS = List.of("protocol_version", "no_shared_cipher",
            "certificate", "not_tls", "timeout", "closed", "other");
    /** Labels of {@code smtp_proxy_sessions_refused_total}. */
    public static final List<String> SESSION_REFUSAL_REASONS = List.of("auth_throttled", "forbidden_command", "line_timeout");
    /** Labels of {@code smtp_proxy_connections_rejected_total}. */
    public static final List<String> REJECTION_REASONS = List.of("not_allowed", "too_many_connections",
            "too_many_per_client", "proxy_protocol_error");

    /** Creates a listener's series at zero. */
    public void registerListener(String listener) {
        connectionCounter(listener);
        activeGauge(listener);
        for (String reason : REJECTION_REASONS) {
            counter("smtp.proxy.connections.rejected", "Inbound connections refused", "listener", listener, "reason", reason);
        }
        for (String reason : SESSION_REFUSAL_REASONS) {
            counter("smtp.proxy.sessions.refused", "Sessions closed for abuse: auth_throttled, forbidden_command, line_timeout",
                    "listener", listener, "reason", reason);
        }
    }

    public MeterRegistry registry() {
        return registry;
    }

    public void connectionOpened(String listener) {
        connectionCounter(listener).increment();
        activeGauge(listener).incrementAndGet();
    }

    public void connectionClosed(String listener) {
        activeGauge(listener).decrementAndGet();
    }

    /** {@code reason}: not_allowed, too_many_connections, too_many_per_client, proxy_protocol_error. */
    public void connectionRejected(String listener, String reason) {
        counter("smtp.proxy.connections.rejected", "Inbound connections refused", "listener", listener,
                "reason", reason).increment();
    }

    /** {@code protocol} is null for a handshake that failed before a protocol was agreed. */
    public void tlsHandshake(Side side, String protocol, boolean success, long nanos) {
        counter("smtp.proxy.tls.handshakes", "TLS handshakes", "side", side.label(),
                "protocol", protocol == null ? "unknown" : protocol,
                "outcome", success ? "success" : "failure").increment();
        if (success) {
            handshakeTimer(side).record(nanos, TimeUnit.NANOSECONDS);
        }
    }

    /**
     * A successful handshake that resumed an earlier session. Counted for BoringSSL only: the
     * JDK's engine does not tell.
     */
    public void tlsSessionResumed(Side side) {
        resumedCounter(side).increment();
    }

    private Counter resumedCounter(Side side) {
        return counter("smtp.proxy.tls.sessions.resumed", "TLS handshakes that resumed an earlier session (BoringSSL)",
                "side", side.label());
    }

    /** {@code reason} comes from {@code TlsFailures.label}: a handful of fixed values. */
    public void tlsHandshakeFailed(Side side, String reason) {
        tlsHandshakeFailureCounter(side, reason).increment();
    }

    private Counter tlsHandshakeFailureCounter(Side side, String reason) {
        return counter("smtp.proxy.tls.handshake.failures", "Failed TLS handshakes by reason", "side", side.label(),
                "reason", reason);
    }

    public void messageCompleted(MessageOutcome outcome) {
        messageCounters.get(outcome).increment();
    }

    public void messageBytes(long octets) {
        messageBytes.record(octets);
    }

    public void relayed(long nanos) {
        relayTimer.record(nanos, TimeUnit.NANOSECONDS);
    }

    /** {@code outcome}: ok, connect_failed, rejected, starttls_missing, tls_failed, ... */
    public void upstreamSession(String outcome) {
        upstreamSessionCounter(outcome).increment();
    }

    private Counter upstreamSessionCounter(String outcome) {
        return counter("smtp.proxy.upstream.sessions", "Upstream session set-ups by outcome", "outcome", outcome);
    }

    private Counter connectionCounter(String listener) {
        return connectionCounters.computeIfAbsent(listener,
                name -> counter("smtp.proxy.connections", "Inbound connections accepted", "listener", name));
    }

    private Timer handshakeTimer(Side side) {
        return handshakeTimers.computeIfAbsent(side, s -> Timer.builder("smtp.proxy.tls.handshake")
                .description("TLS handshake duration")
                .tag("side", s.label())
                .serviceLevelObjectives(HANDSHAKE_BUCKETS)
                .register(registry));
    }

    private AtomicInteger activeGauge(String listener) {
        return active.computeIfAbsent(listener, name -> {
            AtomicInteger value = new AtomicInteger();
            Gauge.builder("smtp.proxy.connections.active", value, AtomicInteger::get)
                    .description("Inbound connections open now")
                    .tag("listener", name)
                    .register(registry);
            return value;
        });
    }

    private Counter counter(String name, String description, String... tags) {
        String key = name + '|' + String.join("|", tags);
        Counter counter = counters.get(key);
        if (counter == null) {
            counter = counters.computeIfAbsent(key, k -> Counter.builder(name)
                    .description(description)
                    .tags(tags)
                    .register(registry));
        }
        return counter;
    }

    private static Duration[] durations(long... millis) {
        Duration[] result = new Duration[millis.length];
        for (int i = 0; i < millis.length; i++) {
            result[i] = Duration.ofMillis(millis[i]);
        }
        return result;
    }
}
