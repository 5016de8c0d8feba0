package org.smtptlsproxy.inbound;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LineBreakScannerTest {

    /** Neighbours of CR and LF that differ in one bit, and bytes that borrow in the zero test. */
    private static final byte[] TRICKY = {0x00, 0x01, 0x09, 0x0B, 0x0C, 0x0E, (byte) 0x8A, (byte) 0x8D, (byte) 0xFF, 'A', '.'};

    @Test
    void findsEveryLineBreakAtEveryOffsetAndAlignment() {
        for (int length = 0; length <= 26; length++) {
            for (byte filler : TRICKY) {
                byte[] data = new byte[length];
                Arrays.fill(data, filler);
                for (int at = -1; at < length; at++) {
                    for (byte lineBreak : new byte[] {'\r', '\n'}) {
                        if (at >= 0) {
                            data[at] = lineBreak;
                        }
                        assertScansLikeByteLoop(data);
                        if (at >= 0) {
                            data[at] = filler;
                        }
                    }
                }
            }
        }
    }

    @Test
    void agreesWithAByteLoopOnRandomData() {
        Random random = new Random(20261202);
        byte[] alphabet = {'\r', '\n', '.', 'x', 0x00, 0x0C, 0x0E, (byte) 0x8D, (byte) 0x8A, (byte) 0xFF};
        for (int run = 0; run < 300; run++) {
            byte[] data = new byte[random.nextInt(120)];
            int density = 1 + random.nextInt(60);
            for (int i = 0; i < data.length; i++) {
                data[i] = random.nextInt(density) == 0 ? alphabet[random.nextInt(2)] : alphabet[2 + random.nextInt(alphabet.length - 2)];
            }
            assertScansLikeByteLoop(data);
        }
    }

    @Test
    void scansCompositeBuffersAcrossComponents() {
        ByteBuf composite = Unpooled.wrappedBuffer(Unpooled.copiedBuffer(new byte[] {'a', 'b', 'c', 'd', 'e'}),
                Unpooled.copiedBuffer(new byte[] {'f', 'g', '\n', 'h', 'i', 'j', 'k', 'l', 'm'}));
        try {
            assertEquals(7, LineBreakScanner.indexOfLineBreak(composite, 0, composite.writerIndex()));
            assertEquals(-1, LineBreakScanner.indexOfLineBreak(composite, 8, composite.writerIndex()));
        } finally {
            composite.release();
        }
    }

    /** Every range that starts in the first two words, on a heap buffer and a direct one. */
    private static void assertScansLikeByteLoop(byte[] data) {
        // At an offset inside a larger direct buffer, so that word reads are unaligned too. (Wrapped,
        // not allocated: paranoid leak detection would record a stack trace at every read.)
        ByteBuffer nio = ByteBuffer.allocateDirect(data.length + 3).put(new byte[] {'p', 'a', 'd'}).put(data).flip();
        ByteBuf direct = Unpooled.wrappedBuffer(nio);
        ByteBuf heap = Unpooled.wrappedBuffer(data);
        try {
            for (int from = 0; from <= Math.min(data.length, 16); from++) {
                for (int to = from; to <= data.length; to++) {
                    int expected = byteLoop(data, from, to);
                    int f = from;
                    int t = to;
                    assertEquals(expected, LineBreakScanner.indexOfLineBreak(heap, from, to), () -> describe(data, f, t));
                    int shifted = LineBreakScanner.indexOfLineBreak(direct, from + 3, to + 3);
                    assertEquals(expected < 0 ? -1 : expected + 3, shifted, () -> describe(data, f, t));
                }
            }
        } finally {
            direct.release();
            heap.release();
        }
    }

    private static int byteLoop(byte[] data, int from, int to) {
        for (int i = from; i < to; i++) {
            if (data[i] == '\r' || data[i] == '\n') {
                return i;
            }
        }
        return -1;
    }

    private static String describe(byte[] data, int from, int to) {
        return "from " + from + " to " + to + " in " + HexFormat.of().formatHex(data);
    }
}
