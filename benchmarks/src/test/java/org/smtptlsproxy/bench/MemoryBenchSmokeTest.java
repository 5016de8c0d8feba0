package org.smtptlsproxy.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * CI's small runs of the two memory benchmarks, judged on correctness only, never on figures: every
 * idle session is established and counted by the proxy; a 64 MiB message passes a proxy with a
 * 64 MiB heap intact. The proxy runs as a child process launched from this JVM's class path, so
 * the test needs no packaged jar (within {@code verify} the jar exists, but a plain
 * {@code test} run would find none, or a stale one).
 */
class MemoryBenchSmokeTest {

    private static boolean hasJcmd() {
        return Files.isExecutable(Path.of(System.getProperty("java.home"), "bin", "jcmd"));
    }

    @Test
    @Timeout(60)
    void idlePlaintextAndStartTlsSessionsAreAllEstablishedAndCounted() throws Exception {
        List<IdleConnectionsMemory.Variant> variants = IdleConnectionsMemory.run(new IdleConnectionsMemory.Options(
                200, 50, ProxyProcess.Launcher.currentClassPath(), "256m", 2, 100, Duration.ofSeconds(30), true),
                System.out);
        assertEquals(2, variants.size());
        for (IdleConnectionsMemory.Variant v : variants) {
            assertEquals(v.sessions().requested(), v.sessions().established(), v.name() + ": " + v.sessions());
            assertEquals(v.sessions().requested(), v.activeSeen(), v.name() + ": sessions the proxy counted");
            assertEquals(0, v.dropped(), v.name() + ": sessions the proxy closed");
            if (hasJcmd()) {
                assertTrue(v.baseline().heapUsed() > 0 && v.loaded().heapUsed() > 0, v.name() + ": heap not measured");
                assertTrue(v.loaded().liveObjects() > 0, v.name() + ": histogram not read");
            }
            assertTrue(v.loaded().rss() > 0, v.name() + ": RSS not read");
        }
    }

    @Test
    @Timeout(60)
    void sixtyFourMebibyteMessageThroughSixtyFourMebibyteHeapArrivesIntact() throws Exception {
        LargeMessageRelay.Result result = LargeMessageRelay.run(new LargeMessageRelay.Options(64L << 20,
                ProxyProcess.Launcher.currentClassPath(), "64m", "64m", Duration.ofSeconds(45), false), System.out);
        assertTrue(result.reply().startsWith("250"), result.reply());
        assertEquals(result.sentSha256(), result.sinkSha256());
        assertEquals(64L << 20, result.sinkSize());
        assertTrue(result.proxyAlive());
        assertEquals(200, result.health());
    }
}
