package org.smtptlsproxy.spool;

import java.util.regex.Pattern;

/**
 * A spooled message's name: 13 characters of lower-case base32 (digits, then letters without
 * i, l, o, u) that sort in arrival order as plain strings and as file names. It is the 50-bit
 * milliseconds since the epoch followed by a 15-bit counter within that millisecond; see
 * {@link SpoolIdGenerator} for why it never repeats.
 */
public record SpoolId(String value) implements Comparable<SpoolId> {

    static final String ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
    static final int LENGTH = 13;
    private static final Pattern FORM = Pattern.compile("[0-9a-hjkmnp-tv-z]{" + LENGTH + "}");

    public SpoolId {
        if (value == null || !FORM.matcher(value).matches()) {
            throw new IllegalArgumentException("not a spool id: " + value);
        }
    }

    /** The id of a sequence number (milliseconds << 15 | counter). */
    static SpoolId ofSequence(long sequence) {
        char[] chars = new char[LENGTH];
        long rest = sequence;
        for (int i = LENGTH - 1; i >= 0; i--) {
            chars[i] = ALPHABET.charAt((int) (rest & 31));
            rest >>>= 5;
        }
        return new SpoolId(new String(chars));
    }

    long sequence() {
        long sequence = 0;
        for (int i = 0; i < LENGTH; i++) {
            sequence = (sequence << 5) | ALPHABET.indexOf(value.charAt(i));
        }
        return sequence;
    }

    /** Parses what an operator typed; null when it is no id (so a command can say so). */
    public static SpoolId parseOrNull(String text) {
        return text != null && FORM.matcher(text).matches() ? new SpoolId(text) : null;
    }

    @Override
    public int compareTo(SpoolId other) {
        return value.compareTo(other.value);
    }

    @Override
    public String toString() {
        return value;
    }
}
