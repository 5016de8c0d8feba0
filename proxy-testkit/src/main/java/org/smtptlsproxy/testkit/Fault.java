package org.smtptlsproxy.testkit;

/** Ways the {@link FakeUpstream} can misbehave, one per upstream failure the proxy must survive. */
public enum Fault {
    /** The connection is accepted and closed at once, before any banner. */
    REFUSE_CONNECTION,
    /** STARTTLS is not advertised and refused with 502. */
    NO_STARTTLS,
    /** The banner is {@code 421 4.3.2 Service not available} and the connection closes. */
    BANNER_421,
    /** TCP is accepted, nothing is ever sent. */
    SILENT,
    /** EHLO gets {@code 554 5.7.1}. */
    EHLO_5XX,
    /** MAIL gets {@code 451 4.7.500 Server busy}, Exchange Online's throttling reply. */
    MAIL_4XX,
    /** MAIL gets {@code 550 5.7.64 TenantAttribution; Relay Access Denied}. */
    MAIL_5XX,
    /** MAIL is never answered. */
    STALL_AT_MAIL,
    /** The DATA command gets {@code 452 4.3.1 Insufficient system resources}. */
    DATA_4XX,
    /** Every RCPT gets {@code 451 4.4.4}. */
    RCPT_4XX,
    /** Every RCPT gets Exchange Online's {@code 550 5.1.10} recipient-not-found. */
    RCPT_5XX,
    /** The end of data gets {@code 451 4.7.500 Server busy}. */
    DATA_END_4XX,
    /** The end of data gets {@code 554 5.6.0}. */
    DATA_END_5XX,
    /** The connection closes after the first bytes of message data, without a reply. */
    DROP_MID_DATA,
    /**
     * Stops reading for three seconds once message data starts, as a congested upstream would:
     * the proxy must push back on its sender instead of buffering.
     */
    STALL_DATA,
    /** The end of data is never answered. */
    SILENT_AT_DATA_END,
    /**
     * The message is stored, then the connection closes before the 250: the window in which a
     * sender that retries delivers twice, as with any SMTP server.
     */
    DROP_AFTER_DATA_END,
    /**
     * RSET gets {@code 421 4.4.2} and the connection closes, as a server does with a session it
     * has timed out: what a reused pooled session meets when the upstream dropped it first.
     */
    RSET_421,
    /** The 220 to STARTTLS carries an extra plaintext {@code 250} line in the same packet. */
    STARTTLS_INJECTION
}
