package org.smtptlsproxy.inbound;

import java.util.List;
import java.util.Locale;

/**
 * {@code allowed_senders}: which MAIL FROM addresses a listener accepts, so a device cannot send
 * as a domain the tenant will refuse anyway. Entries are addresses or {@code @domain}; both match
 * case-insensitively. An empty list allows any sender; the null sender (bounces) is always allowed.
 */
final class SenderPolicy {

    private SenderPolicy() {
    }

    static boolean allows(List<String> allowed, String sender) {
        if (allowed.isEmpty() || sender.isEmpty()) {
            return true;
        }
        String address = sender.toLowerCase(Locale.ROOT);
        int at = address.lastIndexOf('@');
        String domain = at < 0 ? "" : address.substring(at);
        for (String entry : allowed) {
            String e = entry.toLowerCase(Locale.ROOT);
            if (e.startsWith("@") ? e.equals(domain) : e.equals(address)) {
                return true;
            }
        }
        return false;
    }
}
