package org.smtptlsproxy.smtp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * RFC 5321 4.5.2 transparency, both ways, for content that arrives in arbitrary chunks: a line
 * that starts with "." carries one more on the wire. Each instance keeps whether the next byte
 * starts a line, so one instance serves one message. The content is CRLF lines (the inbound
 * framer refuses or rewrites bare CR and LF), so a line starts after every LF.
 */
public final class DotStuffing {

    private boolean atLineStart = true;

    private DotStuffing() {
    }

    /** For one message's content, beginning at its first byte. */
    public static DotStuffing forMessage() {
        return new DotStuffing();
    }

    /**
     * The wire form of {@code chunk} (its readable bytes; the caller keeps it): every line that
     * starts with "." gets a second one.
     */
    public ByteBuf stuff(ByteBuf chunk, ByteBufAllocator allocator) {
        int end = chunk.writerIndex();
        ByteBuf out = allocator.buffer(chunk.readableBytes() + 16);
        int runStart = chunk.readerIndex();
        for (int line = runStart; line < end; line = nextLine(chunk, line, end)) {
            if (atLineStart && chunk.getByte(line) == '.') {
                out.writeBytes(chunk, runStart, line - runStart);
                out.writeByte('.');
                runStart = line; // the original dot follows in the next run
            }
        }
        out.writeBytes(chunk, runStart, end - runStart);
        return out;
    }

    /**
     * Hands the unstuffed form of {@code chunk} (its readable bytes; the caller keeps it) to
     * {@code sink} in runs: the first "." of every line is left out.
     */
    public <E extends Exception> void unstuff(ByteBuf chunk, Sink<E> sink) throws E {
        int end = chunk.writerIndex();
        int runStart = chunk.readerIndex();
        for (int line = runStart; line < end; line = nextLine(chunk, line, end)) {
            if (atLineStart && chunk.getByte(line) == '.') {
                if (line > runStart) {
                    sink.accept(chunk.slice(runStart, line - runStart));
                }
                runStart = line + 1;
            }
        }
        if (end > runStart) {
            sink.accept(chunk.slice(runStart, end - runStart));
        }
    }

    /**
     * Where the line after {@code from} starts (or {@code end}), noting whether that is a line start
     * for the next chunk: a chunk may end in the middle of a line.
     */
    private int nextLine(ByteBuf chunk, int from, int end) {
        int lf = chunk.indexOf(from, end, (byte) '\n');
        atLineStart = lf >= 0;
        return lf < 0 ? end : lf + 1;
    }

    /** Where unstuffed runs go (a slice of the caller's buffer, valid only during the call). */
    @FunctionalInterface
    public interface Sink<E extends Exception> {
        void accept(ByteBuf run) throws E;
    }
}
