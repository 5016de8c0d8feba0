package org.smtptlsproxy.testkit;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One message as the upstream received it. {@code sha256}, {@code checksum} and {@code size} cover
 * the raw dot-stuffed data between the 354 and the final {@code CRLF.CRLF} (the CRLF before the
 * dot included); {@code sha256} is null where the server was built with {@code sha256(false)}.
 * {@code checksum} is CRC-32C in the high 32 bits and CRC-32 in the low ones: two independent
 * polynomials, so that distinct messages collide with odds near 2^-64, which tells a duplicate
 * delivery from two messages, not tampering from content. {@code data} holds the bytes only up
 * to the server's storage cap, else null. {@code acknowledged} is false for a message stored but
 * never answered with 250 ({@link Fault#DROP_AFTER_DATA_END}).
 */
public record ReceivedMessage(String from, List<String> recipients, long size, String sha256, long checksum, byte[] data,
                              String tlsProtocol, String tlsCipher, String sniHostName, String queueId, boolean acknowledged) {

    public ReceivedMessage {
        recipients = List.copyOf(recipients);
    }

    /** The message as its author wrote it: dot-stuffing removed. */
    public String content() {
        if (data == null) {
            throw new IllegalStateException("message of " + size + " octets was not stored");
        }
        String raw = new String(data, StandardCharsets.UTF_8);
        StringBuilder out = new StringBuilder(raw.length());
        for (String line : raw.split("\r\n", -1)) {
            if (!out.isEmpty()) {
                out.append("\r\n");
            }
            out.append(line.startsWith(".") ? line.substring(1) : line);
        }
        return out.toString();
    }
}
