package org.smtptlsproxy.spool;

import java.util.Objects;

/**
 * One envelope recipient: the address and the RCPT parameters exactly as the client sent them
 * (the text after the closing angle bracket, e.g. {@code NOTIFY=FAILURE ORCPT=rfc822;a@b}), and its
 * delivery state with the last reply the upstream gave for it (null before the first attempt).
 */
public record SpoolRecipient(String address, String parameters, RecipientState state, String lastReply) {

    public SpoolRecipient {
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(parameters, "parameters");
        Objects.requireNonNull(state, "state");
    }

    public static SpoolRecipient pending(String address, String parameters) {
        return new SpoolRecipient(address, parameters, RecipientState.PENDING, null);
    }

    public SpoolRecipient with(RecipientState newState, String reply) {
        return new SpoolRecipient(address, parameters, newState, reply);
    }

    public boolean isPending() {
        return state == RecipientState.PENDING;
    }
}
