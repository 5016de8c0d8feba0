package org.smtptlsproxy.outbound;

/** Names of the upstream pipeline's handlers. */
final class UpstreamHandlerNames {

    static final String TLS = "tls";
    static final String FLUSH = "flush-consolidation";
    static final String DECODER = "smtp-response-decoder";
    static final String ENCODER = "smtp-request-encoder";
    static final String SESSION = "upstream-session";

    private UpstreamHandlerNames() {
    }
}
