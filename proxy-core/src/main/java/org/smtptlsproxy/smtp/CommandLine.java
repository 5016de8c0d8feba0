package org.smtptlsproxy.smtp;

import java.util.Locale;

/**
 * One SMTP command line without its CRLF: the verb in upper case and the rest of the line.
 * Parsing never fails; an unknown or empty verb is the session's business.
 */
public record CommandLine(String verb, String argument) {

    public static CommandLine parse(String line) {
        int space = line.indexOf(' ');
        String verb = space < 0 ? line : line.substring(0, space);
        String argument = space < 0 ? "" : line.substring(space + 1).strip();
        return new CommandLine(verb.toUpperCase(Locale.ROOT), argument);
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
