package org.smtptlsproxy.server.demo;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** CRLF lines for the demo's blocking SMTP peers. */
final class SmtpLines {

    /** Longer lines are cut: the demo's peers never need more, and memory stays bounded. */
    private static final int MAX_LINE = 64 * 1024;

    private SmtpLines() {
    }

    /**
     * One line without its CRLF, or {@code null} at end of stream. Reads byte by byte so that
     * nothing after the line is taken from the stream: at STARTTLS the next bytes are TLS.
     */
    static String read(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream(128);
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            if (line.size() < MAX_LINE) {
                line.write(b);
            }
        }
        if (b < 0 && line.size() == 0) {
            return null;
        }
        String text = line.toString(StandardCharsets.UTF_8);
        return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
    }

    static void write(OutputStream out, String... lines) throws IOException {
        StringBuilder text = new StringBuilder();
        for (String line : lines) {
            text.append(line).append("\r\n");
        }
        out.write(text.toString().getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
