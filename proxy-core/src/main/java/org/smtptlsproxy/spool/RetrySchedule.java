package org.smtptlsproxy.spool;

import java.time.Duration;
import java.util.function.DoubleSupplier;

/**
 * Exponential backoff with jitter: {@code first}, doubling per attempt, capped at {@code max},
 * each spread by +-20% so that messages deferred together do not return together.
 */
public final class RetrySchedule {

    static final double JITTER = 0.2;

    private final Duration first;
    private final Duration max;
    private final DoubleSupplier random;

    /** {@code random} yields values in [0, 1). */
    public RetrySchedule(Duration first, Duration max, DoubleSupplier random) {
        if (first.isNegative() || first.isZero() || max.compareTo(first) < 0) {
            throw new IllegalArgumentException("retry backoff needs 0 < first <= max");
        }
        this.first = first;
        this.max = max;
        this.random = random;
    }

    /** The wait after the {@code attempts}-th failed attempt (1 for the first). */
    public Duration backoff(int attempts) {
        long base = first.toMillis();
        for (int i = 1; i < attempts && base < max.toMillis(); i++) {
            base *= 2;
        }
        base = Math.min(base, max.toMillis());
        double factor = 1 - JITTER + 2 * JITTER * random.getAsDouble();
        return Duration.ofMillis(Math.round(base * factor));
    }
}
