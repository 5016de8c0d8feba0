package org.smtptlsproxy.outbound;

import io.netty.util.concurrent.Future;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * A session handed out for one transaction, with the RSET that must prove it alive before
 * anything sent on it counts. The probe is already sent, so the transaction's commands can follow
 * it in the same write; a fresh connection needs no probe and comes with a completed one.
 */
public record UpstreamLease(UpstreamSession session, Future<SmtpReply> probe) {

    /** True once the probe has answered with a 2xx; false while it is pending or if it failed. */
    boolean provedAlive() {
        return probe.isSuccess() && probe.getNow().isPositiveCompletion();
    }
}
