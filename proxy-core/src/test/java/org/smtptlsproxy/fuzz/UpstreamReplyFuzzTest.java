package org.smtptlsproxy.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.smtptlsproxy.outbound.SmtpReplyDecoder;
import org.smtptlsproxy.smtp.EhloCapabilities;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * Whatever an upstream sends, in whatever pieces, the reply decoder yields exactly the replies a
 * plain reading of RFC 5321's grammar finds, then at most one "malformed" marker, and nothing
 * after it. In particular no malformed line ever becomes part of a reply, so no malformed reply
 * can reach a client as a 2xx.
 */
class UpstreamReplyFuzzTest {

    private static final int MAX_LINE = 4096;
    private static final Pattern REPLY_LINE = Pattern.compile("([2-5][0-5][0-9])([ -].*)?", Pattern.DOTALL);

    @FuzzTest(maxDuration = "30s")
    void onlyWellFormedRepliesComeOut(FuzzedDataProvider data) {
        int split = data.consumeInt(1, 64);
        byte[] input = data.consumeRemainingAsBytes();
        EmbeddedChannel channel = new EmbeddedChannel(new SmtpReplyDecoder(MAX_LINE));
        for (int i = 0; i < input.length; i += split) {
            // Copies, not views: the decoder may move bytes inside what it was given.
            channel.writeInbound(Unpooled.copiedBuffer(input, i, Math.min(split, input.length - i)));
        }
        List<String> decoded = new ArrayList<>();
        Object msg;
        while ((msg = channel.readInbound()) != null) {
            if (msg instanceof SmtpReply reply) {
                decoded.add(reply.code() + "x" + reply.lines().size());
                EhloCapabilities.parse(reply.lines()).authMechanisms();
                reply.oneLine();
            } else {
                decoded.add("malformed");
            }
        }
        channel.finishAndReleaseAll();
        assertEquals(reference(input), decoded);
    }

    /** The replies in {@code input} by the grammar alone: code and line count, then "malformed". */
    private static List<String> reference(byte[] input) {
        List<String> replies = new ArrayList<>();
        String text = new String(input, StandardCharsets.ISO_8859_1);
        int code = -1;
        int lines = 0;
        int start = 0;
        while (true) {
            int lf = text.indexOf('\n', start);
            int available = (lf < 0 ? text.length() : lf + 1) - start;
            if (lf < 0 || lf - start >= MAX_LINE) {
                if (lf >= 0 || available >= MAX_LINE) {
                    replies.add("malformed");
                }
                return replies;
            }
            String line = text.substring(start, lf > start && text.charAt(lf - 1) == '\r' ? lf - 1 : lf);
            start = lf + 1;
            var m = REPLY_LINE.matcher(line);
            if (!m.matches() || (code >= 0 && Integer.parseInt(m.group(1)) != code) || lines == 256) {
                replies.add("malformed");
                return replies;
            }
            code = Integer.parseInt(m.group(1));
            lines++;
            if (m.group(2) == null || m.group(2).charAt(0) == ' ') {
                replies.add(code + "x" + lines);
                code = -1;
                lines = 0;
            }
        }
    }
}
