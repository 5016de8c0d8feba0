package org.smtptlsproxy.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * CI's short run of the fault-injection load: the invariants are the test, the figures are
 * printed. The long run (10,000 messages, 100 senders) is scripts/fault-injection.sh.
 */
@Timeout(600)
class FaultInjectionLoadTest {

    @Test
    void noMessageIsLostOrAcknowledgedWithoutTheUpstream() throws Exception {
        int messages = Integer.getInteger("faults.messages", 1_200);
        FaultInjectionLoad.Settings settings = new FaultInjectionLoad.Settings(messages, 100, 5, 2 << 20, 20261206L,
                0.05, 0.15, Duration.ofSeconds(3), Duration.ofSeconds(2), null);
        FaultInjectionLoad.Report report = FaultInjectionLoad.run(settings, System.out);
        report.print(System.out);
        assertEquals(messages, report.messages());
        assertEquals(0, report.lost());
        assertTrue(report.violations().isEmpty(), String.join("\n", report.violations()));
        assertTrue(report.clientAccepted() > messages / 2, "most messages must get through: " + report.clientAccepted());
        assertTrue(report.transactionFaults().size() >= 8, "faults of most kinds were injected: " + report.transactionFaults());
        assertTrue(report.restarts() >= 1, "the upstream was restarted under load");
    }

    /**
     * The proxy itself stopped under 100 senders, by SIGTERM (drain) and SIGKILL in turn: every
     * 250 was delivered exactly once, every other message is still its sender's.
     */
    @Test
    void proxyStoppedUnderLoadLosesNothing() throws Exception {
        int messages = Integer.getInteger("faults.messages", 1_200);
        FaultInjectionLoad.Settings settings = new FaultInjectionLoad.Settings(messages, 100, 5, 1 << 20, 20261207L,
                0.02, 0.05, Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofSeconds(3));
        FaultInjectionLoad.Report report = FaultInjectionLoad.run(settings, System.out);
        report.print(System.out);
        assertEquals(messages, report.messages());
        assertEquals(0, report.lost());
        assertTrue(report.violations().isEmpty(), String.join("\n", report.violations()));
        assertTrue(report.proxyTerms() >= 1 && report.proxyKills() >= 1, "stopped both ways: " + report);
    }
}
