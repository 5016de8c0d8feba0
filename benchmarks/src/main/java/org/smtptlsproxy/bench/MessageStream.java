package org.smtptlsproxy.bench;

import java.nio.charset.StandardCharsets;

/**
 * A message of exactly {@code size} octets as a client sends it after {@code 354}: CRLF lines,
 * already dot-stuffed, without the terminating {@code .CRLF}. Generated on the fly from a seed,
 * so a gigabyte never has to exist in memory; the same seed and size give the same bytes.
 *
 * <p>Headers, an empty line, then numbered body lines of 1 to about 200 characters. Every 50th
 * line starts with a dot (sent stuffed, as {@code ..}), every 1000th is a lone dot (sent as
 * {@code ..}), every 300th is empty: the relay must carry stuffed lines through untouched. No
 * byte is a bare CR or LF and no line reaches the 998-character limit.
 */
final class MessageStream {

    private static final byte[] ALPHABET =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 +/=-_,;:!?()<>@#%&*"
                    .getBytes(StandardCharsets.US_ASCII);
    /** Lines are cut from this pool at pseudo-random offsets: cheap, and not one repeated block. */
    private static final int POOL = 1 << 16;

    private final long size;
    private final byte[] pool = new byte[POOL + 256];
    private final byte[] line = new byte[1024];
    private final String[] headers;
    private long planned;
    private long lineNumber;
    private int lineLength;
    private int linePosition;
    private long state;

    MessageStream(long size, long seed) {
        if (size < 1024) {
            throw new IllegalArgumentException("size must be at least 1024 octets");
        }
        this.size = size;
        this.state = seed == 0 ? 0x9E3779B97F4A7C15L : seed;
        for (int i = 0; i < pool.length; i++) {
            pool[i] = ALPHABET[(int) Long.remainderUnsigned(next(), ALPHABET.length)];
        }
        this.headers = new String[] {
                "From: big@legacy.example",
                "To: sink@contoso.example",
                "Subject: " + size + " octets, seed " + seed,
                "Message-ID: <" + Long.toHexString(seed) + "." + size + "@bench.invalid>",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=us-ascii",
                ""};
    }

    long size() {
        return size;
    }

    /** Fills {@code buffer} as far as the message goes; 0 at the end. */
    int fill(byte[] buffer) {
        int written = 0;
        while (written < buffer.length) {
            if (linePosition == lineLength) {
                if (planned == size) {
                    break;
                }
                nextLine();
            }
            int n = Math.min(buffer.length - written, lineLength - linePosition);
            System.arraycopy(line, linePosition, buffer, written, n);
            written += n;
            linePosition += n;
        }
        return written;
    }

    /** Plans the next line, CRLF included, so that the last one ends exactly at {@code size}. */
    private void nextLine() {
        int length = 0;
        long n = lineNumber++;
        if (n < headers.length) {
            byte[] header = headers[(int) n].getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(header, 0, line, 0, header.length);
            length = header.length;
        } else if (n % 1000 == 0) {
            line[length++] = '.'; // a line of one dot, stuffed
            line[length++] = '.';
        } else if (n % 300 == 0) {
            length = 0; // an empty line
        } else {
            if (n % 50 == 0) {
                line[length++] = '.'; // the stuffing dot
                line[length++] = '.'; // the author's dot
            }
            length = writeNumber(n, length);
            line[length++] = ' ';
            long r = next();
            int text = 1 + (int) Long.remainderUnsigned(r, 180);
            int from = (int) Long.remainderUnsigned(r >>> 16, POOL);
            System.arraycopy(pool, from, line, length, text);
            length += text;
        }
        long left = size - planned;
        if (left - (length + 2) < 256) {
            // The last line: whatever is left, in a form that cannot start with a dot.
            length = (int) left - 2;
            for (int i = 0; i < length; i++) {
                line[i] = 'z';
            }
        }
        line[length++] = '\r';
        line[length++] = '\n';
        planned += length;
        lineLength = length;
        linePosition = 0;
    }

    private int writeNumber(long value, int at) {
        String digits = Long.toString(value);
        for (int i = 0; i < digits.length(); i++) {
            line[at + i] = (byte) digits.charAt(i);
        }
        return at + digits.length();
    }

    /** xorshift64*: reproducible, fast, good enough to vary line lengths and text. */
    private long next() {
        state ^= state >>> 12;
        state ^= state << 25;
        state ^= state >>> 27;
        return state * 0x2545F4914F6CDD1DL;
    }
}
