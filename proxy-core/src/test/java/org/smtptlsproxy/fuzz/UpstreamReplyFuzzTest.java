package org.smtptlsproxy.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.smtp.SmtpResponse;
import io.netty.handler.codec.smtp.SmtpResponseDecoder;
import java.util.ArrayList;
import java.util.List;
import org.smtptlsproxy.smtp.EhloCapabilities;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;

/**
 * Whatever an upstream sends, reply parsing either yields replies the relay can use or fails with
 * a decoder error (which closes the upstream session as a protocol error) — never anything else;
 * the Exchange reason classifier takes any reply.
 */
class UpstreamReplyFuzzTest {

    @FuzzTest(maxDuration = "30s")
    void repliesParseOrFailCleanly(FuzzedDataProvider data) {
        byte[] input = data.consumeRemainingAsBytes();
        EmbeddedChannel channel = new EmbeddedChannel(new SmtpResponseDecoder(4096));
        List<Object> decoded = new ArrayList<>();
        try {
            channel.writeInbound(Unpooled.wrappedBuffer(input));
            Object msg;
            while ((msg = channel.readInbound()) != null) {
                decoded.add(msg);
            }
            channel.finishAndReleaseAll();
        } catch (DecoderException expected) {
            channel.releaseInbound();
            return; // the upstream session closes as a protocol error
        }
        for (Object o : decoded) {
            SmtpResponse response = (SmtpResponse) o;
            EhloCapabilities capabilities = EhloCapabilities.parse(response.details());
            capabilities.sizeLimit();
            capabilities.authMechanisms();
            if (response.code() >= 200 && response.code() <= 599) {
                List<String> lines = new ArrayList<>();
                response.details().forEach(line -> lines.add(line.toString()));
                SmtpReply reply = new SmtpReply(response.code(), lines);
                reply.oneLine();
                // The metric label is one of the bounded set, whatever the text.
                if (!UpstreamReplyReason.labels().contains(UpstreamReplyReason.quotedIn(reply).label())) {
                    throw new AssertionError("unbounded reason for " + reply);
                }
            }
        }
    }
}
