package org.smtptlsproxy.spool;

import java.io.IOException;

/**
 * The spool reached {@code max_size} or {@code max_messages}: the session answers
 * {@code 452 4.3.1 Insufficient system storage} and the sender keeps the message.
 */
public final class SpoolFullException extends IOException {

    public SpoolFullException(String message) {
        super(message);
    }
}
