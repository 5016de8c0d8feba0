package org.smtptlsproxy.interop;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;
import java.util.UUID;

/**
 * Messages with a unique token in Subject and Message-ID (to find them in the mailbox) and every
 * header a relay might otherwise add, so nothing in between has a reason to change them. The
 * bodies carry what breaks sloppy relays: lines starting with dots, trailing blanks, a long line.
 */
final class TestMessages {

    private TestMessages() {
    }

    static String token(String label) {
        return label + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** A 7-bit text message, CRLF line ends, not dot-stuffed. */
    static byte[] plain(String token, String from, String to) {
        return (headers(token, from, to) + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + tortureBody()
                + "Regards,\r\n" + token + "\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** An 8-bit UTF-8 body, for BODY=8BITMIME. */
    static byte[] eightBit(String token, String from, String to) {
        return (headers(token, from, to) + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Content-Transfer-Encoding: 8bit\r\n\r\n"
                + "Grüße aus Köln, ça va? Ελληνικά, 日本語, € and 🙂\r\n" + tortureBody() + token + "\r\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    /** A multipart message with a base64 attachment of {@code attachmentBytes} random octets. */
    static byte[] withAttachment(String token, String from, String to, int attachmentBytes) {
        byte[] payload = new byte[attachmentBytes];
        new Random(42).nextBytes(payload);
        String boundary = "=_boundary_" + token;
        ByteArrayOutputStream out = new ByteArrayOutputStream(attachmentBytes * 14 / 10);
        write(out, headers(token, from, to) + "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n"
                + "--" + boundary + "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n"
                + "--" + boundary + "\r\nContent-Type: application/octet-stream\r\n"
                + "Content-Disposition: attachment; filename=\"blob.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        write(out, Base64.getMimeEncoder(76, "\r\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(payload) + "\r\n");
        write(out, "--" + boundary + "--\r\n");
        return out.toByteArray();
    }

    private static String headers(String token, String from, String to) {
        return "From: Interop Sender <" + from + ">\r\n"
                + "To: <" + to + ">\r\n"
                + "Subject: interop " + token + "\r\n"
                + "Date: Sun, 06 Dec 2026 05:00:00 +0000\r\n"
                + "Message-ID: <" + token + "@interop.test>\r\n"
                + "MIME-Version: 1.0\r\n";
    }

    private static String tortureBody() {
        return "Hello,\r\n"
                + ".a line that starts with a dot\r\n"
                + "..two dots\r\n"
                + ".\t(a dot and a tab)\r\n"
                + "trailing blanks   \r\n"
                + "\r\n"
                + "x".repeat(990) + "\r\n";
    }

    /** The SMTP wire form of DATA: dot-stuffed, then the terminator (for --no-data-fixup). */
    static byte[] wireData(byte[] message) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(message.length + 1024);
        boolean lineStart = true;
        for (byte b : message) {
            if (lineStart && b == '.') {
                out.write('.');
            }
            out.write(b);
            lineStart = b == '\n';
        }
        write(out, ".\r\n");
        return out.toByteArray();
    }

    private static void write(ByteArrayOutputStream out, String text) {
        out.writeBytes(text.getBytes(StandardCharsets.UTF_8));
    }
}
