package org.smtptlsproxy.spool;

import java.util.List;
import java.util.Objects;

/**
 * What the session knows of a message when it commits it: the envelope as received. The store
 * adds the id, arrival time and content size.
 */
public record MessageDraft(
        String listener,
        String sessionId,
        String clientFacts,
        String sender,
        String senderParameters,
        List<SpoolRecipient> recipients) {

    public MessageDraft {
        Objects.requireNonNull(listener, "listener");
        Objects.requireNonNull(sessionId, "sessionId");
        Objects.requireNonNull(clientFacts, "clientFacts");
        Objects.requireNonNull(sender, "sender");
        Objects.requireNonNull(senderParameters, "senderParameters");
        recipients = List.copyOf(recipients);
        if (recipients.isEmpty()) {
            throw new IllegalArgumentException("a message needs at least one recipient");
        }
    }
}
