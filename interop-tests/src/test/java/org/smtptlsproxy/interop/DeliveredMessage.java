package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A message as the upstream stored it (LF line ends, as Postfix writes a Maildir file). The
 * leading trace fields that relays and the delivery agent prepend (Return-Path, Delivered-To,
 * X-Original-To, Received) are split off; what remains must be the sender's message unchanged.
 */
final class DeliveredMessage {

    private static final List<String> TRACE_FIELDS = List.of("return-path", "delivered-to", "x-original-to", "received");

    /**
     * The proxy's trace header (PRODUCT.md, Precise behaviour 9), unfolded; the RFC 6531
     * UTF8SMTP* protocol names are allowed for an SMTPUTF8 transaction.
     */
    static final Pattern PROXY_RECEIVED = Pattern.compile(
            "Received: from (\\S+) \\(\\[127\\.0\\.0\\.1\\]\\) by proxy\\.interop\\.test \\(smtp-tls-proxy\\) "
                    + "with (ESMTP|ESMTPS|ESMTPA|ESMTPSA|UTF8SMTP|UTF8SMTPS|UTF8SMTPA|UTF8SMTPSA)(?: \\((TLSv1(?:\\.[123])?):([A-Za-z0-9_-]+)\\))? id (\\S+); (.+)");

    private final byte[] raw;
    private final List<String> traceFields;
    private final byte[] content;

    DeliveredMessage(byte[] raw) {
        this.raw = raw;
        List<String> fields = new ArrayList<>();
        int position = 0;
        while (position < raw.length) {
            int end = endOfField(raw, position);
            String field = new String(raw, position, end - position, StandardCharsets.UTF_8);
            int colon = field.indexOf(':');
            if (colon < 0 || !TRACE_FIELDS.contains(field.substring(0, colon).toLowerCase(Locale.ROOT))) {
                break;
            }
            fields.add(field.replaceAll("\n[ \t]+", " ").stripTrailing());
            position = end;
        }
        this.traceFields = List.copyOf(fields);
        this.content = Arrays.copyOfRange(raw, position, raw.length);
    }

    /** A field runs up to the LF that is not followed by a continuation line. */
    private static int endOfField(byte[] raw, int start) {
        int i = start;
        while (i < raw.length) {
            if (raw[i] == '\n' && (i + 1 >= raw.length || (raw[i + 1] != ' ' && raw[i + 1] != '\t'))) {
                return i + 1;
            }
            i++;
        }
        return raw.length;
    }

    byte[] raw() {
        return raw;
    }

    List<String> traceFields() {
        return traceFields;
    }

    /** The message below the trace fields. */
    byte[] content() {
        return content;
    }

    List<String> received() {
        return traceFields.stream().filter(f -> f.regionMatches(true, 0, "Received:", 0, 9)).toList();
    }

    /** The one Received field the proxy wrote; fails unless there is exactly one in its form. */
    java.util.regex.Matcher proxyReceived() {
        List<java.util.regex.Matcher> matches = received().stream()
                .filter(f -> f.contains("(smtp-tls-proxy)"))
                .map(PROXY_RECEIVED::matcher)
                .toList();
        if (matches.size() != 1 || !matches.get(0).matches()) {
            fail("expected exactly one proxy Received header in its documented form, got:\n" + String.join("\n", received()));
        }
        return matches.get(0);
    }

    /**
     * The content below the trace fields equals what the sender handed over, octet for octet
     * (the sender's CRLF line ends compared as LF, the form the Maildir file has).
     */
    void assertContentIs(byte[] sentWithCrlf) {
        byte[] expected = crlfToLf(sentWithCrlf);
        if (!Arrays.equals(expected, content)) {
            int i = 0;
            while (i < Math.min(expected.length, content.length) && expected[i] == content[i]) {
                i++;
            }
            fail("delivered content differs from what was sent at octet " + i + " (sent " + expected.length
                    + " octets, delivered " + content.length + ")\nsent:      " + excerpt(expected, i)
                    + "\ndelivered: " + excerpt(content, i) + "\ntrace fields:\n" + String.join("\n", traceFields));
        }
        assertTrue(content.length > 0);
    }

    /** The upstream Postfix's own Received names the TLS it negotiated with the proxy. */
    String upstreamReceived() {
        return received().stream().filter(f -> f.contains("(Postfix)") && f.contains("by upstream"))
                .findFirst().orElseGet(() -> fail("no upstream Postfix Received header:\n" + String.join("\n", received())));
    }

    static byte[] crlfToLf(byte[] bytes) {
        byte[] out = new byte[bytes.length];
        int length = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '\r' && i + 1 < bytes.length && bytes[i + 1] == '\n') {
                continue;
            }
            out[length++] = bytes[i];
        }
        return Arrays.copyOf(out, length);
    }

    private static String excerpt(byte[] bytes, int at) {
        int from = Math.max(0, at - 40);
        int to = Math.min(bytes.length, at + 40);
        return new String(bytes, from, to - from, StandardCharsets.UTF_8).replace("\n", "\\n").replace("\r", "\\r");
    }
}
