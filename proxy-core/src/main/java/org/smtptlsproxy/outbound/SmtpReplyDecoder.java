package org.smtptlsproxy.outbound;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;
import org.smtptlsproxy.smtp.ReplyParser;
import org.smtptlsproxy.smtp.ReplyParser.MalformedReplyException;

/**
 * Decodes the upstream's byte stream into {@link org.smtptlsproxy.smtp.SmtpReply}s, or one
 * {@link MalformedReply} after which nothing more is decoded: once an upstream has said something
 * that is not a reply, no later line can be matched to a command with confidence.
 *
 * <p>Netty's {@code SmtpResponseDecoder} is not used: it reads "25x" as 249 and "2x0" as 190 and
 * does not compare the codes of a multi-line reply's lines.
 */
public final class SmtpReplyDecoder extends ByteToMessageDecoder {

    /** Why the upstream's output stopped being SMTP; the session ends as a protocol error. */
    public record MalformedReply(String description) {
    }

    private final int maxLineLength;
    private final ReplyParser parser = new ReplyParser();
    private byte[] line;
    private boolean broken;

    public SmtpReplyDecoder(int maxLineLength) {
        this.maxLineLength = maxLineLength;
        this.line = new byte[256];
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        while (!broken && in.isReadable()) {
            int start = in.readerIndex();
            int window = Math.min(in.readableBytes(), maxLineLength);
            int lf = in.indexOf(start, start + window, (byte) '\n');
            if (lf < 0) {
                if (in.readableBytes() >= maxLineLength) {
                    fail(out, "a reply line longer than " + maxLineLength + " octets");
                }
                return;
            }
            int end = lf > start && in.getByte(lf - 1) == '\r' ? lf - 1 : lf;
            int length = end - start;
            if (line.length < length) {
                line = new byte[Math.max(length, line.length * 2)];
            }
            in.getBytes(start, line, 0, length);
            in.readerIndex(lf + 1);
            try {
                Object reply = parser.line(line, length);
                if (reply != null) {
                    out.add(reply);
                }
            } catch (MalformedReplyException e) {
                fail(out, e.getMessage());
            }
        }
        if (broken) {
            in.skipBytes(in.readableBytes());
        }
    }

    private void fail(List<Object> out, String description) {
        broken = true;
        out.add(new MalformedReply(description));
    }
}
