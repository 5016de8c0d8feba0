package org.smtptlsproxy.spool;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An RFC 3464 delivery status notification for the recipients of a spooled message that failed
 * for good or expired: a {@code multipart/report; report-type=delivery-status} with a
 * human-readable part, the {@code message/delivery-status} part (one per-message block, one block
 * per recipient) and the original headers as {@code text/rfc822-headers}. The original's headers
 * are streamed from its content file and cut at {@link #MAX_HEADER_BYTES}; the body is never
 * returned. It is sent from the null sender, so it can never cause another notification.
 */
public final class DeliveryStatusNotification {

    static final int MAX_HEADER_BYTES = 64 * 1024;
    private static final Pattern ENHANCED = Pattern.compile("^\\d{3}[ -]([245]\\.\\d{1,3}\\.\\d{1,3})\\b");
    private static final DateTimeFormatter DATE = DateTimeFormatter.RFC_1123_DATE_TIME.withZone(ZoneOffset.UTC);
    private static final String CRLF = "\r\n";

    private final String reportingMta;

    /** {@code reportingMta} is this proxy's host name (the config's {@code hostname}). */
    public DeliveryStatusNotification(String reportingMta) {
        this.reportingMta = reportingMta;
    }

    /**
     * The recipients a notification reports: those FAILED whose RCPT {@code NOTIFY=} (RFC 3461)
     * does not exclude failures; none at all for a message from the null sender.
     */
    public static List<SpoolRecipient> reportable(SpoolEnvelope envelope) {
        if (envelope.hasNullSender()) {
            return List.of();
        }
        return envelope.recipients().stream()
                .filter(r -> r.state() == RecipientState.FAILED)
                .filter(r -> notifiesFailure(r.parameters()))
                .toList();
    }

    private static boolean notifiesFailure(String parameters) {
        for (String token : parameters.trim().split(" +")) {
            if (token.regionMatches(true, 0, "NOTIFY=", 0, 7)) {
                return token.substring(7).toUpperCase(Locale.ROOT).contains("FAILURE");
            }
        }
        return true;
    }

    /**
     * Writes the notification (header and body, CRLF lines) for {@code recipients} of
     * {@code original}, whose content is {@code originalContent}; {@code boundaryId} makes the MIME
     * boundary and Message-ID unique.
     */
    public void write(SpoolEnvelope original, List<SpoolRecipient> recipients, InputStream originalContent,
            Instant now, String boundaryId, OutputStream out) throws IOException {
        String boundary = "=_dsn_" + boundaryId;
        String date = DATE.format(now);
        StringBuilder head = new StringBuilder(2048);
        head.append("From: Mail Delivery System <MAILER-DAEMON@").append(reportingMta).append('>').append(CRLF)
                .append("To: <").append(original.sender()).append('>').append(CRLF)
                .append("Subject: Undelivered Mail Returned to Sender").append(CRLF)
                .append("Date: ").append(date).append(CRLF)
                .append("Message-ID: <").append(boundaryId).append(".dsn@").append(reportingMta).append('>').append(CRLF)
                .append("Auto-Submitted: auto-replied").append(CRLF)
                .append("MIME-Version: 1.0").append(CRLF)
                .append("Content-Type: multipart/report; report-type=delivery-status;").append(CRLF)
                .append("\tboundary=\"").append(boundary).append('"').append(CRLF)
                .append(CRLF)
                .append("This is a MIME-encapsulated message.").append(CRLF)
                .append(CRLF)
                .append("--").append(boundary).append(CRLF)
                .append("Content-Type: text/plain; charset=utf-8").append(CRLF)
                .append("Content-Transfer-Encoding: 8bit").append(CRLF)
                .append(CRLF)
                .append("This is the mail relay at ").append(reportingMta).append('.').append(CRLF)
                .append(CRLF)
                .append("Your message (queued as ").append(original.id()).append(" at ")
                .append(DATE.format(original.arrival())).append(") could not be delivered to the").append(CRLF)
                .append("following recipients:").append(CRLF)
                .append(CRLF);
        for (SpoolRecipient recipient : recipients) {
            head.append("<").append(recipient.address()).append(">: ").append(oneLine(recipient.lastReply()))
                    .append(CRLF);
        }
        head.append(CRLF)
                .append("--").append(boundary).append(CRLF)
                .append("Content-Type: message/delivery-status").append(CRLF)
                .append(CRLF)
                .append("Reporting-MTA: dns; ").append(reportingMta).append(CRLF);
        String envid = parameter(original.senderParameters(), "ENVID");
        if (envid != null) {
            head.append("Original-Envelope-Id: ").append(envid).append(CRLF);
        }
        head.append("Arrival-Date: ").append(DATE.format(original.arrival())).append(CRLF);
        for (SpoolRecipient recipient : recipients) {
            head.append(CRLF);
            String orcpt = parameter(recipient.parameters(), "ORCPT");
            if (orcpt != null && orcpt.indexOf(';') > 0) {
                head.append("Original-Recipient: ").append(orcpt).append(CRLF);
            }
            head.append("Final-Recipient: rfc822; ").append(recipient.address()).append(CRLF)
                    .append("Action: failed").append(CRLF)
                    .append("Status: ").append(status(recipient.lastReply())).append(CRLF);
            if (recipient.lastReply() != null && recipient.lastReply().matches("^\\d{3}[ -].*")) {
                head.append("Diagnostic-Code: smtp; ").append(oneLine(recipient.lastReply())).append(CRLF);
            }
            head.append("Last-Attempt-Date: ").append(date).append(CRLF);
        }
        head.append(CRLF)
                .append("--").append(boundary).append(CRLF)
                .append("Content-Type: text/rfc822-headers").append(CRLF)
                .append(CRLF);
        out.write(head.toString().getBytes(StandardCharsets.UTF_8));
        copyHeaders(originalContent, out);
        out.write((CRLF + "--" + boundary + "--" + CRLF).getBytes(StandardCharsets.UTF_8));
    }

    /** The RFC 3463 code of the reply, else one from its class (expiry is 4.4.7 by construction). */
    static String status(String reply) {
        if (reply == null) {
            return "5.0.0";
        }
        Matcher m = ENHANCED.matcher(reply);
        if (m.find()) {
            return m.group(1);
        }
        return reply.startsWith("4") ? "4.0.0" : "5.0.0";
    }

    /** The header block of the original up to and with its empty line, or up to the cap. */
    private static void copyHeaders(InputStream content, OutputStream out) throws IOException {
        InputStream in = new BufferedInputStream(content);
        OutputStream buffered = new BufferedOutputStream(out);
        int window = 0;
        int last = '\n';
        for (int copied = 0; copied < MAX_HEADER_BYTES; copied++) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            buffered.write(b);
            last = b;
            window = (window << 8) | b;
            if (window == 0x0d0a0d0a) {
                break; // the body is not returned
            }
        }
        if (last != '\n') {
            buffered.write(CRLF.getBytes(StandardCharsets.US_ASCII));
        }
        buffered.flush();
    }

    private static String parameter(String parameters, String keyword) {
        for (String token : parameters.trim().split(" +")) {
            if (token.regionMatches(true, 0, keyword + "=", 0, keyword.length() + 1)) {
                return token.substring(keyword.length() + 1);
            }
        }
        return null;
    }

    private static String oneLine(String reply) {
        return reply == null ? "(no reply)" : reply.replaceAll("[\\r\\n]+", " ").strip();
    }
}
