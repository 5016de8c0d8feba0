package org.smtptlsproxy.config;

/** What the spool does for a recipient refused for good or expired. */
public enum BounceMode {
    /** An RFC 3464 delivery status notification to the envelope sender (never to a null sender). */
    DSN,
    /** Only the transaction log says so. */
    LOG_ONLY
}
