package org.smtptlsproxy.spool;

import java.time.Duration;
import java.time.Instant;

/** A message's age the way an operator reads it: {@code 42s}, {@code 17m}, {@code 3h12m}, {@code 2d4h}. */
public final class SpoolAge {

    private SpoolAge() {
    }

    public static String between(Instant since, Instant now) {
        long seconds = Math.max(0, Duration.between(since, now).getSeconds());
        if (seconds < 60) {
            return seconds + "s";
        }
        if (seconds < 3600) {
            return seconds / 60 + "m";
        }
        if (seconds < 86_400) {
            return seconds / 3600 + "h" + (seconds % 3600) / 60 + "m";
        }
        return seconds / 86_400 + "d" + (seconds % 86_400) / 3600 + "h";
    }
}
