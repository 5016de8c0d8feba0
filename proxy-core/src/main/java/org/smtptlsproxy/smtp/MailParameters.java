package org.smtptlsproxy.smtp;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The ESMTP parameters of MAIL and RCPT: which the proxy accepts (those of the extensions its EHLO
 * advertises), and which go on to an upstream, unchanged, given what that upstream advertised.
 *
 * <p>The rule for an extension the upstream lacks: a parameter is dropped when the upstream would
 * behave as RFC 3461 or 4954 expects without it (DSN requests, {@code AUTH=}); the mail is refused
 * with a 555 when dropping it would change the message ({@code SMTPUTF8}, {@code BODY=8BITMIME}).
 */
public final class MailParameters {

    /** RFC 3461 4.4: ENVID is at most 100 characters. */
    private static final int MAX_ENVID = 100;
    /** RFC 3461 4.2: ORCPT is at most 500 characters. */
    private static final int MAX_ORCPT = 500;

    private MailParameters() {
    }

    /** Null when the proxy accepts MAIL's parameters, else its refusal. */
    public static SmtpReply checkMail(Map<String, String> parameters, long maxMessageSize) {
        for (Map.Entry<String, String> p : parameters.entrySet()) {
            String value = p.getValue();
            SmtpReply refusal = switch (p.getKey()) {
                case "SIZE" -> checkSize(value, maxMessageSize);
                case "BODY" -> oneOf(value, "7BIT", "8BITMIME") ? null : Replies.SYNTAX_ERROR_IN_PARAMETERS;
                case "SMTPUTF8" -> value.isEmpty() ? null : Replies.SYNTAX_ERROR_IN_PARAMETERS;
                case "RET" -> oneOf(value, "FULL", "HDRS") ? null : Replies.SYNTAX_ERROR_IN_PARAMETERS;
                case "ENVID" -> isXtext(value) && value.length() <= MAX_ENVID ? null : Replies.SYNTAX_ERROR_IN_PARAMETERS;
                case "AUTH" -> value.equals("<>") || isXtext(value) ? null : Replies.SYNTAX_ERROR_IN_PARAMETERS;
                default -> Replies.UNSUPPORTED_PARAMETER;
            };
            if (refusal != null) {
                return refusal;
            }
        }
        return null;
    }

    /** Null when the proxy accepts RCPT's parameters (RFC 3461 NOTIFY and ORCPT), else its refusal. */
    public static SmtpReply checkRcpt(Map<String, String> parameters, boolean smtpUtf8) {
        for (Map.Entry<String, String> p : parameters.entrySet()) {
            SmtpReply refusal = switch (p.getKey()) {
                case "NOTIFY" -> isNotify(p.getValue()) ? null : Replies.SYNTAX_ERROR_IN_PARAMETERS;
                case "ORCPT" -> isOriginalRecipient(p.getValue(), smtpUtf8) ? null : Replies.SYNTAX_ERROR_IN_PARAMETERS;
                default -> Replies.UNSUPPORTED_PARAMETER;
            };
            if (refusal != null) {
                return refusal;
            }
        }
        return null;
    }

    /** The 555 for a MAIL parameter that the upstream cannot honour and that may not be dropped. */
    public static SmtpReply checkUpstreamSupports(Map<String, String> parameters, EhloCapabilities upstream) {
        if (parameters.containsKey("SMTPUTF8") && !upstream.has("SMTPUTF8")) {
            return Replies.parameterNotSupportedUpstream("SMTPUTF8");
        }
        String body = parameters.get("BODY");
        if ("8BITMIME".equalsIgnoreCase(body) && !upstream.has("8BITMIME")) {
            return Replies.parameterNotSupportedUpstream("BODY=8BITMIME");
        }
        return null;
    }

    /**
     * MAIL's parameters as the upstream gets them, each exactly as the client wrote it.
     *
     * @param authParameter the {@code AUTH=} value to send (RFC 4954 5), or null for none
     */
    public static List<String> forMail(Map<String, String> parameters, EhloCapabilities upstream, String authParameter) {
        List<String> forwarded = new ArrayList<>(parameters.size());
        for (Map.Entry<String, String> p : parameters.entrySet()) {
            String keyword = p.getKey();
            boolean offered = switch (keyword) {
                case "BODY" -> upstream.has("8BITMIME");
                case "RET", "ENVID" -> upstream.has("DSN");
                case "AUTH" -> false; // decided by the caller: see authParameter
                default -> upstream.has(keyword);
            };
            if (offered) {
                forwarded.add(p.getValue().isEmpty() ? keyword : keyword + "=" + p.getValue());
            }
        }
        if (authParameter != null) {
            forwarded.add("AUTH=" + authParameter);
        }
        return forwarded;
    }

    /** RCPT's parameters as the upstream gets them: DSN requests only where it offers DSN. */
    public static List<String> forRcpt(Map<String, String> parameters, EhloCapabilities upstream) {
        if (!upstream.has("DSN")) {
            return List.of();
        }
        List<String> forwarded = new ArrayList<>(parameters.size());
        parameters.forEach((keyword, value) -> forwarded.add(keyword + "=" + value));
        return forwarded;
    }

    private static SmtpReply checkSize(String value, long maxMessageSize) {
        if (value.isEmpty() || value.length() > 40 || !value.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return Replies.SYNTAX_ERROR_IN_PARAMETERS;
        }
        // Digits beyond what a long holds are still a size, and a size over any limit.
        if (value.length() > 18 || Long.parseLong(value) > maxMessageSize) {
            return Replies.MESSAGE_TOO_BIG;
        }
        return null;
    }

    private static boolean oneOf(String value, String... allowed) {
        for (String a : allowed) {
            if (a.equalsIgnoreCase(value)) {
                return true;
            }
        }
        return false;
    }

    /** RFC 3461 4.1: NEVER alone, or a comma list of SUCCESS, FAILURE and DELAY. */
    private static boolean isNotify(String value) {
        String upper = value.toUpperCase(Locale.ROOT);
        if (upper.equals("NEVER")) {
            return true;
        }
        String[] items = upper.split(",", -1);
        for (String item : items) {
            if (!item.equals("SUCCESS") && !item.equals("FAILURE") && !item.equals("DELAY")) {
                return false;
            }
        }
        return items.length > 0;
    }

    /**
     * RFC 3461 4.2: {@code addr-type ";" xtext}; with SMTPUTF8, RFC 6533's {@code utf-8} type, whose
     * address may carry UTF-8 and {@code \x{HEX}} escapes in place of xtext's {@code +HH}.
     */
    private static boolean isOriginalRecipient(String value, boolean smtpUtf8) {
        int semicolon = value.indexOf(';');
        if (semicolon <= 0 || value.length() > MAX_ORCPT) {
            return false;
        }
        String type = value.substring(0, semicolon);
        String address = value.substring(semicolon + 1);
        if (!type.chars().allMatch(MailParameters::isAtomChar) || address.isEmpty()) {
            return false;
        }
        if (type.equalsIgnoreCase("utf-8")) {
            return smtpUtf8 && address.chars().allMatch(c -> c > 0x7f || (c > ' ' && c < 0x7f && c != '+' && c != '='));
        }
        return isXtext(address);
    }

    private static boolean isAtomChar(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "!#$%&'*+-/=?^_`{|}~".indexOf(c) >= 0;
    }

    /** RFC 3461 4: printable ASCII but "+" and "=", and "+" followed by two upper-case hex digits. */
    static boolean isXtext(String value) {
        if (value.isEmpty()) {
            return false;
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '+') {
                if (i + 2 >= value.length() || !isUpperHex(value.charAt(i + 1)) || !isUpperHex(value.charAt(i + 2))) {
                    return false;
                }
                i += 2;
            } else if (c < '!' || c > '~' || c == '=') {
                return false;
            }
        }
        return true;
    }

    private static boolean isUpperHex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
    }
}
