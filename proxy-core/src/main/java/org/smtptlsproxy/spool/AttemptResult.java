package org.smtptlsproxy.spool;

import java.util.Map;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * What one delivery attempt achieved, per recipient: keyed by the recipient's index in the
 * envelope, the reply that decided it (the RCPT reply when that refused it, else the reply to the
 * end of data). A 2xx delivers it, a 5xx fails it for good, a 4xx or no entry at all leaves it
 * pending for the next attempt. {@code transaction} is the reply that ended the attempt, for the
 * envelope's last reply and the logs.
 */
public record AttemptResult(Map<Integer, SmtpReply> recipients, SmtpReply transaction) {

    public AttemptResult {
        recipients = Map.copyOf(recipients);
    }

    /** The same reply for every pending recipient (a connection failure, a refused MAIL, a final 250). */
    public static AttemptResult allPending(SpoolEnvelope envelope, SmtpReply reply) {
        Map<Integer, SmtpReply> replies = new java.util.HashMap<>();
        for (int i = 0; i < envelope.recipients().size(); i++) {
            if (envelope.recipients().get(i).isPending()) {
                replies.put(i, reply);
            }
        }
        return new AttemptResult(replies, reply);
    }
}
