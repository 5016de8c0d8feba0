package org.smtptlsproxy.inbound;

import io.netty.buffer.ByteBuf;

/**
 * Finds the next CR or LF in message data eight octets at a time. Message data is mostly line
 * content, so this scan is where a large message spends its time in the framer; a byte-at-a-time
 * {@code forEachByte} costs several times more per MiB than encrypting it upstream.
 *
 * <p>The test for a zero byte, {@code (v - 0x01..01) & ~v & 0x80..80}, can also flag a byte
 * above a real zero (a borrow carries upwards), never one below it; the words are read little
 * endian, so the lowest flag is always the first CR or LF in buffer order.
 */
final class LineBreakScanner {

    private static final long ONES = 0x0101010101010101L;
    private static final long HIGH_BITS = 0x8080808080808080L;
    private static final long CRS = '\r' * ONES;
    private static final long LFS = '\n' * ONES;

    private LineBreakScanner() {
    }

    /** @return the index of the first CR or LF in {@code [from, to)} of {@code buf}, or -1 */
    static int indexOfLineBreak(ByteBuf buf, int from, int to) {
        int i = from;
        for (int lastWord = to - Long.BYTES; i <= lastWord; i += Long.BYTES) {
            long word = buf.getLongLE(i);
            long found = zeroBytes(word ^ CRS) | zeroBytes(word ^ LFS);
            if (found != 0) {
                return i + (Long.numberOfTrailingZeros(found) >>> 3);
            }
        }
        for (; i < to; i++) {
            byte b = buf.getByte(i);
            if (b == '\r' || b == '\n') {
                return i;
            }
        }
        return -1;
    }

    /** The high bit of each byte of {@code v} that is zero, possibly more above the first. */
    private static long zeroBytes(long v) {
        return (v - ONES) & ~v & HIGH_BITS;
    }
}
