package org.smtptlsproxy.config;

/** What to do with a bare CR or LF in message data (the SMTP smuggling vector). */
public enum BareNewlines {
    /** 550 5.6.11 and relay nothing. */
    REJECT,
    /** Turn each bare CR or LF into CRLF and re-stuff dots. */
    NORMALIZE
}
