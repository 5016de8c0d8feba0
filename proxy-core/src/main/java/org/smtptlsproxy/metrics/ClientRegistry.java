package org.smtptlsproxy.metrics;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The senders seen recently, for {@code GET /clients}: how an administrator finds the devices
 * still on TLS 1.0 or plaintext. Bounded to the most recent {@code capacity} addresses (least
 * recently seen evicted first). Sessions on every event loop report here, so access is
 * synchronized; the work under the lock is a map update.
 */
public final class ClientRegistry {

    public static final int DEFAULT_CAPACITY = 10_000;

    /** What is known about one client address. */
    public record ClientActivity(String address, Instant lastSeen, String listener, String tlsProtocol,
                                 String tlsCipher, long sessions, long relayed, long deferred, long rejected) {
    }

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
        clients.put(address, new ClientActivity(address, Instant.now(), listener, tlsProtocol, tlsCipher,
                (old == null ? 0 : old.sessions()) + 1,
                old == null ? 0 : old.relayed(), old == null ? 0 : old.deferred(), old == null ? 0 : old.rejected()));
    }

    /** A transaction ended with {@code outcome}. */
    public synchronized void transactionEnded(String address, String listener, String tlsProtocol, String tlsCipher,
                                              ProxyMetrics.MessageOutcome outcome) {
        ClientActivity old = clients.get(address);
        long relayed = old == null ? 0 : old.relayed();
        long deferred = old == null ? 0 : old.deferred();
        long rejected = old == null ? 0 : old.rejected();
        switch (outcome) {
            case RELAYED -> relayed++;
            case DEFERRED -> deferred++;
            case REJECTED -> rejected++;
            default -> throw new IllegalStateException();
        }
        clients.put(address, new ClientActivity(address, Instant.now(), listener, tlsProtocol, tlsCipher,
                old == null ? 0 : old.sessions(), relayed, deferred, rejected));
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
            json.append("\"sessions\":").append(c.sessions()).append(',');
            json.append("\"messages\":{\"relayed\":").append(c.relayed())
                    .append(",\"deferred\":").append(c.deferred())
                    .append(",\"rejected\":").append(c.rejected()).append("}}");
        }
        return json.append(snapshot.isEmpty() ? "]}\n" : "\n]}\n").toString();
    }

    private static StringBuilder field(StringBuilder json, String name, String value) {
        json.append('"').append(name).append("\":\"");
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
