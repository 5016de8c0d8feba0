package org.smtptlsproxy.spool;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * Everything about a spooled message except its content: who sent it to whom (with the ESMTP
 * parameters exactly as received), where it came from (listener, session id and a line of client
 * facts for the log), and how delivery stands (per-recipient state, attempts, the next attempt
 * and the last reply). Immutable: a state change is a new envelope, written atomically by
 * {@link SpoolStore#update}.
 *
 * <p>{@code sender} is "" for the null reverse-path ({@code MAIL FROM:<>}).
 */
public record SpoolEnvelope(
        SpoolId id,
        Instant arrival,
        String listener,
        String sessionId,
        String clientFacts,
        String sender,
        String senderParameters,
        List<SpoolRecipient> recipients,
        long contentSize,
        int attempts,
        Instant nextAttempt,
        String lastReply) {

    public SpoolEnvelope {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(arrival, "arrival");
        Objects.requireNonNull(listener, "listener");
        Objects.requireNonNull(sessionId, "sessionId");
        Objects.requireNonNull(clientFacts, "clientFacts");
        Objects.requireNonNull(sender, "sender");
        Objects.requireNonNull(senderParameters, "senderParameters");
        Objects.requireNonNull(nextAttempt, "nextAttempt");
        recipients = List.copyOf(recipients);
        // Milliseconds are what the file keeps: an envelope read back equals the one written.
        arrival = arrival.truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
        nextAttempt = nextAttempt.truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
        if (recipients.isEmpty()) {
            throw new IllegalArgumentException("a message needs at least one recipient");
        }
        if (contentSize < 0 || attempts < 0) {
            throw new IllegalArgumentException("negative size or attempts");
        }
    }

    public boolean hasNullSender() {
        return sender.isEmpty();
    }

    public long pendingCount() {
        return recipients.stream().filter(SpoolRecipient::isPending).count();
    }

    public boolean isFinished() {
        return pendingCount() == 0;
    }

    public SpoolEnvelope withRecipients(List<SpoolRecipient> newRecipients) {
        return new SpoolEnvelope(id, arrival, listener, sessionId, clientFacts, sender, senderParameters,
                newRecipients, contentSize, attempts, nextAttempt, lastReply);
    }

    public SpoolEnvelope afterAttempt(Instant next, String reply) {
        return new SpoolEnvelope(id, arrival, listener, sessionId, clientFacts, sender, senderParameters,
                recipients, contentSize, attempts + 1, next, reply);
    }

    public SpoolEnvelope withNextAttempt(Instant next) {
        return new SpoolEnvelope(id, arrival, listener, sessionId, clientFacts, sender, senderParameters,
                recipients, contentSize, attempts, next, lastReply);
    }
}
