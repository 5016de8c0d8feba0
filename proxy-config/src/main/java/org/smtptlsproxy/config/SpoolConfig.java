package org.smtptlsproxy.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The {@code spool:} block: where listeners with {@code delivery: spool} keep messages, how much,
 * how long, and how retries back off. {@code directory} is null when none is configured (then no
 * listener may spool).
 */
public record SpoolConfig(
        Path directory,
        DataSize maxSize,
        int maxMessages,
        Duration maxAge,
        BounceMode bounce,
        Duration retryFirst,
        Duration retryMax) {

    public static final DataSize DEFAULT_MAX_SIZE = new DataSize(1L << 30);
    public static final int DEFAULT_MAX_MESSAGES = 10_000;
    public static final Duration DEFAULT_MAX_AGE = Duration.ofDays(5);
    public static final Duration DEFAULT_RETRY_FIRST = Duration.ofMinutes(1);
    public static final Duration DEFAULT_RETRY_MAX = Duration.ofHours(1);

    /** No spool configured. */
    public static SpoolConfig none() {
        return new SpoolConfig(null, DEFAULT_MAX_SIZE, DEFAULT_MAX_MESSAGES, DEFAULT_MAX_AGE, BounceMode.DSN,
                DEFAULT_RETRY_FIRST, DEFAULT_RETRY_MAX);
    }

    public boolean configured() {
        return directory != null;
    }
}
