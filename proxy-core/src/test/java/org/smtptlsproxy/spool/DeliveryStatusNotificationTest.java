package org.smtptlsproxy.spool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The notification parsed back by hand against RFC 3464's grammar (and RFC 6522's multipart/report). */
class DeliveryStatusNotificationTest {

    private static final Instant ARRIVAL = Instant.parse("2026-12-01T08:30:00Z");
    private static final Instant NOW = Instant.parse("2026-12-06T08:30:00Z");
    private static final Pattern FIELD = Pattern.compile("([A-Za-z][A-Za-z0-9-]*): (.*)");

    private final DeliveryStatusNotification builder = new DeliveryStatusNotification("relay.example.net");

    @Test
    void reportParsesAsMultipartReportWithOneBlockPerFailedRecipient() throws Exception {
        SpoolEnvelope original = envelope("scanner@example.com", "ENVID=job-42 RET=HDRS", List.of(
                new SpoolRecipient("nobody@example.com", "NOTIFY=FAILURE,DELAY ORCPT=rfc822;nobody@example.com",
                        RecipientState.FAILED, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found"),
                new SpoolRecipient("alice@example.com", "", RecipientState.DELIVERED, "250 2.0.0 OK"),
                new SpoolRecipient("slow@example.com", "", RecipientState.FAILED,
                        "451 4.4.7 Delivery time expired after 5d; last reply: 451 4.4.3 DNS"),
                new SpoolRecipient("quiet@example.com", "NOTIFY=NEVER", RecipientState.FAILED, "550 5.1.1 unknown")));
        String originalContent = "Received: from mfp\r\nSubject: Scan 0042\r\nMessage-ID: <42@mfp>\r\n\r\nSECRET BODY\r\n";
        String text = render(original, originalContent);

        for (String line : text.split("\r\n", -1)) {
            assertFalse(line.contains("\n") || line.contains("\r"), "CRLF line ends only");
            assertTrue(line.length() <= 998, "RFC 5322 line length");
        }
        int split = text.indexOf("\r\n\r\n");
        Map<String, String> header = fields(text.substring(0, split));
        assertEquals("<scanner@example.com>", header.get("To"));
        assertTrue(header.get("From").contains("MAILER-DAEMON@relay.example.net"));
        assertEquals("auto-replied", header.get("Auto-Submitted"));
        assertEquals("1.0", header.get("MIME-Version"));
        DateTimeFormatter.RFC_1123_DATE_TIME.parse(header.get("Date"));
        Matcher type = Pattern.compile("multipart/report; report-type=delivery-status;\\s+boundary=\"([^\"]+)\"")
                .matcher(header.get("Content-Type"));
        assertTrue(type.matches(), header.get("Content-Type"));
        String boundary = type.group(1);

        List<String> parts = parts(text.substring(split + 4), boundary);
        assertEquals(3, parts.size());
        assertTrue(parts.get(0).startsWith("Content-Type: text/plain; charset=utf-8\r\n"));
        assertTrue(parts.get(0).contains("<nobody@example.com>: 550 5.1.10"));

        assertTrue(parts.get(1).startsWith("Content-Type: message/delivery-status\r\n\r\n"));
        String report = parts.get(1).substring(parts.get(1).indexOf("\r\n\r\n") + 4);
        List<Map<String, String>> groups = new ArrayList<>();
        for (String group : report.strip().split("\r\n\r\n")) {
            groups.add(fields(group));
        }
        Map<String, String> perMessage = groups.get(0);
        assertEquals("dns; relay.example.net", perMessage.get("Reporting-MTA"));
        assertEquals("job-42", perMessage.get("Original-Envelope-Id"));
        assertEquals(ARRIVAL, Instant.from(DateTimeFormatter.RFC_1123_DATE_TIME.parse(perMessage.get("Arrival-Date"))));
        assertEquals(3, groups.size(), "two recipients: the delivered and the NOTIFY=NEVER one are not reported");
        for (Map<String, String> recipient : groups.subList(1, groups.size())) {
            assertTrue(recipient.get("Final-Recipient").matches("rfc822; [^;\\s]+@[^;\\s]+"));
            assertEquals("failed", recipient.get("Action"));
            assertTrue(recipient.get("Status").matches("[245]\\.\\d{1,3}\\.\\d{1,3}"));
            assertTrue(recipient.get("Diagnostic-Code").matches("smtp; \\d{3} .*"));
            DateTimeFormatter.RFC_1123_DATE_TIME.parse(recipient.get("Last-Attempt-Date"));
        }
        assertEquals("rfc822;nobody@example.com", groups.get(1).get("Original-Recipient"));
        assertEquals("5.1.10", groups.get(1).get("Status"));
        assertEquals("rfc822; slow@example.com", groups.get(2).get("Final-Recipient"));
        assertEquals("4.4.7", groups.get(2).get("Status"));

        assertTrue(parts.get(2).startsWith("Content-Type: text/rfc822-headers\r\n\r\n"));
        assertTrue(parts.get(2).contains("Subject: Scan 0042\r\nMessage-ID: <42@mfp>\r\n"));
        assertFalse(text.contains("SECRET BODY"), "the body is never returned");
    }

    @Test
    void onlyAFailedRecipientOfANonNullSenderIsReportable() {
        SpoolRecipient failed = new SpoolRecipient("x@example.com", "", RecipientState.FAILED, "550 5.1.1 no");
        assertEquals(1, DeliveryStatusNotification.reportable(envelope("a@example.com", "", List.of(failed))).size());
        assertEquals(List.of(), DeliveryStatusNotification.reportable(envelope("", "", List.of(failed))));
    }

    @Test
    void hugeHeadersAreCut() throws Exception {
        StringBuilder content = new StringBuilder();
        for (int i = 0; i < 10_000; i++) {
            content.append("X-Filler-").append(i).append(": ").append("y".repeat(40)).append("\r\n");
        }
        SpoolEnvelope original = envelope("a@example.com", "", List.of(
                new SpoolRecipient("x@example.com", "", RecipientState.FAILED, "550 5.1.1 no")));
        String text = render(original, content.toString());
        assertTrue(text.length() < DeliveryStatusNotification.MAX_HEADER_BYTES + 4096);
        assertTrue(text.endsWith("--\r\n"));
    }

    private String render(SpoolEnvelope original, String content) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        builder.write(original, DeliveryStatusNotification.reportable(original),
                new ByteArrayInputStream(content.getBytes(StandardCharsets.UTF_8)), NOW, "01m95v0000000", out);
        return out.toString(StandardCharsets.UTF_8);
    }

    private static SpoolEnvelope envelope(String sender, String parameters, List<SpoolRecipient> recipients) {
        return new SpoolEnvelope(new SpoolId("01m95tr41y000"), ARRIVAL, "printers", "s1", "", sender, parameters,
                recipients, 100, 3, NOW, null);
    }

    /** Header fields, with folded continuation lines unfolded. */
    private static Map<String, String> fields(String block) {
        Map<String, String> fields = new LinkedHashMap<>();
        String last = null;
        for (String line : block.split("\r\n")) {
            if (line.startsWith("\t") || line.startsWith(" ")) {
                assertNotNull(last, "a continuation line first");
                fields.put(last, fields.get(last) + " " + line.strip());
                continue;
            }
            Matcher field = FIELD.matcher(line);
            assertTrue(field.matches(), "not a header field: " + line);
            last = field.group(1);
            assertTrue(fields.put(last, field.group(2)) == null, "field twice: " + last);
        }
        return fields;
    }

    private static List<String> parts(String body, String boundary) {
        String delimiter = "\r\n--" + boundary;
        String text = "\r\n" + body;
        int close = text.indexOf(delimiter + "--\r\n");
        assertTrue(close > 0, "closing delimiter");
        List<String> parts = new ArrayList<>();
        String[] pieces = text.substring(0, close).split(Pattern.quote(delimiter) + "\r\n", -1);
        for (int i = 1; i < pieces.length; i++) {
            parts.add(pieces[i]);
        }
        return parts;
    }
}
