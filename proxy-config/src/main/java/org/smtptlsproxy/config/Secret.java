package org.smtptlsproxy.config;

/** A secret read from a file. Masked in {@link #toString()} so it can never reach a log by accident. */
public record Secret(String value) {

    @Override
    public String toString() {
        return "******";
    }
}
