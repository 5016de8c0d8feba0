package org.smtptlsproxy.smtp;

import java.util.Locale;

/**
 * One SMTP command line without its CRLF: the verb in upper case and the rest of the line.
 * Parsing never fails; an unknown or empty verb is the session's business.
 *
 * @param validUtf8 false when the line's octets are not UTF-8: the text then holds one char per
 *                  octet, for diagnostics only, and must never be relayed
 */
public record CommandLine(String verb, String argument, boolean validUtf8) {

    /** A line decoded from valid UTF-8 (or ASCII). */
    public static CommandLine parse(String line) {
        return parse(line, true);
    }

    public static CommandLine parse(String line, boolean validUtf8) {
        int space = line.indexOf(' ');
        String verb = space < 0 ? line : line.substring(0, space);
        String argument = space < 0 ? "" : line.substring(space + 1).strip();
        return new CommandLine(verb.toUpperCase(Locale.ROOT), argument, validUtf8);
    }

    public boolean hasArgument() {
        return !argument.isEmpty();
    }

    /** For logs: AUTH arguments carry credentials and are never shown. */
    @Override
    public String toString() {
        return verb.equals("AUTH") ? "AUTH ***" : argument.isEmpty() ? verb : verb + " " + argument;
    }
}
