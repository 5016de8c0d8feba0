package org.smtptlsproxy.config;

/** How a listener hands a message on (issue 13). */
public enum DeliveryMode {
    /** Relayed to the upstream during the session; the upstream's reply is the sender's reply. */
    CUT_THROUGH,
    /** Written durably to the local spool, answered 250, delivered later with retries. */
    SPOOL
}
