package org.smtptlsproxy.smtp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Exchange Online's replies as Microsoft documents and sends them, each to its reason label. */
class UpstreamReplyReasonTest {

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource(delimiter = '|', textBlock = """
            250 | 2.6.0 <id@host> Queued mail for delivery                                                   | none
            220 | DB5EUR03FT012.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready              | none
            354 | Start mail input; end with <CRLF>.<CRLF>                                                  | none
            421 | 4.3.2 Service not available                                                               | throttled
            451 | 4.7.500 Server busy. Please try again later from [203.0.113.7]. (S77719)                  | throttled
            451 | 4.7.699 Access denied, please try again later                                             | throttled
            421 | 4.7.650 The mail server [203.0.113.7] has been temporarily rate limited due to IP reputation | ip_reputation
            550 | 5.7.606 Access denied, banned sending IP [203.0.113.7]                                    | ip_reputation
            550 | 5.7.64 TenantAttribution; Relay Access Denied                                             | connector_not_matched
            550 | 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched     | connector_not_matched
            550 | 5.7.30 Basic authentication is not supported for Client Submission                        | basic_auth_disabled
            535 | 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant  | smtp_auth_disabled
            535 | 5.7.3 Authentication unsuccessful                                                          | smtp_auth_disabled
            451 | 5.7.3 Must issue a STARTTLS command first                                                  | other
            550 | 5.7.60 SMTP; Client does not have permissions to send as this sender                      | send_as_denied
            550 | 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP             | high_risk_pool
            550 | 5.7.750 Service unavailable. Client blocked from sending from unregistered domains        | high_risk_pool
            552 | 5.3.4 Message size exceeds fixed maximum message size                                     | message_too_large
            550 | 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup         | recipient_unknown
            451 | 4.4.4 Temporary recipient failure                                                          | other
            554 | 5.6.0 Message rejected                                                                     | other
            550 | Mailbox unavailable                                                                        | other
            451 | 4.7.5000 not an enhanced code of three digits                                              | other
            550 | 5.7.640 not in the banned-IP range                                                         | ip_reputation
            550 | 5.7.650 out of range for a permanent code                                                  | other
            """)
    void classifies(int code, String text, String label) {
        assertEquals(label, UpstreamReplyReason.of(SmtpReply.of(code, text)).label());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            4.7.0 upstream relay rejected AUTH XOAUTH2 for a@b.example: 535 5.7.139 Authentication unsuccessful | smtp_auth_disabled
            4.4.0 upstream relay refused the session: 421 4.7.650 rate limited due to IP reputation          | ip_reputation
            4.7.0 upstream relay rejected AUTH LOGIN for a@b.example: 550 5.7.30 Basic authentication is off | basic_auth_disabled
            4.7.5 TLS 1.2+ handshake with upstream 192.0.2.1:25 failed: protocol_version                      | other
            4.4.2 no reply from upstream 10.0.0.1:25 to MAIL within 5m                                        | other
            """)
    void theProxysOwnReplyIsClassifiedByTheUpstreamReplyItQuotes(String text, String label) {
        assertEquals(label, UpstreamReplyReason.quotedIn(SmtpReply.of(451, text)).label());
    }

    @Test
    void everyExchangeReasonSaysWhatItMeansAndWhatToChange() {
        for (UpstreamReplyReason reason : UpstreamReplyReason.values()) {
            boolean generic = reason == UpstreamReplyReason.NONE || reason == UpstreamReplyReason.OTHER;
            assertEquals(generic, reason.meaning().isEmpty(), reason.label());
            assertEquals(generic, reason.remedy().isEmpty(), reason.label());
        }
        assertFalse(UpstreamReplyReason.CONNECTOR_NOT_MATCHED.meaning().isEmpty());
        assertEquals(List.of("none", "throttled", "ip_reputation", "connector_not_matched", "basic_auth_disabled",
                "smtp_auth_disabled", "send_as_denied", "high_risk_pool", "message_too_large", "recipient_unknown", "other"),
                UpstreamReplyReason.labels());
    }
}
