package org.smtptlsproxy.inbound;

import org.smtptlsproxy.delivery.DeliveryTransaction;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;

/** State of one mail transaction, from MAIL to the reply that ends it. Lives on one event loop. */
final class MailTransaction {

    final MailPath sender;
    final long startedNanos = System.nanoTime();
    /** Where the envelope and content go: relayed or stored, the session does not know. */
    final DeliveryTransaction delivery;
    int recipients;
    int accepted;
    boolean inData;
    /** Set when the proxy itself decided the transaction's end (bare newline, size, lost upstream). */
    SmtpReply abortReply;

    MailTransaction(MailPath sender, DeliveryTransaction delivery) {
        this.sender = sender;
        this.delivery = delivery;
    }

    /** The first Exchange-specific reason among the upstream's RCPT replies (null: none yet). */
    private UpstreamReplyReason recipientReason;

    /** Notes an upstream reply to RCPT, for the transaction log's {@code reason=}. */
    void recipientReply(SmtpReply reply) {
        if (recipientReason == null) {
            UpstreamReplyReason reason = UpstreamReplyReason.of(reply);
            recipientReason = reason == UpstreamReplyReason.NONE || reason == UpstreamReplyReason.OTHER ? null : reason;
        }
    }

    /**
     * The log's {@code reason=}: that of the reply ending the transaction (or of the upstream reply
     * it quotes), else that of a refused recipient, so a message relayed to some recipients still
     * says why the others were refused.
     */
    String reason(SmtpReply finalReply) {
        UpstreamReplyReason reason = UpstreamReplyReason.quotedIn(finalReply);
        if ((reason == UpstreamReplyReason.NONE || reason == UpstreamReplyReason.OTHER) && recipientReason != null) {
            return recipientReason.label();
        }
        return reason.label();
    }
}
