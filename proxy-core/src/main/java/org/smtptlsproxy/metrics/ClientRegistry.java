package org.smtptlsproxy.metrics;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The senders seen recently, for {@code GET /clients}: how an administrator finds the devices
 * still on TLS 1.0 or plaintext. Per sender it keeps every TLS protocol seen ("none" for
 * plaintext) with its first and last time, so a sender that used TLS 1.0 once and plaintext since
 * still answers "who is still on TLS 1.0?". Bounded to the most recent {@code capacity} addresses
 * (least recently seen evicted first), and each address to the few protocol labels of
 * {@link TlsLabels} plus "none" and "other" (seven at most). Sessions on every event loop report
 * here, so access is synchronized; the work under the lock is a map update.
 */
public final class ClientRegistry {

    public static final int DEFAULT_CAPACITY = 10_000;

    /**
     * What is known about one client address. {@code tlsProtocol} and {@code tlsCipher} are the
     * last session's; {@code protocolsSeen} every protocol ever seen, in the order first seen.
     */
    public record ClientActivity(String address, Instant lastSeen, String listener, String tlsProtocol,
                                 String tlsCipher, long sessions, long relayed, long deferred, long rejected,
                                 Map<String, ProtocolSeen> protocolsSeen) {
        public ClientActivity {
            protocolsSeen = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(protocolsSeen));
        }
    }

    /** When a sender first and last used one TLS protocol (or "none"). */
    public record ProtocolSeen(Instant firstSeen, Instant lastSeen) {
    }

    public static final String PLAINTEXT = "none";

    private final int capacity;
    private final LinkedHashMap<String, ClientActivity> clients;

    public ClientRegistry() {
        this(DEFAULT_CAPACITY);
    }

    public ClientRegistry(int capacity) {
        this.capacity = capacity;
        this.clients = new LinkedHashMap<>(256, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, ClientActivity> eldest) {
                return size() > ClientRegistry.this.capacity;
            }
        };
    }

    /** A session ended; {@code tlsProtocol} is "none" for plaintext. */
    public synchronized void sessionEnded(String address, String listener, String tlsProtocol, String tlsCipher) {
        ClientActivity old = clients.get(address);
        Instant now = Instant.now();
        clients.put(address, new ClientActivity(address, now, listener, tlsProtocol, tlsCipher,
                (old == null ? 0 : old.sessions()) + 1,
                old == null ? 0 : old.relayed(), old == null ? 0 : old.deferred(), old == null ? 0 : old.rejected(),
                seen(old, tlsProtocol, now)));
    }

    /** The protocols seen so far, with {@code tlsProtocol} (normalized to a bounded label) seen {@code now}. */
    private static Map<String, ProtocolSeen> seen(ClientActivity old, String tlsProtocol, Instant now) {
        String label = PLAINTEXT.equals(tlsProtocol) ? PLAINTEXT : TlsLabels.protocol(tlsProtocol);
        Map<String, ProtocolSeen> seen = new LinkedHashMap<>(old == null ? Map.of() : old.protocolsSeen());
        ProtocolSeen before = seen.get(label);
        seen.put(label, new ProtocolSeen(before == null ? now : before.firstSeen(), now));
        return seen;
    }

    /** A transaction ended with {@code outcome}. */
    public synchronized void transactionEnded(String address, String listener, String tlsProtocol, String tlsCipher,
                                              ProxyMetrics.MessageOutcome outcome) {
        ClientActivity old = clients.get(address);
        long relayed = old == null ? 0 : old.relayed();
        long deferred = old == null ? 0 : old.deferred();
        long rejected = old == null ? 0 : old.rejected();
        switch (outcome) {
            case RELAYED, SPOOLED -> relayed++; // accepted from this client either way
            case DEFERRED -> deferred++;
            case REJECTED -> rejected++;
            default -> throw new IllegalStateException();
        }
        Instant now = Instant.now();
        clients.put(address, new ClientActivity(address, now, listener, tlsProtocol, tlsCipher,
                old == null ? 0 : old.sessions(), relayed, deferred, rejected, seen(old, tlsProtocol, now)));
    }

    /** Most recently seen first. */
    public synchronized List<ClientActivity> snapshot() {
        List<ClientActivity> list = new ArrayList<>(clients.values());
        java.util.Collections.reverse(list);
        return list;
    }

    public String toJson() {
        List<ClientActivity> snapshot = snapshot();
        StringBuilder json = new StringBuilder(64 + snapshot.size() * 200).append("{\"clients\":[");
        for (int i = 0; i < snapshot.size(); i++) {
            ClientActivity c = snapshot.get(i);
            json.append(i == 0 ? "\n  {" : ",\n  {");
            field(json, "address", c.address()).append(',');
            field(json, "last_seen", c.lastSeen().toString()).append(',');
            field(json, "listener", c.listener()).append(',');
            field(json, "tls_protocol", c.tlsProtocol()).append(',');
            field(json, "tls_cipher", c.tlsCipher()).append(',');
            json.append("\"tls_protocols_seen\":{");
            int p = 0;
            for (Map.Entry<String, ProtocolSeen> seen : c.protocolsSeen().entrySet()) {
                json.append(p++ == 0 ? "" : ",");
                string(json, seen.getKey()).append(":{");
                field(json, "first_seen", seen.getValue().firstSeen().toString()).append(',');
                field(json, "last_seen", seen.getValue().lastSeen().toString()).append('}');
            }
            json.append("},");
            json.append("\"sessions\":").append(c.sessions()).append(',');
            json.append("\"messages\":{\"relayed\":").append(c.relayed())
                    .append(",\"deferred\":").append(c.deferred())
                    .append(",\"rejected\":").append(c.rejected()).append("}}");
        }
        return json.append(snapshot.isEmpty() ? "]}\n" : "\n]}\n").toString();
    }

    private static StringBuilder field(StringBuilder json, String name, String value) {
        return string(json.append('"').append(name).append("\":"), value);
    }

    private static StringBuilder string(StringBuilder json, String value) {
        json.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '"' || c == '\\') {
                json.append('\\').append(c);
            } else if (c < 0x20) {
                json.append(String.format("\\u%04x", (int) c));
            } else {
                json.append(c);
            }
        }
        return json.append('"');
    }
}
