package org.smtptlsproxy.spool;

import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * The messages waiting for an attempt, ordered by when each is due and then by arrival: the
 * scheduler takes the next due one in O(log n) instead of looking at every message in the spool.
 * Not thread-safe: the scheduler's thread owns it.
 */
final class DueMessages {

    private record Entry(Instant at, SpoolId id) implements Comparable<Entry> {
        @Override
        public int compareTo(Entry other) {
            int byTime = at.compareTo(other.at);
            return byTime != 0 ? byTime : id.compareTo(other.id);
        }
    }

    private final TreeSet<Entry> byTime = new TreeSet<>();
    private final Map<SpoolId, Instant> dueAt = new HashMap<>();

    /** Puts the message in the order at {@code at}, moving it when it was already waiting. */
    void schedule(SpoolId id, Instant at) {
        remove(id);
        dueAt.put(id, at);
        byTime.add(new Entry(at, id));
    }

    /** The first message due at {@code now}, taken out of the order; null when none is. */
    SpoolId takeDue(Instant now) {
        if (byTime.isEmpty() || byTime.first().at().isAfter(now)) {
            return null;
        }
        Entry first = byTime.pollFirst();
        dueAt.remove(first.id());
        return first.id();
    }

    boolean contains(SpoolId id) {
        return dueAt.containsKey(id);
    }

    void remove(SpoolId id) {
        Instant at = dueAt.remove(id);
        if (at != null) {
            byTime.remove(new Entry(at, id));
        }
    }
}
