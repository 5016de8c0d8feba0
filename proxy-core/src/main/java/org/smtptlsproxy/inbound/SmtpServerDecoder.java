package org.smtptlsproxy.inbound;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import org.smtptlsproxy.config.BareNewlines;
import org.smtptlsproxy.smtp.CommandLine;

/**
 * The only decoder of the inbound byte stream. It owns the switches between command lines,
 * message data and TLS, because bytes a client sends ahead of a phase change must be interpreted
 * by the phase that follows it, or not at all.
 *
 * <p>After a command that changes phase (DATA, STARTTLS, AUTH, QUIT, BDAT) the decoder pauses:
 * it neither decodes nor requests reads until the session decides what comes next
 * ({@link #resumeCommands}, {@link #startData}, {@link #startTls}). Nothing after a STARTTLS line
 * is ever decoded as plaintext (CVE-2011-0411): {@link #startTls} drops it.
 */
public final class SmtpServerDecoder extends ByteToMessageDecoder {

    /** RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF. */
    static final int MAX_COMMAND_LINE = 512;
    /** AUTH lines carry base64 credentials (RFC 4954 leaves the size to the server). */
    static final int MAX_AUTH_LINE = 12_288;

    private enum Phase { COMMAND, PAUSED, DATA, SASL }

    /** A client's answer to a 334 challenge (AUTH), without its CRLF. Never logged. */
    public record SaslResponse(String line) {
        @Override
        public String toString() {
            return "SaslResponse[***]";
        }
    }

    private final BareNewlines bareNewlines;
    private final long maxMessageSize;

    private ChannelHandlerContext ctx;
    private Phase phase = Phase.COMMAND;
    private DataFramer framer;
    private boolean discardingLongLine;
    private boolean inChannelRead;
    private final long lineTimeoutNanos;
    /** When the command line being received started; 0 between lines. */
    private long lineStartedNanos;
    private boolean decodeAgain;

    public SmtpServerDecoder(BareNewlines bareNewlines, long maxMessageSize, java.time.Duration lineTimeout) {
        this.bareNewlines = bareNewlines;
        this.maxMessageSize = maxMessageSize;
        this.lineTimeoutNanos = lineTimeout.toNanos();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        this.ctx = ctx;
        super.handlerAdded(ctx);
    }

    /** Continue with command lines (after a DATA, AUTH or STARTTLS that was refused). */
    public void resumeCommands() {
        phase = Phase.COMMAND;
        lineStartedNanos = 0;
        decodeBuffered();
    }

    /** The next line answers a 334 challenge; the decoder pauses again after it. */
    public void expectSaslResponse() {
        phase = Phase.SASL;
        decodeBuffered();
    }

    /** Message data follows: the 354 has been sent. */
    public void startData() {
        framer = new DataFramer(bareNewlines, maxMessageSize);
        phase = Phase.DATA;
        decodeBuffered();
    }

    /** Stop emitting content for the current message; the data is still read up to its end. */
    public void discardData() {
        if (phase == Phase.DATA) {
            framer.discardRest();
        }
    }

    /** Octets of the current or last message data. */
    public long dataSize() {
        return framer == null ? 0 : framer.size();
    }

    /**
     * The 220 to STARTTLS is on its way and TLS is set up in front of this decoder: whatever the
     * client sent after the STARTTLS line arrived in plaintext and is dropped, never executed.
     */
    public void startTls() {
        ByteBuf pending = internalBuffer();
        pending.skipBytes(pending.readableBytes());
        phase = Phase.COMMAND;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        inChannelRead = true;
        try {
            super.channelRead(ctx, msg);
        } finally {
            inChannelRead = false;
        }
        if (decodeAgain) {
            decodeAgain = false;
            decodeBuffered();
        }
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        switch (phase) {
            case COMMAND -> decodeCommand(in, out);
            case DATA -> {
                if (framer.frame(ctx.alloc(), in, out)) {
                    phase = Phase.COMMAND;
                }
            }
            case SASL -> decodeSaslResponse(in, out);
            case PAUSED -> { }
            default -> throw new IllegalStateException(phase.name());
        }
    }

    private void decodeCommand(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int window = Math.min(in.readableBytes(), MAX_AUTH_LINE);
        int lf = in.indexOf(start, start + window, (byte) '\n');
        if (discardingLongLine) {
            // Answered when the limit was passed; the rest of the line goes unread.
            if (lf < 0) {
                in.skipBytes(in.readableBytes());
            } else {
                in.readerIndex(lf + 1);
                discardingLongLine = false;
                lineStartedNanos = 0;
            }
            return;
        }
        int limit = startsWithAuth(in) ? MAX_AUTH_LINE : MAX_COMMAND_LINE;
        if (lf < 0 || lf + 1 - start > limit) {
            if (in.readableBytes() >= limit) {
                // Said at once, not at the line's end: a client that never sends one must hear it.
                discardLongLine(in, lf);
                out.add(DecoderSignal.LINE_TOO_LONG);
            } else if (lineTookTooLong()) {
                out.add(DecoderSignal.LINE_TIMEOUT);
                phase = Phase.PAUSED;
            }
            return;
        }
        lineStartedNanos = 0;
        int contentEnd = lf > start && in.getByte(lf - 1) == '\r' ? lf - 1 : lf;
        int length = contentEnd - start;
        if (hasControlCharacters(in, start, length)) {
            in.readerIndex(lf + 1);
            out.add(DecoderSignal.INVALID_CHARACTERS);
            return;
        }
        // SMTPUTF8 addresses arrive as UTF-8; anything else that is not ASCII is kept octet for
        // octet so that it can be named in a refusal, never relayed.
        boolean utf8 = ByteBufUtil.isText(in, start, length, StandardCharsets.UTF_8);
        CommandLine command = CommandLine.parse(
                in.toString(start, length, utf8 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1), utf8);
        in.readerIndex(lf + 1);
        out.add(command);
        if (changesPhase(command.verb())) {
            phase = Phase.PAUSED;
        }
    }

    /** Skips what there is of an over-long line; the rest is skipped as it comes. */
    private void discardLongLine(ByteBuf in, int lf) {
        if (lf < 0) {
            in.skipBytes(in.readableBytes());
            discardingLongLine = true;
        } else {
            in.readerIndex(lf + 1);
            lineStartedNanos = 0;
        }
    }

    /**
     * A command line must be complete within the idle timeout of its first byte. The idle timeout
     * alone does not see a client that sends a byte a second: each byte restarts it.
     */
    private boolean lineTookTooLong() {
        long now = System.nanoTime();
        if (lineStartedNanos == 0) {
            lineStartedNanos = now;
            return false;
        }
        return now - lineStartedNanos > lineTimeoutNanos;
    }

    private void decodeSaslResponse(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int lf = in.indexOf(start, start + Math.min(in.readableBytes(), MAX_AUTH_LINE), (byte) '\n');
        if (lf < 0) {
            if (in.readableBytes() >= MAX_AUTH_LINE) {
                // Answered now; the command path discards the rest of the line.
                in.skipBytes(in.readableBytes());
                discardingLongLine = true;
                phase = Phase.COMMAND;
                out.add(DecoderSignal.LINE_TOO_LONG);
            }
            return;
        }
        int contentEnd = lf > start && in.getByte(lf - 1) == '\r' ? lf - 1 : lf;
        String line = in.toString(start, contentEnd - start, StandardCharsets.US_ASCII);
        in.readerIndex(lf + 1);
        phase = Phase.PAUSED;
        out.add(new SaslResponse(line));
    }

    /** Commands after which the decoder pauses until the session says what follows. */
    static boolean changesPhase(String verb) {
        return switch (verb) {
            case "DATA", "STARTTLS", "AUTH", "QUIT", "BDAT" -> true;
            default -> false;
        };
    }

    private static boolean startsWithAuth(ByteBuf in) {
        if (in.readableBytes() < 5) {
            return false;
        }
        String head = in.toString(in.readerIndex(), 5, StandardCharsets.US_ASCII);
        return head.toUpperCase(Locale.ROOT).equals("AUTH ");
    }

    /**
     * NUL, a bare CR and the other C0 controls (but TAB) have no place in a command; passed on,
     * a CR could end the line early for the upstream.
     */
    private static boolean hasControlCharacters(ByteBuf in, int start, int length) {
        for (int i = start; i < start + length; i++) {
            byte c = in.getByte(i);
            if ((c >= 0 && c < ' ' && c != '\t') || c == 0x7f) {
                return true;
            }
        }
        return false;
    }

    /**
     * Decodes bytes that arrived while paused. The session calls in on the event loop, sometimes
     * from inside our own channelRead (while its output is being fired): then the decoding is
     * deferred until that call returns, as a decoder must not re-enter itself.
     */
    private void decodeBuffered() {
        if (inChannelRead) {
            decodeAgain = true;
            return;
        }
        if (ctx == null || actualReadableBytes() == 0) {
            return;
        }
        try {
            channelRead(ctx, Unpooled.EMPTY_BUFFER);
        } catch (Exception e) {
            ctx.fireExceptionCaught(e);
        }
    }

    /**
     * Never reads on its own (ByteToMessageDecoder would, after a cycle without output): the
     * session asks for each message, and while paused nothing may be read, so a client that runs
     * ahead of a DATA or STARTTLS reply cannot make us buffer without bound.
     */
    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        discardSomeReadBytes();
        ctx.fireChannelReadComplete();
    }
}
