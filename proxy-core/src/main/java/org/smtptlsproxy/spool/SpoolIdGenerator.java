package org.smtptlsproxy.spool;

import java.time.Clock;

/**
 * Hands out strictly increasing ids. Seeded with the highest id found in the spool at start, so a
 * restart within the same millisecond, or a clock stepped back, cannot repeat a name still on disk.
 */
final class SpoolIdGenerator {

    private static final int COUNTER_BITS = 15;

    private final Clock clock;
    private long last;

    SpoolIdGenerator(Clock clock, SpoolId highestExisting) {
        this.clock = clock;
        this.last = highestExisting == null ? -1 : highestExisting.sequence();
    }

    synchronized SpoolId next() {
        long fromClock = clock.millis() << COUNTER_BITS;
        last = Math.max(fromClock, last + 1);
        return SpoolId.ofSequence(last);
    }
}
