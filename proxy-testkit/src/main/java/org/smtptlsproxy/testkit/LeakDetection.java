package org.smtptlsproxy.testkit;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Makes a report of Netty's leak detector fail the tests instead of scrolling past in the log.
 * Loaded for every test class by JUnit's extension auto-detection (this jar's
 * {@code META-INF/services}, enabled by {@code junit-platform.properties} in the modules that run
 * with {@code -Dio.netty.leakDetection.level=paranoid}).
 *
 * <p>A leak is found when the garbage collector has collected a buffer nobody released and a later
 * allocation looks at the detector's queue: so after each test class the collector runs and a few
 * buffers are allocated, and every report since the last class fails the class just run. The
 * report (with the leaked buffer's access records) names where it was touched; the class it fails
 * is where it was found, which may be a later one than where it leaked.
 */
public final class LeakDetection implements AfterAllCallback {

    private static final List<String> REPORTS = new ArrayList<>();

    static {
        // Before any ByteBuf class exists: detectors are made once, when their class initializes.
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingFactory());
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        List<String> found = collect();
        if (!found.isEmpty()) {
            throw new AssertionError("Netty reported " + found.size() + " leak(s), found after "
                    + context.getDisplayName() + ":\n" + String.join("\n\n", found));
        }
    }

    /** Runs the collector, lets the detectors look, and returns (and forgets) what they reported. */
    public static List<String> collect() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(20);
            // Each allocation under a detector drains the queue of collected, unreleased buffers.
            for (int j = 0; j < 8; j++) {
                release(UnpooledByteBufAllocator.DEFAULT.directBuffer(16));
                release(PooledByteBufAllocator.DEFAULT.directBuffer(16));
                release(PooledByteBufAllocator.DEFAULT.heapBuffer(16));
            }
        }
        synchronized (REPORTS) {
            List<String> found = new ArrayList<>(REPORTS);
            REPORTS.clear();
            return found;
        }
    }

    private static void release(ByteBuf buffer) {
        buffer.release();
    }

    static void record(String report) {
        synchronized (REPORTS) {
            REPORTS.add(report);
        }
    }

    /** Detectors as Netty makes them, that also keep what they report. */
    private static final class RecordingFactory extends ResourceLeakDetectorFactory {

        @Override
        @SuppressWarnings("deprecation")
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
            return new ResourceLeakDetector<>(resource, samplingInterval) {
                @Override
                protected void reportTracedLeak(String resourceType, String records) {
                    record("LEAK: " + resourceType + " was not released" + records);
                    super.reportTracedLeak(resourceType, records);
                }

                @Override
                protected void reportUntracedLeak(String resourceType) {
                    record("LEAK: " + resourceType + " was not released (no access records at this level)");
                    super.reportUntracedLeak(resourceType);
                }
            };
        }
    }
}
