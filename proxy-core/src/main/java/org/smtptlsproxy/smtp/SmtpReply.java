package org.smtptlsproxy.smtp;

import java.util.List;

/**
 * An SMTP reply: a three-digit code and one or more text lines. Upstream replies are carried in
 * this form unchanged, so the text keeps the upstream's enhanced status code and queue id.
 */
public record SmtpReply(int code, List<String> lines) {

    public SmtpReply {
        if (code < 200 || code > 599) {
            throw new IllegalArgumentException("reply code out of range: " + code);
        }
        lines = lines.isEmpty() ? List.of("") : List.copyOf(lines);
    }

    public static SmtpReply of(int code, String text) {
        return new SmtpReply(code, List.of(text));
    }

    /** 2 for success, 3 for intermediate, 4 for transient and 5 for permanent failure. */
    public int codeClass() {
        return code / 100;
    }

    public boolean isPositiveCompletion() {
        return codeClass() == 2;
    }

    public boolean isTransientFailure() {
        return codeClass() == 4;
    }

    public boolean isPermanentFailure() {
        return codeClass() == 5;
    }

    /** The whole reply on one line, for logs and for quoting inside another reply. */
    public String oneLine() {
        return code + " " + String.join(" ", lines);
    }

    @Override
    public String toString() {
        return oneLine();
    }
}
