package org.smtptlsproxy.smtp;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What Exchange Online meant by a reply, as a bounded label for {@code
 * smtp_proxy_upstream_replies_total{reason}} and the transaction log, and in plain words for
 * {@code probe}. Decided by the reply code and its enhanced status code (RFC 3463) alone, with the
 * text consulted only where Microsoft reuses a code: the labels stay few whatever an upstream
 * says. Any other upstream still gets {@code none} for 2xx/3xx and {@code other} for the rest.
 */
public enum UpstreamReplyReason {

    NONE("none", "", ""),
    THROTTLED("throttled",
            "Exchange Online is throttling this sender (too many connections, messages or recipients in a short time).",
            "Nothing to change if it is rare: senders retry. If it persists, spread the load (fewer parallel "
                    + "sessions, smaller batches) or ask Microsoft about the tenant's sending limits."),
    IP_REPUTATION("ip_reputation",
            "Exchange Online limits or blocks this relay's public IP address because of its reputation.",
            "Check the public IP the relay sends from (a shared or newly assigned address often has a poor reputation); "
                    + "send from a clean, static address, or delist it through Microsoft's delist portal."),
    CONNECTOR_NOT_MATCHED("connector_not_matched",
            "Exchange Online did not attribute the message to your tenant: the inbound connector in the Exchange admin "
                    + "center does not match this relay's IP or certificate.",
            "In the Exchange admin center, check the inbound connector (from: your organization's email server): by IP, "
                    + "list this relay's public IP; by certificate, set the name that probe prints for the client "
                    + "certificate and configure upstream.tls.client_certificate."),
    BASIC_AUTH_DISABLED("basic_auth_disabled",
            "Basic authentication (a password) is switched off for SMTP AUTH client submission in this tenant.",
            "Use upstream.auth.mechanism: xoauth2 with an app registration (client credentials), or relay through a "
                    + "connector to TENANT.mail.protection.outlook.com:25 without AUTH."),
    SMTP_AUTH_DISABLED("smtp_auth_disabled",
            "SMTP AUTH was refused: SMTP client authentication is disabled for the mailbox or the tenant, or the "
                    + "credentials or token were not accepted.",
            "Enable SMTP AUTH for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) or the tenant "
                    + "(Set-TransportConfig -SmtpClientAuthenticationDisabled $false); for XOAUTH2, check the SMTP.SendAsApp "
                    + "permission, admin consent and the service principal's mailbox permission."),
    SEND_AS_DENIED("send_as_denied",
            "The authenticated account may not send as the MAIL FROM address (SendAsDenied).",
            "Give the account (or the app's service principal) SendAs or FullAccess on that mailbox, or have the sender "
                    + "use the authenticated address as MAIL FROM (allowed_senders can enforce it)."),
    HIGH_RISK_POOL("high_risk_pool",
            "Exchange Online has put the tenant's outbound mail in its high-risk delivery pool or blocked the tenant "
                    + "(suspected spam, unverified or unregistered sending domain).",
            "Check the tenant's sending domains are accepted domains, look for compromised accounts and open a case "
                    + "with Microsoft support to get the tenant released."),
    MESSAGE_TOO_LARGE("message_too_large",
            "The message is larger than the upstream accepts.",
            "Lower limits.max_message_size to the upstream's limit (Exchange Online: 35 MB by default, up to 150 MB "
                    + "per mailbox), so the proxy refuses oversized messages at MAIL."),
    RECIPIENT_UNKNOWN("recipient_unknown",
            "The recipient address does not exist in Exchange Online (RecipientNotFound).",
            "Fix the address at the sender; if it should exist, check the mailbox or the accepted domain in Exchange."),
    OTHER("other", "", "");

    /** An enhanced status code right after the reply code: class.subject.detail. */
    private static final Pattern ENHANCED = Pattern.compile("^([245])\\.(\\d{1,3})\\.(\\d{1,3})(?![\\d.])");
    /** An upstream reply quoted inside one of the proxy's own replies ("...: 535 5.7.139 ..."). */
    private static final Pattern QUOTED = Pattern.compile("(?<![\\d.])([2345]\\d\\d)[ -]([245]\\.\\d{1,3}\\.\\d{1,3})(?![\\d.])");

    private final String label;
    private final String meaning;
    private final String remedy;

    UpstreamReplyReason(String label, String meaning, String remedy) {
        this.label = label;
        this.meaning = meaning;
        this.remedy = remedy;
    }

    /** The metric and log label. */
    public String label() {
        return label;
    }

    /** What the upstream meant, in plain words; empty for {@code none} and {@code other}. */
    public String meaning() {
        return meaning;
    }

    /** What an administrator changes; empty for {@code none} and {@code other}. */
    public String remedy() {
        return remedy;
    }

    /** Every label, for documentation and tests. */
    public static List<String> labels() {
        List<String> labels = new ArrayList<>();
        for (UpstreamReplyReason reason : values()) {
            labels.add(reason.label);
        }
        return labels;
    }

    public static UpstreamReplyReason of(SmtpReply reply) {
        return of(reply.code(), reply.lines().get(0));
    }

    /**
     * @param text the first line of the reply after the code, enhanced status code first (as
     *             Exchange sends it)
     */
    public static UpstreamReplyReason of(int code, String text) {
        if (code < 400) {
            return NONE;
        }
        Matcher enhanced = ENHANCED.matcher(text.stripLeading());
        if (!enhanced.find()) {
            return OTHER;
        }
        int klass = Integer.parseInt(enhanced.group(1));
        int subject = Integer.parseInt(enhanced.group(2));
        int detail = Integer.parseInt(enhanced.group(3));
        return classify(code, klass, subject, detail, text);
    }

    /**
     * Like {@link #of(SmtpReply)}, but a reply of the proxy's own that quotes the upstream's (a 451
     * for an AUTH the upstream refused, say) is classified by the quoted reply.
     */
    public static UpstreamReplyReason quotedIn(SmtpReply reply) {
        UpstreamReplyReason direct = of(reply);
        if (direct != OTHER) {
            return direct;
        }
        String text = String.join(" ", reply.lines());
        Matcher quoted = QUOTED.matcher(text);
        int from = 0;
        while (quoted.find(from)) {
            // Skip the reply's own enhanced code at the start: it is not a quotation.
            if (quoted.start() > 0) {
                UpstreamReplyReason inner = of(Integer.parseInt(quoted.group(1)), text.substring(quoted.start(2)));
                if (inner != OTHER && inner != NONE) {
                    return inner;
                }
            }
            from = quoted.end();
        }
        return OTHER;
    }

    private static UpstreamReplyReason classify(int code, int klass, int subject, int detail, String text) {
        if (klass == 4) {
            if (subject == 3 && detail == 2 && code == 421) {
                return THROTTLED; // 421 4.3.2 Service not available: Exchange sheds load
            }
            if (subject == 7 && detail == 650) {
                return IP_REPUTATION;
            }
            if (subject == 7 && detail >= 500 && detail <= 699) {
                return THROTTLED;
            }
            return OTHER;
        }
        if (klass != 5) {
            return OTHER;
        }
        return switch (subject) {
            case 1 -> detail == 10 || detail == 1 ? RECIPIENT_UNKNOWN : OTHER;
            case 2 -> detail == 3 ? MESSAGE_TOO_LARGE : OTHER;
            case 3 -> detail == 4 ? MESSAGE_TOO_LARGE : OTHER;
            case 7 -> permanentPolicy(code, detail, text);
            default -> OTHER;
        };
    }

    private static UpstreamReplyReason permanentPolicy(int code, int detail, String text) {
        if (detail == 64 || detail == 51) {
            return CONNECTOR_NOT_MATCHED; // TenantAttribution / TenantInboundAttribution
        }
        if (detail == 30) {
            return BASIC_AUTH_DISABLED;
        }
        if (detail == 139) {
            return SMTP_AUTH_DISABLED;
        }
        if (detail == 3) {
            // 535 5.7.3 is Exchange's AUTH refusal; the same code after 451/530 asks for STARTTLS.
            return code == 535 || text.toLowerCase(Locale.ROOT).contains("authentication") ? SMTP_AUTH_DISABLED : OTHER;
        }
        if (detail == 60) {
            return SEND_AS_DENIED;
        }
        if (detail == 705 || detail == 708 || detail == 750) {
            return HIGH_RISK_POOL;
        }
        if (detail >= 606 && detail <= 649) {
            return IP_REPUTATION; // Access denied, banned sending IP
        }
        return OTHER;
    }
}
