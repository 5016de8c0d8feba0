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
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.DoubleSupplier;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;

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
        /** RELAYED: the upstream said 250; SPOOLED: the proxy's spool holds it, delivered later. */
        RELAYED, SPOOLED, DEFERRED, REJECTED;

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
    private final AtomicReference<DoubleSupplier> tokenExpiry = new AtomicReference<>();
    /** Keyed by the raw side|protocol|cipher: unknown names share the meter of their "other" labels. */
    private final Map<String, Timer> cipherTimers = new ConcurrentHashMap<>();
    private final CertificateExpiry certificates;
    private final AtomicReference<Gauge> buildInfo = new AtomicReference<>();
    private final AtomicLong lastReloadSuccess = new AtomicLong(System.currentTimeMillis());

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
        this.certificates = new CertificateExpiry(registry);
        TlsLabels.ciphers(); // asks both providers for their suites now, not on an event loop at the first handshake
        reloadCounter(true);
        reloadCounter(false);
        // The config the process started with counts as the first successful load, as
        // Prometheus's own prometheus_config_last_reload_success_timestamp_seconds does.
        Gauge.builder("smtp.proxy.config.last.reload.success.timestamp", lastReloadSuccess, millis -> millis.get() / 1000.0)
                .description("When the configuration in force was loaded (start-up or the last successful reload), Unix seconds")
                .baseUnit("seconds")
                .register(registry);
    }

    /**
     * {@code smtp_proxy_build_info{version,netty,tls_provider} 1}. Called at start-up and after
     * every reload: a reload that switches the TLS provider replaces the series, so exactly one
     * build_info series exists at any time.
     */
    public synchronized void buildInfo(String version, String netty, String tlsProvider) {
        Gauge previous = buildInfo.get();
        if (previous != null) {
            if (tlsProvider.equals(previous.getId().getTag("tls_provider"))) {
                return;
            }
            registry.remove(previous);
        }
        buildInfo.set(Gauge.builder("smtp.proxy.build.info", () -> 1)
                .description("Always 1; the labels say which build runs, on which Netty and TLS provider")
                .tags("version", version, "netty", netty, "tls_provider", tlsProvider)
                .register(registry));
    }

    /** A SIGHUP reload ended: in force ({@code success}) or refused. */
    public void configReloaded(boolean success) {
        reloadCounter(success).increment();
        if (success) {
            lastReloadSuccess.set(System.currentTimeMillis());
        }
    }

    private Counter reloadCounter(boolean success) {
        return counter("smtp.proxy.config.reloads", "Configuration reloads (SIGHUP) by outcome", "outcome",
                success ? "success" : "failure");
    }

    /** The certificate-expiry gauges (listeners, upstream client certificate, upstream's last seen leaf). */
    public CertificateExpiry certificates() {
        return certificates;
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

    /**
     * XOAUTH2 is configured: {@code smtp_proxy_oauth2_token_refresh_total{outcome}} starts at zero
     * and {@code smtp_proxy_oauth2_token_expiry_seconds} reads {@code secondsToExpiry} of the token
     * source in use (a reload hands over a new one).
     */
    public void oauth2TokenSource(DoubleSupplier secondsToExpiry) {
        oauth2Refreshed(true, 0);
        oauth2Refreshed(false, 0);
        if (tokenExpiry.getAndSet(secondsToExpiry) == null) {
            Gauge.builder("smtp.proxy.oauth2.token.expiry", tokenExpiry, source -> source.get().getAsDouble())
                    .description("Seconds until the XOAUTH2 access token in use expires (0: none)")
                    .baseUnit("seconds")
                    .register(registry);
        }
    }

    /** One fetch from the OAuth2 token endpoint, scheduled or on demand. */
    public void oauth2Refreshed(boolean success) {
        oauth2Refreshed(success, 1);
    }

    private void oauth2Refreshed(boolean success, int count) {
        counter("smtp.proxy.oauth2.token.refresh", "OAuth2 token fetches by outcome", "outcome",
                success ? "success" : "failure").increment(count);
    }

    /** Labels of {@code stage} in {@code smtp_proxy_upstream_replies_total}. */
    public static final List<String> UPSTREAM_STAGES = List.of("banner", "ehlo", "starttls", "auth", "mail", "rcpt",
            "data", "end_of_data", "rset", "quit", "other");

    /**
     * One reply from the upstream to {@code command} (the name the upstream session gave the
     * command it matched the reply to: "the banner", "EHLO", "MAIL", "end of data", ...), counted
     * in {@code smtp_proxy_upstream_replies_total{stage,class,reason}}.
     */
    public void upstreamReply(String command, SmtpReply reply) {
        counter("smtp.proxy.upstream.replies", "Upstream replies by command, class and Exchange Online reason",
                "stage", upstreamStage(command), "class", reply.codeClass() + "xx",
                "reason", UpstreamReplyReason.of(reply).label()).increment();
    }

    static String upstreamStage(String command) {
        return switch (command) {
            case "the banner" -> "banner";
            case "EHLO", "HELO" -> "ehlo";
            case "STARTTLS" -> "starttls";
            case "AUTH", "" -> "auth"; // "": a SASL continuation line
            case "MAIL" -> "mail";
            case "RCPT" -> "rcpt";
            case "DATA" -> "data";
            case "end of data" -> "end_of_data";
            case "RSET" -> "rset";
            case "QUIT" -> "quit";
            default -> "other";
        };
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
     * A successful handshake with what it negotiated: the contract's counter and histogram as
     * above, and {@code smtp_proxy_tls_handshake_cipher_seconds{side,protocol,cipher}}, a timer
     * without buckets (count, sum, max) so that each cipher costs three series, not a histogram's
     * fifteen. Both names are bounded by {@link TlsLabels}.
     */
    public void tlsHandshake(Side side, String protocol, String cipher, long nanos) {
        tlsHandshake(side, protocol, true, nanos);
        String key = side.label() + '|' + protocol + '|' + cipher;
        Timer timer = cipherTimers.get(key);
        if (timer == null) {
            timer = cipherTimers.computeIfAbsent(key, k -> Timer.builder("smtp.proxy.tls.handshake.cipher")
                    .description("Successful TLS handshakes and their duration by negotiated protocol and cipher suite")
                    .tags("side", side.label(), "protocol", TlsLabels.protocol(protocol), "cipher", TlsLabels.cipher(cipher))
                    .register(registry));
        }
        timer.record(nanos, TimeUnit.NANOSECONDS);
    }

    /**
     * A successful handshake that resumed an earlier session. Counted for BoringSSL only: the
     * JDK's engine does not tell.
     */
    public void tlsSessionResumed(Side side) {
        resumedCounter(side).increment();
    }

    /**
     * A successful inbound handshake on {@code listener}, full or resumed ({@code resumed} is
     * always false with the JDK provider, whose engine does not tell): counted in
     * {@code smtp_proxy_tls_inbound_handshakes_total{listener,protocol,resumed}}, and a resumed one
     * also in {@code smtp_proxy_tls_sessions_resumed_total{side="inbound"}}.
     */
    public void inboundHandshake(String listener, String protocol, boolean resumed) {
        inboundHandshakeCounter(listener, TlsLabels.protocol(protocol), resumed).increment();
        if (resumed) {
            resumedCounter(Side.INBOUND).increment();
        }
    }

    /** Creates a TLS listener's series of full and resumed handshakes at zero, for each protocol it accepts. */
    public void registerTlsListener(String listener, List<String> protocols) {
        for (String protocol : protocols) {
            inboundHandshakeCounter(listener, TlsLabels.protocol(protocol), false);
            inboundHandshakeCounter(listener, TlsLabels.protocol(protocol), true);
        }
    }

    private Counter inboundHandshakeCounter(String listener, String protocol, boolean resumed) {
        return counter("smtp.proxy.tls.inbound.handshakes",
                "Successful inbound TLS handshakes by listener and protocol, resumed (abbreviated) or full",
                "listener", listener, "protocol", protocol, "resumed", resumed ? "true" : "false");
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
