package org.smtptlsproxy.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** CI's smoke run of the load generator: small, bounded, and judged on loss only, never on speed. */
@Timeout(120)
class LoadSmokeTest {

    @Test
    void twoHundredMessagesEachWayWithoutLoss() throws Exception {
        System.setProperty("bench.warmupRounds", "1"); // a smoke, not a measurement
        List<SideBySide.Row> rows = SideBySide.run(10, 200, 1, List.of(2048), System.out);
        assertEquals(2, rows.size());
        for (SideBySide.Row row : rows) {
            assertEquals(200, row.accepted(), row.toString());
            assertEquals(0, row.failed(), row.toString());
        }
    }
}
