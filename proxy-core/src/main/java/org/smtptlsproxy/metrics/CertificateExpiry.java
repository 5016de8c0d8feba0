package org.smtptlsproxy.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * {@code smtp_proxy_certificate_expiry_timestamp_seconds{certificate,listener}}: the notAfter
 * of each certificate the proxy presents or last met, as a Unix timestamp. A timestamp rather
 * than "seconds left" because it only changes when the certificate does (Prometheus's own advice
 * for expiry: alert on {@code metric - time()}); "seconds left" would be stale between scrapes
 * and has to be recomputed by every reader anyway.
 *
 * <p>{@code certificate} is {@code listener} (one series per TLS listener, labelled with its
 * name, from the configured file), {@code listener_ec} (a listener's second, ECDSA certificate,
 * when it has one), {@code upstream} (the leaf the upstream presented in the last
 * successful handshake) or {@code upstream_client} (the client certificate the proxy presents
 * upstream). The two upstream series carry {@code listener=""}, which Prometheus reads as no
 * label at all.
 */
public final class CertificateExpiry {

    public static final String LISTENER = "listener";
    public static final String LISTENER_EC = "listener_ec";
    public static final String UPSTREAM = "upstream";
    public static final String UPSTREAM_CLIENT = "upstream_client";

    private final MeterRegistry registry;
    /** Keyed certificate|listener; a series whose certificate is gone is removed from the registry. */
    private final Map<String, Series> series = new ConcurrentHashMap<>();

    private record Series(AtomicLong notAfterMillis, Gauge gauge) {
    }

    CertificateExpiry(MeterRegistry registry) {
        this.registry = registry;
    }

    /** The certificate a TLS listener serves (leaf first in {@code chain}); null: the listener has no TLS. */
    public void listener(String name, X509Certificate leaf) {
        set(LISTENER, name, leaf);
    }

    /** A TLS listener's ECDSA certificate ({@code tls.ec_certificate}); null: it has none (the series goes away). */
    public void listenerEc(String name, X509Certificate leaf) {
        set(LISTENER_EC, name, leaf);
    }

    /** The client certificate presented upstream; null: none configured (the series goes away). */
    public void upstreamClient(X509Certificate leaf) {
        set(UPSTREAM_CLIENT, "", leaf);
    }

    /** After a successful outbound handshake: the leaf the upstream presented. */
    public void upstreamSeen(SSLSession session) {
        try {
            Certificate[] chain = session.getPeerCertificates();
            if (chain.length > 0 && chain[0] instanceof X509Certificate leaf) {
                set(UPSTREAM, "", leaf);
            }
        } catch (SSLPeerUnverifiedException e) {
            // verification is always on upstream; without a peer chain there is nothing to show
        }
    }

    /** The value of a series, Unix seconds; NaN when it does not exist (for tests and the demo). */
    public double notAfterSeconds(String certificate, String listener) {
        Series s = series.get(certificate + '|' + listener);
        return s == null ? Double.NaN : s.notAfterMillis().get() / 1000.0;
    }

    private synchronized void set(String certificate, String listener, X509Certificate leaf) {
        String key = certificate + '|' + listener;
        Series existing = series.get(key);
        if (leaf == null) {
            if (existing != null) {
                registry.remove(existing.gauge());
                series.remove(key);
            }
            return;
        }
        long notAfter = leaf.getNotAfter().getTime();
        if (existing != null) {
            existing.notAfterMillis().set(notAfter);
            return;
        }
        AtomicLong value = new AtomicLong(notAfter);
        Gauge gauge = Gauge.builder("smtp.proxy.certificate.expiry.timestamp", value, millis -> millis.get() / 1000.0)
                .description("notAfter of the certificate, Unix seconds: listener and listener_ec (configured), upstream (last seen leaf), "
                        + "upstream_client (configured)")
                .baseUnit("seconds")
                .tags("certificate", certificate, "listener", listener)
                .register(registry);
        series.put(key, new Series(value, gauge));
    }
}
