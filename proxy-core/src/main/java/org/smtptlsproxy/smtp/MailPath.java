package org.smtptlsproxy.smtp;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The argument of {@code MAIL FROM:} or {@code RCPT TO:}: an address and its ESMTP parameters.
 * Lenient where legacy devices are sloppy (a space after the colon, no angle brackets), strict
 * about what could smuggle anything upstream (control characters, spaces inside the address).
 */
public record MailPath(String address, Map<String, String> parameters) {

    public MailPath {
        parameters = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(parameters)); // in the order sent
    }

    /**
     * Parses {@code FROM:<a@b> SIZE=10} (prefix {@code FROM:}) or {@code TO:<c@d>}.
     * Parameter keywords are upper-cased; a keyword without a value maps to "".
     */
    public static Optional<MailPath> parse(String argument, String prefix) {
        if (argument.length() < prefix.length()
                || !argument.regionMatches(true, 0, prefix, 0, prefix.length())) {
            return Optional.empty();
        }
        String rest = argument.substring(prefix.length()).stripLeading();
        String address;
        String params;
        if (rest.startsWith("<")) {
            int close = rest.indexOf('>');
            if (close < 0) {
                return Optional.empty();
            }
            address = rest.substring(1, close);
            params = rest.substring(close + 1);
            if (!params.isEmpty() && params.charAt(0) != ' ') {
                return Optional.empty();
            }
        } else {
            int space = rest.indexOf(' ');
            address = space < 0 ? rest : rest.substring(0, space);
            params = space < 0 ? "" : rest.substring(space);
            if (address.isEmpty()) {
                return Optional.empty();
            }
        }
        if (!isSafeAddress(address) || unquotedAts(address) > 1) {
            // "local@evil@allowed" is no address: which "@" counts would be anyone's guess, and
            // allowed_senders must not guess differently from the upstream.
            return Optional.empty();
        }
        Map<String, String> parameters = new LinkedHashMap<>();
        for (String token : params.strip().split(" +")) {
            if (token.isEmpty()) {
                continue;
            }
            int eq = token.indexOf('=');
            String keyword = (eq < 0 ? token : token.substring(0, eq)).toUpperCase(Locale.ROOT);
            if (keyword.isEmpty() || !isSafeToken(token)) {
                return Optional.empty();
            }
            parameters.put(keyword, eq < 0 ? "" : token.substring(eq + 1));
        }
        return Optional.of(new MailPath(address, parameters));
    }

    public boolean isNullPath() {
        return address.isEmpty();
    }

    /** False for an internationalized address (RFC 6531), which needs SMTPUTF8. */
    public boolean isAscii() {
        for (int i = 0; i < address.length(); i++) {
            if (address.charAt(i) > 0x7f) {
                return false;
            }
        }
        return true;
    }

    /** The "@"s outside a quoted local part (RFC 5321 4.1.2: "a@b"@example.com has one). */
    private static int unquotedAts(String address) {
        int count = 0;
        boolean quoted = false;
        for (int i = 0; i < address.length(); i++) {
            char c = address.charAt(i);
            if (quoted && c == '\\') {
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == '@' && !quoted) {
                count++;
            }
        }
        return count;
    }

    private static boolean isSafeAddress(String address) {
        for (int i = 0; i < address.length(); i++) {
            char c = address.charAt(i);
            if (c <= ' ' || c == '<' || c == '>' || c == 0x7f) {
                return false;
            }
        }
        return true;
    }

    private static boolean isSafeToken(String token) {
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c < ' ' || c == 0x7f) {
                return false;
            }
        }
        return true;
    }
}
