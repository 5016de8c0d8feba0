package org.smtptlsproxy.config;

/** The {@code logging} block. The level stays an environment setting (SMTP_TLS_PROXY_LOG_LEVEL). */
public record LoggingConfig(LogFormat format) {

    public static final LoggingConfig DEFAULT = new LoggingConfig(LogFormat.TEXT);
}
