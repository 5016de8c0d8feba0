package org.smtptlsproxy.inbound;

import org.smtptlsproxy.outbound.UpstreamSession;
import org.smtptlsproxy.outbound.UpstreamTransaction;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;

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

    /** The upstream session, once it has proven alive. */
    UpstreamSession session() {
        return upstream.session();
    }
}
