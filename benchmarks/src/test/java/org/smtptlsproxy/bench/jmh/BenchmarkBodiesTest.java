package org.smtptlsproxy.bench.jmh;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Each JMH benchmark body run a few times without JMH, for every parameter combination: it must
 * do the work it claims to measure. Nothing here is timed.
 */
@Timeout(60)
class BenchmarkBodiesTest {

    @Test
    void decoderYieldsEveryPipelinedCommand() {
        CommandDecoderBench bench = new CommandDecoderBench();
        bench.setUp();
        try {
            for (int i = 0; i < 3; i++) {
                assertEquals(CommandDecoderBench.LINES, bench.pipelinedTransaction(), "round " + i);
            }
        } finally {
            bench.tearDown();
        }
        assertEquals(CommandDecoderBench.LINES, CommandDecoderBench.TRANSACTION.split("\r\n").length);
    }
}
