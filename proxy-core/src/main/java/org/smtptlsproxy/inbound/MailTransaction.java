package org.smtptlsproxy.inbound;

import org.smtptlsproxy.outbound.UpstreamSession;
import org.smtptlsproxy.outbound.UpstreamTransaction;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;

/** State of one mail transaction, from MAIL to the reply that ends it. Lives on one event loop. */
final class MailTransaction {

    final MailPath sender;
    final long startedNanos = System.nanoTime();
    /** Carries MAIL, RCPT and DATA to the upstream, behind the probe of a reused session. */
    final UpstreamTransaction upstream;
    int recipients;
    int accepted;
    boolean mailAccepted;
    boolean inData;
    long dataEndNanos;
    /** Set when the proxy itself decided the transaction's end (bare newline, size, lost upstream). */
    SmtpReply abortReply;
    /** Set by the MAIL step when the upstream lacks an extension the sender's parameters need. */
    SmtpReply unsupportedUpstream;

    MailTransaction(MailPath sender, UpstreamTransaction upstream) {
        this.sender = sender;
        this.upstream = upstream;
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

    /** The upstream session, once it has proven alive. */
    UpstreamSession session() {
        return upstream.session();
    }
}
