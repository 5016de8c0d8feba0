package org.smtptlsproxy.smtp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Transparency both ways, whatever the chunk boundaries: the spool keeps the author's text. */
class DotStuffingTest {

    private static final String TEXT = ".starts with a dot\r\nplain\r\n..two\r\n.\r\nmiddle . dot\r\n.\r\n";
    private static final String WIRE = "..starts with a dot\r\nplain\r\n...two\r\n..\r\nmiddle . dot\r\n..\r\n";

    @Test
    void stuffingDoublesTheFirstDotOfEveryLineAndUnstuffingUndoesIt() {
        assertEquals(WIRE, stuff(TEXT, TEXT.length()));
        assertEquals(TEXT, unstuff(WIRE, WIRE.length()));
    }

    @Test
    void chunkBoundariesAnywhereGiveTheSameResult() {
        for (int chunk = 1; chunk <= WIRE.length(); chunk++) {
            assertEquals(WIRE, stuff(TEXT, chunk), "chunks of " + chunk);
            assertEquals(TEXT, unstuff(WIRE, chunk), "chunks of " + chunk);
        }
    }

    @Test
    void randomContentRoundTrips() {
        Random random = new Random(13);
        byte[] alphabet = ".\r\na".getBytes(StandardCharsets.US_ASCII);
        for (int round = 0; round < 500; round++) {
            StringBuilder text = new StringBuilder();
            int lines = random.nextInt(20);
            for (int line = 0; line < lines; line++) {
                int length = random.nextInt(6);
                for (int i = 0; i < length; i++) {
                    byte b = alphabet[random.nextInt(alphabet.length)];
                    text.append(b == '\r' || b == '\n' ? 'x' : (char) b); // lines end only in CRLF, as the framer ensures
                }
                text.append("\r\n");
            }
            String original = text.toString();
            int chunk = 1 + random.nextInt(7);
            assertEquals(original, unstuff(stuff(original, chunk), chunk), original);
        }
    }

    private static String stuff(String text, int chunk) {
        DotStuffing stuffing = DotStuffing.forMessage();
        StringBuilder out = new StringBuilder();
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < bytes.length; i += chunk) {
            ByteBuf stuffed = stuffing.stuff(Unpooled.wrappedBuffer(bytes, i, Math.min(chunk, bytes.length - i)),
                    ByteBufAllocator.DEFAULT);
            out.append(stuffed.toString(StandardCharsets.US_ASCII));
            stuffed.release();
        }
        return out.toString();
    }

    private static String unstuff(String wire, int chunk) {
        DotStuffing stuffing = DotStuffing.forMessage();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] bytes = wire.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < bytes.length; i += chunk) {
            stuffing.unstuff(Unpooled.wrappedBuffer(bytes, i, Math.min(chunk, bytes.length - i)),
                    run -> out.writeBytes(io.netty.buffer.ByteBufUtil.getBytes(run)));
        }
        return out.toString(StandardCharsets.US_ASCII);
    }
}
