package org.smtptlsproxy.inbound;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.smtptlsproxy.smtp.SmtpReply;

/** Writes replies in the RFC 5321 multi-line form: {@code 250-first}, ..., {@code 250 last}. */
@Sharable
public final class SmtpReplyEncoder extends MessageToByteEncoder<SmtpReply> {

    public static final SmtpReplyEncoder INSTANCE = new SmtpReplyEncoder();

    private SmtpReplyEncoder() {
        super(SmtpReply.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, SmtpReply reply, ByteBuf out) {
        write(reply, out);
    }

    static void write(SmtpReply reply, ByteBuf out) {
        List<String> lines = reply.lines();
        for (int i = 0; i < lines.size(); i++) {
            out.writeCharSequence(Integer.toString(reply.code()), StandardCharsets.US_ASCII);
            out.writeByte(i == lines.size() - 1 ? ' ' : '-');
            out.writeCharSequence(lines.get(i), StandardCharsets.UTF_8);
            out.writeByte('\r').writeByte('\n');
        }
    }
}
