package org.smtptlsproxy.spool;

/** Where one recipient of a spooled message stands. */
public enum RecipientState {
    /** Not delivered yet: the next attempt includes it. */
    PENDING,
    /** The upstream accepted the message for it (2xx after end-of-data). */
    DELIVERED,
    /** The upstream refused it for good (5xx), or the message expired while it was pending. */
    FAILED
}
