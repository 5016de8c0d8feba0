package org.smtptlsproxy.config;

/** A size in octets; parsed from {@code 512KB}, {@code 35MB} with binary multiples. */
public record DataSize(long bytes) {
}
