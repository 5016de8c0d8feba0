package org.smtptlsproxy.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** CI's short run of the spool commit benchmark: every variant commits, judged on correctness only. */
class SpoolCommitBenchSmokeTest {

    @TempDir
    Path dir;

    @Test
    @Timeout(60)
    void everyVariantCommits() throws Exception {
        List<SpoolCommitBench.Result> results = SpoolCommitBench.run(dir, 1024, Duration.ofMillis(500), List.of(1, 4),
                System.out);
        assertEquals(4, results.size());
        for (SpoolCommitBench.Result result : results) {
            assertTrue(result.commits() > 0, result.toString());
        }
    }
}
