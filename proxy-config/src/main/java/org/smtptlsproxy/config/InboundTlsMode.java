package org.smtptlsproxy.config;

public enum InboundTlsMode {
    NONE,
    STARTTLS,
    IMPLICIT
}
