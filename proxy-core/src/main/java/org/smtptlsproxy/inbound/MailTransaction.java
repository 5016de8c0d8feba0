package org.smtptlsproxy.inbound;

import io.netty.util.concurrent.Future;
import org.smtptlsproxy.outbound.UpstreamSession;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;

/** State of one mail transaction, from MAIL to the reply that ends it. Lives on one event loop. */
final class MailTransaction {

    final MailPath sender;
    final long startedNanos = System.nanoTime();
    /** Completes when the upstream session for this transaction is ready (or cannot be had). */
    final Future<UpstreamSession> upstream;
    int recipients;
    int accepted;
    boolean mailAccepted;
    boolean inData;
    long dataEndNanos;
    /** Set when the proxy itself decided the transaction's end (bare newline, size, lost upstream). */
    SmtpReply abortReply;

    MailTransaction(MailPath sender, Future<UpstreamSession> upstream) {
        this.sender = sender;
        this.upstream = upstream;
    }

    UpstreamSession session() {
        return upstream.isSuccess() ? upstream.getNow() : null;
    }
}
