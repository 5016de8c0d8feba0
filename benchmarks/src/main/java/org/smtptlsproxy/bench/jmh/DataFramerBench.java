package org.smtptlsproxy.bench.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.smtp.LastSmtpContent;
import io.netty.handler.codec.smtp.SmtpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.smtptlsproxy.config.BareNewlines;
import org.smtptlsproxy.config.DataSize;
import org.smtptlsproxy.inbound.SmtpServerDecoder;

/**
 * Message data through the inbound decoder in its DATA phase, which hands each read to the
 * package-private {@code DataFramer}: terminator search, size accounting, bare CR/LF check, and
 * {@code SmtpContent} slices out. This is the production hot path; the framer is not reachable
 * any other way.
 *
 * <p>One operation is one message of {@code size} octets on the wire, terminator included, so
 * MiB/s = ops/s × size / 2^20. It arrives in reads of {@code chunk} octets, prepared once as
 * direct buffers; each operation passes retained duplicates, so the socket copy is not measured
 * but Netty's cumulation is (a read that ends in "." or ".\r" at a line start leaves bytes
 * behind, and the next read is merged into a copy, as it would be in production). Content is
 * released as soon as it comes out, as the upstream write would.
 *
 * <p>{@code body}: {@code TEXT} is 76-column base64-like lines; {@code DOTS} starts every body
 * line with ".." (a client's stuffing of a line beginning with '.'). {@code mode}: {@code REJECT}
 * is the default zero-copy pass-through, {@code NORMALIZE} the copying mode that repairs bare
 * newlines.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class DataFramerBench {

    public enum Body { TEXT, DOTS }

    @Param({"1024", "65536", "1048576"})
    public int size;

    @Param({"16384"})
    public int chunk;

    @Param({"TEXT", "DOTS"})
    public Body body;

    @Param({"REJECT", "NORMALIZE"})
    public BareNewlines mode;

    private final List<ByteBuf> reads = new ArrayList<>();
    private SmtpServerDecoder decoder;
    private EmbeddedChannel channel;

    @Setup
    public void setUp() {
        byte[] wire = message(size, body == Body.DOTS);
        for (int from = 0; from < wire.length; from += chunk) {
            int length = Math.min(chunk, wire.length - from);
            reads.add(PooledByteBufAllocator.DEFAULT.directBuffer(length).writeBytes(wire, from, length));
        }
        decoder = new SmtpServerDecoder(mode, DataSize.parse("35MB").bytes(), java.time.Duration.ofMinutes(5));
        channel = new EmbeddedChannel(decoder);
    }

    @TearDown
    public void tearDown() {
        channel.finishAndReleaseAll();
        reads.forEach(ByteBuf::release);
        reads.clear();
    }

    /** @return octets of content that came out (the message minus its ".\r\n" terminator) */
    @Benchmark
    public long message() {
        decoder.startData(); // as after the 354
        long content = 0;
        boolean last = false;
        for (ByteBuf read : reads) {
            channel.writeInbound(read.retainedDuplicate());
            Object msg;
            while ((msg = channel.readInbound()) != null) {
                if (!(msg instanceof SmtpContent piece)) {
                    ReferenceCountUtil.release(msg);
                    throw new IllegalStateException("unexpected " + msg);
                }
                content += piece.content().readableBytes();
                last = msg instanceof LastSmtpContent;
                piece.release();
            }
        }
        if (!last) {
            throw new IllegalStateException("no end of data after " + content + " octets");
        }
        return content;
    }

    /** Octets the decoder counted for the last message (dot-stuffing included, terminator not). */
    long dataSize() {
        return decoder.dataSize();
    }

    List<ByteBuf> reads() {
        return reads;
    }

    /**
     * A plausible message as it travels in DATA: headers, a blank line, a body of 76-column
     * lines, and the terminator, exactly {@code size} octets in all (size must be at least 512).
     */
    static byte[] message(int size, boolean dotLines) {
        String headers = "Received: from scanner-3f.branch.example.com ([192.0.2.17]) by mx.example.net;\r\n"
                + "\tTue, 3 Nov 2026 09:14:07 +0100\r\n"
                + "From: Scanner <scanner-3f@branch.example.com>\r\n"
                + "To: invoices@example.net\r\n"
                + "Subject: Scanned document 000417\r\n"
                + "Date: Tue, 3 Nov 2026 09:14:05 +0100\r\n"
                + "Message-ID: <20261103091405.417@scanner-3f.branch.example.com>\r\n"
                + "MIME-Version: 1.0\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\n"
                + "Content-Transfer-Encoding: base64\r\n"
                + "\r\n";
        String terminator = ".\r\n";
        if (size < headers.length() + terminator.length() + 80) {
            throw new IllegalArgumentException("message size too small: " + size);
        }
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        StringBuilder out = new StringBuilder(size).append(headers);
        int bodyEnd = size - terminator.length();
        int n = 0;
        while (out.length() < bodyEnd) {
            // Each line is at most 78 octets with its CRLF; the last one is cut to fit exactly.
            int room = bodyEnd - out.length();
            int length = Math.min(78, room);
            if (room - length > 0 && room - length < 4) {
                length = room - 4; // keep the final line long enough for a prefix and its CRLF
            }
            int text = length - 2;
            StringBuilder line = new StringBuilder(text);
            if (dotLines && text >= 2) {
                line.append("..");
            }
            while (line.length() < text) {
                line.append(alphabet.charAt(n++ % alphabet.length()));
            }
            out.append(line).append("\r\n");
        }
        out.append(terminator);
        byte[] bytes = out.toString().getBytes(StandardCharsets.US_ASCII);
        if (bytes.length != size) {
            throw new IllegalStateException("built " + bytes.length + " octets, wanted " + size);
        }
        return bytes;
    }
}
