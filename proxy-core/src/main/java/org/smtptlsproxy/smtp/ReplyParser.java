package org.smtptlsproxy.smtp;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Assembles upstream reply lines into {@link SmtpReply}s under RFC 5321's grammar (4.2), strictly:
 * a reply counts only if every line starts with the same three-digit code, first digit 2 to 5 and
 * second 0 to 5, followed by {@code -} (more lines follow), a space or nothing (the last line).
 * Anything else is a {@link MalformedReplyException}: an upstream that says "25x" or "+OK" has not
 * said 250, and a relay that guesses would acknowledge mail nobody stored.
 *
 * <p>What is kept of a valid reply is sanitized, never reinterpreted: control characters in the
 * text become {@code ?} (they could end a line in the client's reply), and an enhanced status code
 * whose class disagrees with the reply code (RFC 3463 2: the classes must match) is dropped rather
 * than passed on, so a {@code 550 2.6.0} cannot read as a success to anyone.
 */
public final class ReplyParser {

    /** Lines of one reply; Exchange's EHLO has about a dozen. */
    public static final int MAX_LINES = 256;

    private static final Pattern ENHANCED_CODE = Pattern.compile("^([245])\\.\\d{1,3}\\.\\d{1,3}(?: +|$)");

    private int code = -1;
    private final List<String> lines = new ArrayList<>();

    /** Thrown for input that is not an SMTP reply; the session must not be trusted any further. */
    public static final class MalformedReplyException extends Exception {

        public MalformedReplyException(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * Takes one line without its line end. Returns the reply it completes, or null when the reply
     * goes on.
     */
    public SmtpReply line(byte[] octets, int length) throws MalformedReplyException {
        if (length < 3 || !isDigit(octets[0], '2', '5') || !isDigit(octets[1], '0', '5') || !isDigit(octets[2], '0', '9')) {
            throw malformed("not a reply code", octets, length);
        }
        boolean last;
        if (length == 3 || octets[3] == ' ') {
            last = true;
        } else if (octets[3] == '-') {
            last = false;
        } else {
            throw malformed("no separator after the reply code", octets, length);
        }
        int lineCode = (octets[0] - '0') * 100 + (octets[1] - '0') * 10 + (octets[2] - '0');
        if (code >= 0 && lineCode != code) {
            throw malformed("lines of one reply with different codes (" + code + " then " + lineCode + ")", octets, length);
        }
        if (lines.size() == MAX_LINES) {
            throw malformed("a reply of more than " + MAX_LINES + " lines", octets, length);
        }
        code = lineCode;
        String text = length <= 4 ? "" : new String(octets, 4, length - 4, StandardCharsets.UTF_8);
        lines.add(withoutForeignEnhancedCode(lineCode, sanitize(text)));
        if (!last) {
            return null;
        }
        SmtpReply reply = new SmtpReply(code, lines);
        code = -1;
        lines.clear();
        return reply;
    }

    /** True while a multi-line reply has begun and not ended. */
    public boolean inReply() {
        return code >= 0;
    }

    private static boolean isDigit(byte b, char lowest, char highest) {
        return b >= lowest && b <= highest;
    }

    private static String sanitize(String text) {
        StringBuilder clean = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if ((c < ' ' && c != '\t') || c == 0x7f) {
                if (clean == null) {
                    clean = new StringBuilder(text);
                }
                clean.setCharAt(i, '?');
            }
        }
        return clean == null ? text : clean.toString();
    }

    private static String withoutForeignEnhancedCode(int code, String text) {
        Matcher m = ENHANCED_CODE.matcher(text);
        if (m.find() && m.group(1).charAt(0) - '0' != code / 100) {
            return text.substring(m.end());
        }
        return text;
    }

    private static MalformedReplyException malformed(String what, byte[] octets, int length) {
        return new MalformedReplyException(what + ": \"" + printable(octets, length) + "\"");
    }

    /** The offending line, short and printable, for the log and the client's 451. */
    public static String printable(byte[] octets, int length) {
        StringBuilder out = new StringBuilder();
        int shown = Math.min(length, 80);
        for (int i = 0; i < shown; i++) {
            int b = octets[i] & 0xff;
            if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
                out.append((char) b);
            } else {
                out.append(String.format("\\x%02x", b));
            }
        }
        if (length > shown) {
            out.append("...");
        }
        return out.toString();
    }
}
