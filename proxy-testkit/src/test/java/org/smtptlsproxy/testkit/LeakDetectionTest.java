package org.smtptlsproxy.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The leak check itself: a buffer dropped without release is reported, a released one is not. */
class LeakDetectionTest {

    @Test
    void aDroppedBufferIsReportedAndAReleasedOneIsNot() throws Exception {
        ResourceLeakDetector.Level before = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        try {
            LeakDetection.collect(); // whatever earlier tests left
            UnpooledByteBufAllocator.DEFAULT.directBuffer(64).release();
            assertEquals(List.of(), LeakDetection.collect(), "released: nothing to report");
            leak();
            List<String> reports = LeakDetection.collect();
            assertEquals(1, reports.size(), reports.toString());
            assertTrue(reports.get(0).startsWith("LEAK: ByteBuf"), reports.get(0));
        } finally {
            ResourceLeakDetector.setLevel(before);
        }
    }

    /** In a method of its own, so that no local variable keeps the buffer reachable. */
    private static void leak() {
        ByteBuf buffer = UnpooledByteBufAllocator.DEFAULT.directBuffer(64);
        buffer.writeByte(1);
    }
}
