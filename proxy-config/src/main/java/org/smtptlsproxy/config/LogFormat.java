package org.smtptlsproxy.config;

/** How log lines are written: {@code logging.format}. */
public enum LogFormat {
    /** One human-readable line per event; the transaction line is key=value. The default. */
    TEXT,
    /** One JSON object per line; the transaction line's fields are JSON fields. */
    JSON
}
