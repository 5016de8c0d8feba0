package org.smtptlsproxy.inbound;

import org.smtptlsproxy.smtp.SmtpReply;

/**
 * What an {@link SmtpSession} asks of its connection. Implemented by {@link SmtpSessionHandler}
 * on a Netty channel, and by tests without one. Every call comes from the session's executor.
 */
public interface SessionOutput {

    /** Queues a reply; {@link #flush} sends what is queued. */
    void write(SmtpReply reply);

    void flush();

    /** Sends a last reply, then closes the connection. */
    void writeAndClose(SmtpReply reply);

    /** Asks for the next command, data chunk or SASL response; it may arrive inside this call. */
    void read();

    /** Commands follow (after a DATA, AUTH or STARTTLS that was refused, or after an AUTH exchange). */
    void resumeCommands();

    /** The next line answers a 334 challenge. */
    void expectSaslResponse();

    /** Message data follows the 354 just queued. */
    void startData();

    /** The rest of this message's data is read up to its terminator but not handed over. */
    void discardData();

    /**
     * Puts TLS in front, before the 220 is written: whatever the client pipelined after STARTTLS
     * is dropped, never executed (RFC 3207 5, CVE-2011-0411). The session hears of the handshake
     * through {@link SmtpSession#tlsEstablished} or {@link SmtpSession#tlsFailed}.
     */
    void startTls();
}
