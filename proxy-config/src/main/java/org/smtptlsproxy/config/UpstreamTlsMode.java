package org.smtptlsproxy.config;

public enum UpstreamTlsMode {
    STARTTLS,
    IMPLICIT
}
