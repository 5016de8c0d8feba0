package org.smtptlsproxy.inbound;

/** Names of the inbound pipeline's handlers, so that STARTTLS can insert TLS at the right place. */
public final class HandlerNames {

    public static final String FLUSH = "flush-consolidation";
    public static final String PROXY_DECODER = "proxy-protocol-decoder";
    public static final String PROXY_PROTOCOL = "proxy-protocol";
    public static final String GATE = "gate";
    public static final String TLS = "tls";
    public static final String IDLE = "idle";
    public static final String DECODER = "smtp-decoder";
    public static final String FLOW_CONTROL = "flow-control";
    public static final String ENCODER = "smtp-encoder";
    public static final String SESSION = "smtp-session";

    private HandlerNames() {
    }
}
