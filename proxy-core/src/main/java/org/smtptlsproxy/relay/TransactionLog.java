package org.smtptlsproxy.relay;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One key=value line per mail transaction on the logger {@code smtp-tls-proxy.transactions}
 * (standard output in the shipped logging config). Values with spaces are quoted; quotes and
 * backslashes inside are escaped so a line always parses. No content, no AUTH data.
 *
 * <p>The same fields travel with the event as SLF4J key-value pairs (counts as numbers, absent
 * values as null), so a structured encoder (the JSON log format) writes them as fields of their
 * own instead of parsing the line.
 */
public final class TransactionLog {

    private static final Logger LOG = LoggerFactory.getLogger("smtp-tls-proxy.transactions");

    private TransactionLog() {
    }

    public record Entry(String session, String client, String listener, String inTls, String inCipher,
                        String outTls, String outCipher, String from, int rcpts, int accepted, long size,
                        String reply, long millis, String outcome, String reason) {
    }

    public static void log(Entry e) {
        if (!LOG.isInfoEnabled()) {
            return;
        }
        StringBuilder line = new StringBuilder(256);
        field(line, "session", e.session());
        field(line, "client", e.client());
        field(line, "listener", e.listener());
        field(line, "in_tls", e.inTls());
        field(line, "in_cipher", e.inCipher());
        field(line, "out_tls", e.outTls());
        field(line, "out_cipher", e.outCipher());
        field(line, "from", e.from() == null ? null : "<" + e.from() + ">");
        field(line, "rcpts", Integer.toString(e.rcpts()));
        field(line, "accepted", Integer.toString(e.accepted()));
        field(line, "size", Long.toString(e.size()));
        field(line, "reply", e.reply());
        field(line, "ms", Long.toString(e.millis()));
        field(line, "outcome", e.outcome());
        field(line, "reason", e.reason()); // UpstreamReplyReason label: none, throttled, connector_not_matched, ...
        LOG.atInfo().setMessage(line.toString())
                .addKeyValue("session", e.session())
                .addKeyValue("client", e.client())
                .addKeyValue("listener", e.listener())
                .addKeyValue("in_tls", e.inTls())
                .addKeyValue("in_cipher", e.inCipher())
                .addKeyValue("out_tls", e.outTls())
                .addKeyValue("out_cipher", e.outCipher())
                .addKeyValue("from", e.from() == null ? "" : e.from())
                .addKeyValue("rcpts", e.rcpts())
                .addKeyValue("accepted", e.accepted())
                .addKeyValue("size", e.size())
                .addKeyValue("reply", e.reply())
                .addKeyValue("ms", e.millis())
                .addKeyValue("outcome", e.outcome())
                .addKeyValue("reason", e.reason())
                .log();
    }

    /**
     * A session that ended without any transaction: {@code reason} is quit, idle_timeout,
     * tls_failed, client_closed, error, or refused:REASON for a connection turned away at the gate.
     */
    public static void sessionWithoutTransaction(String session, String client, String listener, String inTls,
                                                 String reason) {
        if (!LOG.isInfoEnabled()) {
            return;
        }
        StringBuilder line = new StringBuilder(160);
        field(line, "session", session);
        field(line, "client", client);
        field(line, "listener", listener);
        field(line, "in_tls", inTls);
        field(line, "transactions", "0");
        field(line, "end", reason);
        LOG.atInfo().setMessage(line.toString())
                .addKeyValue("session", session)
                .addKeyValue("client", client)
                .addKeyValue("listener", listener)
                .addKeyValue("in_tls", inTls)
                .addKeyValue("transactions", 0)
                .addKeyValue("end", reason)
                .log();
    }

    static void field(StringBuilder line, String key, String value) {
        if (!line.isEmpty()) {
            line.append(' ');
        }
        line.append(key).append('=');
        if (value == null || value.isEmpty()) {
            line.append("-");
        } else if (value.indexOf(' ') < 0 && value.indexOf('"') < 0 && value.indexOf('\\') < 0) {
            line.append(value);
        } else {
            line.append('"');
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                if (c == '"' || c == '\\') {
                    line.append('\\');
                }
                line.append(c);
            }
            line.append('"');
        }
    }
}
