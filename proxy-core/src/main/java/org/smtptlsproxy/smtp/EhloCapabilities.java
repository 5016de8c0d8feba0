package org.smtptlsproxy.smtp;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.stream.Collectors;

/** The extensions an upstream advertised in its EHLO reply (RFC 5321 section 4.1.1.1). */
public final class EhloCapabilities {

    public static final EhloCapabilities NONE = new EhloCapabilities(Map.of());

    private final Map<String, String> extensions;

    private EhloCapabilities(Map<String, String> extensions) {
        this.extensions = extensions;
    }

    /** Parses the lines of a 250 EHLO reply; the first line is the greeting, not an extension. */
    public static EhloCapabilities parse(List<? extends CharSequence> lines) {
        Map<String, String> extensions = new HashMap<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i).toString().strip();
            int space = line.indexOf(' ');
            String keyword = (space < 0 ? line : line.substring(0, space)).toUpperCase(Locale.ROOT);
            if (!keyword.isEmpty()) {
                extensions.put(keyword, space < 0 ? "" : line.substring(space + 1).strip());
            }
        }
        return new EhloCapabilities(Map.copyOf(extensions));
    }

    public boolean has(String keyword) {
        return extensions.containsKey(keyword);
    }

    public boolean startTls() {
        return has("STARTTLS");
    }

    public boolean pipelining() {
        return has("PIPELINING");
    }

    /** The mechanisms after {@code AUTH}, upper case. */
    public List<String> authMechanisms() {
        String value = extensions.get("AUTH");
        return value == null || value.isEmpty() ? List.of() : List.of(value.toUpperCase(Locale.ROOT).split(" +"));
    }

    /** The SIZE limit, if the upstream declared a non-zero one. */
    public OptionalLong sizeLimit() {
        String value = extensions.get("SIZE");
        if (value == null || value.isEmpty()) {
            return OptionalLong.empty();
        }
        try {
            long limit = Long.parseLong(value);
            return limit > 0 ? OptionalLong.of(limit) : OptionalLong.empty();
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** Every extension with its parameters, alphabetically, e.g. "AUTH LOGIN PLAIN, PIPELINING, SIZE 36700160". */
    public String describe() {
        return extensions.entrySet().stream()
                .map(e -> e.getValue().isEmpty() ? e.getKey() : e.getKey() + " " + e.getValue())
                .sorted()
                .collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return extensions.keySet().toString();
    }
}
