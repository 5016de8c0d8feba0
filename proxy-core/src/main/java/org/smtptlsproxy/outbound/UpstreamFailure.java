package org.smtptlsproxy.outbound;

import org.smtptlsproxy.smtp.SmtpReply;

/**
 * Why the upstream could not be used: the metric label, the enhanced status code of the 4xx the
 * client gets, and a reason a mail administrator can act on (quoting the upstream's reply when
 * there was one). Never a 5xx: the sender must keep the message and retry.
 */
public record UpstreamFailure(Outcome outcome, String reason) {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(UpstreamFailure.class);

    public enum Outcome {
        CONNECT_FAILED("connect_failed", "4.4.1"),
        REJECTED("rejected", "4.4.0"),
        STARTTLS_MISSING("starttls_missing", "4.7.5"),
        TLS_FAILED("tls_failed", "4.7.5"),
        CERTIFICATE_INVALID("certificate_invalid", "4.7.5"),
        AUTH_FAILED("auth_failed", "4.7.0"),
        TIMEOUT("timeout", "4.4.2"),
        PROTOCOL_ERROR("protocol_error", "4.5.0"),
        /** The connection broke after set-up; not a set-up outcome, so never a metric label. */
        CONNECTION_LOST("connection_lost", "4.4.2");

        private final String label;
        private final String enhancedCode;

        Outcome(String label, String enhancedCode) {
            this.label = label;
            this.enhancedCode = enhancedCode;
        }

        public String label() {
            return label;
        }
    }

    /** The 451 the client gets; its text says why, so the sender's bounce log explains itself. */
    public SmtpReply toReply() {
        return SmtpReply.of(451, outcome.enhancedCode + " " + reason);
    }

    /** Wraps this failure for failing a Netty promise; no stack trace, it is an expected outcome. */
    public UpstreamException asException() {
        return new UpstreamException(this);
    }

    /** Carries an {@link UpstreamFailure} through Netty futures. */
    public static final class UpstreamException extends Exception {

        private final transient UpstreamFailure failure;

        UpstreamException(UpstreamFailure failure) {
            super(failure.reason(), null, false, false);
            this.failure = failure;
        }

        public UpstreamFailure failure() {
            return failure;
        }
    }

    /** The failure behind a failed future's cause, or a protocol error for anything unforeseen. */
    public static UpstreamFailure of(Throwable cause) {
        if (cause instanceof UpstreamException e) {
            return e.failure();
        }
        LOG.warn("unexpected failure while relaying", cause);
        // Exception text is Netty's or the JDK's language, not a mail administrator's: not quoted.
        return new UpstreamFailure(Outcome.PROTOCOL_ERROR, "internal error while relaying (see the proxy's log)");
    }
}
