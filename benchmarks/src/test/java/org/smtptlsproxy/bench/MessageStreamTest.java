package org.smtptlsproxy.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class MessageStreamTest {

    private static byte[] all(long size, long seed, int chunk) {
        MessageStream stream = new MessageStream(size, seed);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[chunk];
        for (int n, rounds = 0; (n = stream.fill(buffer)) > 0 && rounds < 1_000_000; rounds++) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    @Test
    void exactSizeStrictCrlfLinesStuffedDotsAndReproducible() {
        for (long size : new long[] {1024, 1025, 4097, 300_001, 2_000_000}) {
            byte[] data = all(size, 7, 777);
            assertEquals(size, data.length);
            assertEquals('\r', data[data.length - 2]);
            assertEquals('\n', data[data.length - 1]);
            for (int i = 0; i < data.length; i++) {
                if (data[i] == '\r') {
                    assertEquals('\n', data[i + 1], "bare CR at " + i);
                } else if (data[i] == '\n') {
                    assertEquals('\r', data[i - 1], "bare LF at " + i);
                }
            }
            String text = new String(data, StandardCharsets.US_ASCII);
            for (String line : text.split("\r\n")) {
                assertTrue(line.length() < 998, "line too long");
                assertTrue(!line.startsWith(".") || line.startsWith(".."), "unstuffed dot line: " + line);
            }
            if (size >= 300_000) {
                assertTrue(text.contains("\r\n..\r\n") && text.contains("\r\n\r\n"), "lone-dot and empty lines");
            }
            assertArrayEquals(data, all(size, 7, 65536), "same bytes whatever the chunk size");
        }
    }
}
