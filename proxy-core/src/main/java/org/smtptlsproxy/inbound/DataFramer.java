package org.smtptlsproxy.inbound;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.smtp.DefaultLastSmtpContent;
import io.netty.handler.codec.smtp.DefaultSmtpContent;
import io.netty.handler.codec.smtp.LastSmtpContent;
import java.util.List;
import org.smtptlsproxy.config.BareNewlines;

/**
 * Frames the message data of one DATA command: finds the client's {@code CRLF.CRLF}, enforces the
 * size limit and handles bare CR/LF, keeping its line state across buffers.
 *
 * <p>Output: {@code SmtpContent} slices, then one {@code LastSmtpContent} (empty after a discard). The content is still
 * dot-stuffed and ends in CRLF (or is empty); the terminator itself is never emitted, the upstream
 * encoder writes its own. Invariant against SMTP smuggling: the upstream can only ever see an
 * end-of-data where this framer found a strict {@code CRLF.CRLF}, because in {@code reject} mode a
 * bare CR or LF stops all output, and in {@code normalize} mode every line the upstream receives
 * ends in CRLF and every line starting with '.' that was not the terminator is stuffed.
 */
final class DataFramer {

    /** ".CRLF": what ends the data after the last line's own CRLF. */
    private static final int TERMINATOR_OCTETS = 3;

    private enum LineState {
        /** After a client CRLF (or at the start of data): a '.' here is stuffing or the terminator. */
        LINE_START,
        /** After a bare newline was turned into CRLF (normalize only): a '.' here is content. */
        SPLIT_START,
        IN_LINE,
        CR,
        DOT,
        DOT_CR
    }

    private final BareNewlines bareNewlines;
    private final long maxSize;

    private LineState state = LineState.LINE_START;
    private long size;
    private boolean discarding;

    DataFramer(BareNewlines bareNewlines, long maxSize) {
        this.bareNewlines = bareNewlines;
        this.maxSize = maxSize;
    }

    /** Stops emitting content; the framer still consumes data up to the terminator. */
    void discardRest() {
        discarding = true;
    }

    /** Octets of message data seen so far (the client's bytes, dot-stuffing included). */
    long size() {
        return size;
    }

    /**
     * Consumes what it can of {@code in} and adds content and signals to {@code out}.
     *
     * @return true once the terminator was consumed; the bytes after it belong to the command phase
     */
    boolean frame(ByteBufAllocator alloc, ByteBuf in, List<Object> out) {
        if (discarding) {
            return skipToTerminator(in, out);
        }
        return bareNewlines == BareNewlines.REJECT ? framePassThrough(in, out) : frameNormalized(alloc, in, out);
    }

    /** Fast path: content leaves as slices of the client's own buffers. */
    private boolean framePassThrough(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int end = in.writerIndex();
        int i = start;
        while (i < end) {
            if (state == LineState.IN_LINE) {
                int lineBreak = LineBreakScanner.indexOfLineBreak(in, i, end);
                if (lineBreak < 0) {
                    i = end;
                    break;
                }
                // Most lines end in CRLF and the next one starts with an ordinary octet: then the
                // state stays IN_LINE and the scan goes on from that octet, one read for all three.
                if (lineBreak + 3 <= end && isCrLfOrdinary(in.getMediumLE(lineBreak))) {
                    i = lineBreak + 3;
                    continue;
                }
                i = lineBreak;
            }
            byte b = in.getByte(i);
            switch (state) {
                case LINE_START -> state = b == '.' ? LineState.DOT : afterOrdinary(b);
                case IN_LINE, SPLIT_START -> state = afterOrdinary(b);
                case CR -> state = b == '\n' ? LineState.LINE_START : null;
                case DOT -> state = b == '\r' ? LineState.DOT_CR : b == '\n' ? null : LineState.IN_LINE;
                case DOT_CR -> {
                    if (b == '\n') {
                        int dot = i - 2;
                        if (!emit(in, start, dot, out)) {
                            in.readerIndex(i + 1);
                            out.add(LastSmtpContent.EMPTY_LAST_CONTENT);
                            return true;
                        }
                        out.add(new DefaultLastSmtpContent(in.retainedSlice(start, dot - start)));
                        in.readerIndex(i + 1);
                        return true;
                    }
                    state = null;
                }
                default -> throw new IllegalStateException(state.name());
            }
            if (state == null) {
                // A bare CR or LF: whatever was sent upstream is about to be abandoned anyway.
                out.add(DecoderSignal.BARE_NEWLINE);
                discarding = true;
                state = LineState.IN_LINE;
                in.readerIndex(i);
                size += i - start;
                return skipToTerminator(in, out);
            }
            i++;
        }
        // Hold back a trailing "." or ".\r": it may be the start of the terminator.
        int emitEnd = end;
        if (state == LineState.DOT) {
            emitEnd = end - 1;
            state = LineState.LINE_START;
        } else if (state == LineState.DOT_CR) {
            emitEnd = end - 2;
            state = LineState.LINE_START;
        }
        if (emit(in, start, emitEnd, out)) {
            if (emitEnd > start) {
                out.add(new DefaultSmtpContent(in.retainedSlice(start, emitEnd - start)));
            }
            in.readerIndex(emitEnd);
        } else {
            in.readerIndex(emitEnd);
            return skipToTerminator(in, out);
        }
        return false;
    }

    /** True for CR, LF and then neither '.', CR nor LF (three octets, the first in the low byte). */
    private static boolean isCrLfOrdinary(int threeOctets) {
        if ((threeOctets & 0xFFFF) != ('\n' << 8 | '\r')) {
            return false;
        }
        int next = threeOctets >>> 16 & 0xFF;
        return next != '.' && next != '\r' && next != '\n';
    }

    private static LineState afterOrdinary(byte b) {
        return b == '\r' ? LineState.CR : b == '\n' ? null : LineState.IN_LINE;
    }

    /** Counts octets about to be emitted; false (and a signal) when they break the size limit. */
    private boolean emit(ByteBuf in, int from, int to, List<Object> out) {
        size += to - from;
        if (size > maxSize) {
            out.add(DecoderSignal.MESSAGE_TOO_LARGE);
            discarding = true;
            return false;
        }
        return true;
    }

    /**
     * {@code normalize}: un-stuff each client line, split it at bare CR/LF into CRLF lines and
     * re-stuff every resulting line that starts with '.'. Output is a copy; this mode trades the
     * zero-copy path for tolerance of broken senders.
     */
    private boolean frameNormalized(ByteBufAllocator alloc, ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int end = in.writerIndex();
        ByteBuf copy = alloc.buffer(Math.max(16, (end - start) + (end - start) / 8));
        boolean terminated = false;
        int i = start;
        try {
            while (i < end) {
                byte b = in.getByte(i++);
                if (normalizeByte(b, copy)) {
                    terminated = true;
                    break;
                }
            }
            // The message is what precedes ".CRLF", as on the pass-through path: the terminator
            // is consumed but not counted (it may have begun in an earlier buffer).
            size += i - start - (terminated ? TERMINATOR_OCTETS : 0);
            in.readerIndex(i);
            if (size > maxSize) {
                copy.release();
                copy = null;
                out.add(DecoderSignal.MESSAGE_TOO_LARGE);
                discarding = true;
                if (terminated) {
                    out.add(LastSmtpContent.EMPTY_LAST_CONTENT);
                    return true;
                }
                return skipToTerminator(in, out);
            }
            if (terminated) {
                out.add(new DefaultLastSmtpContent(copy));
            } else if (copy.isReadable()) {
                out.add(new DefaultSmtpContent(copy));
            } else {
                copy.release();
            }
            copy = null;
            return terminated;
        } finally {
            if (copy != null) {
                copy.release();
            }
        }
    }

    /** One step of the normalizing state machine; true when {@code b} completed the terminator. */
    private boolean normalizeByte(byte b, ByteBuf copy) {
        switch (state) {
            case LINE_START -> {
                if (b == '.') {
                    state = LineState.DOT; // the client's stuffing dot, or the terminator
                } else {
                    startSplitLine(b, copy);
                }
            }
            case SPLIT_START -> startSplitLine(b, copy);
            case IN_LINE -> ordinary(b, copy);
            case CR -> {
                copy.writeByte('\r').writeByte('\n');
                if (b == '\n') {
                    state = LineState.LINE_START;
                } else {
                    startSplitLine(b, copy); // the CR was bare: it ended a line of its own
                }
            }
            case DOT -> {
                if (b == '\r') {
                    state = LineState.DOT_CR;
                } else {
                    startSplitLine(b, copy); // un-stuffed: the line now starts after the dot
                }
            }
            case DOT_CR -> {
                if (b == '\n') {
                    state = LineState.LINE_START;
                    return true;
                }
                copy.writeByte('\r').writeByte('\n'); // ".<bare CR>" is an empty line
                startSplitLine(b, copy);
            }
            default -> throw new IllegalStateException(state.name());
        }
        return false;
    }

    private void startSplitLine(byte b, ByteBuf copy) {
        if (b == '.') {
            copy.writeByte('.').writeByte('.');
            state = LineState.IN_LINE;
        } else if (b == '\n') {
            copy.writeByte('\r').writeByte('\n');
            state = LineState.SPLIT_START;
        } else if (b == '\r') {
            state = LineState.CR;
        } else {
            copy.writeByte(b);
            state = LineState.IN_LINE;
        }
    }

    private void ordinary(byte b, ByteBuf copy) {
        if (b == '\r') {
            state = LineState.CR;
        } else if (b == '\n') {
            copy.writeByte('\r').writeByte('\n');
            state = LineState.SPLIT_START;
        } else {
            copy.writeByte(b);
        }
    }

    /**
     * Discards data up to and including a strict {@code CRLF.CRLF}. Bare CR/LF are plain bytes
     * here: they can neither end the data nor start a line. The end is marked by an empty
     * {@code LastSmtpContent}.
     */
    private boolean skipToTerminator(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int i = start;
        int end = in.writerIndex();
        while (i < end) {
            byte b = in.getByte(i++);
            switch (state) {
                case LINE_START -> state = b == '.' ? LineState.DOT : b == '\r' ? LineState.CR : LineState.IN_LINE;
                case IN_LINE, SPLIT_START -> state = b == '\r' ? LineState.CR : LineState.IN_LINE;
                case CR -> state = b == '\n' ? LineState.LINE_START : b == '\r' ? LineState.CR : LineState.IN_LINE;
                case DOT -> state = b == '\r' ? LineState.DOT_CR : LineState.IN_LINE;
                case DOT_CR -> {
                    if (b == '\n') {
                        // Discarded data still counts: the log's size is what the client sent. The
                        // terminator does not, though part of it may have been counted before.
                        size += i - start - TERMINATOR_OCTETS;
                        in.readerIndex(i);
                        out.add(LastSmtpContent.EMPTY_LAST_CONTENT);
                        return true;
                    }
                    state = b == '\r' ? LineState.CR : LineState.IN_LINE;
                }
                default -> throw new IllegalStateException(state.name());
            }
        }
        size += end - start;
        in.readerIndex(end);
        return false;
    }
}
