package org.smtptlsproxy.bench.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.smtptlsproxy.config.BareNewlines;
import org.smtptlsproxy.config.DataSize;
import org.smtptlsproxy.inbound.SmtpServerDecoder;
import org.smtptlsproxy.smtp.CommandLine;

/**
 * The inbound command decoder ({@link SmtpServerDecoder}) on one read that carries a whole
 * pipelined transaction: {@value #LINES} command lines per operation, so lines/s = ops/s ×
 * {@value #LINES}.
 *
 * <p>Each operation copies the transaction into a fresh pooled direct buffer (what a socket read
 * hands the pipeline), writes it through an {@link EmbeddedChannel} holding only the decoder and
 * takes the {@link CommandLine}s out. The decoder pauses after DATA as in a real session;
 * {@code resumeCommands()} (the path after a refused DATA) makes it ready for the next operation.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CommandDecoderBench {

    /** EHLO, then MAIL/RCPT/RCPT/DATA as a PIPELINING client sends them, all in one segment. */
    static final String TRANSACTION = "EHLO client-17.branch.example.com\r\n"
            + "MAIL FROM:<scanner-3f@branch.example.com> SIZE=48211 BODY=8BITMIME\r\n"
            + "RCPT TO:<invoices@example.net>\r\n"
            + "RCPT TO:<archive@example.net>\r\n"
            + "DATA\r\n";
    static final int LINES = 5;

    private static final byte[] BYTES = TRANSACTION.getBytes(StandardCharsets.US_ASCII);

    private SmtpServerDecoder decoder;
    private EmbeddedChannel channel;

    @Setup
    public void setUp() {
        decoder = new SmtpServerDecoder(BareNewlines.REJECT, DataSize.parse("35MB").bytes(), java.time.Duration.ofMinutes(5));
        channel = new EmbeddedChannel(decoder);
    }

    @TearDown
    public void tearDown() {
        channel.finishAndReleaseAll();
    }

    /** @return the number of command lines decoded (always {@value #LINES}) */
    @Benchmark
    public int pipelinedTransaction() {
        ByteBuf read = PooledByteBufAllocator.DEFAULT.directBuffer(BYTES.length);
        read.writeBytes(BYTES);
        channel.writeInbound(read); // the decoder owns (and releases) the buffer from here
        int commands = 0;
        Object msg;
        while ((msg = channel.readInbound()) != null) {
            if (msg instanceof CommandLine) {
                commands++;
            } else {
                ReferenceCountUtil.release(msg);
                throw new IllegalStateException("unexpected " + msg);
            }
        }
        decoder.resumeCommands();
        return commands;
    }
}
