package org.smtptlsproxy.inbound;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.smtp.LastSmtpContent;
import io.netty.handler.codec.smtp.SmtpContent;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.smtptlsproxy.config.BareNewlines;
import org.smtptlsproxy.smtp.CommandLine;

/**
 * The inbound decoder, fed the same bytes split at every possible position: what comes out must
 * not depend on how TCP cut the stream.
 */
class SmtpServerDecoderTest {

    /** What the session would see: commands, signals, and each message's content as one string. */
    private record Decoded(List<String> events) {
    }

    private static Decoded decode(BareNewlines mode, long maxSize, String input, int... splits) {
        SmtpServerDecoder decoder = new SmtpServerDecoder(mode, maxSize, java.time.Duration.ofMinutes(5));
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        byte[] bytes = input.getBytes(StandardCharsets.ISO_8859_1);
        List<String> events = new ArrayList<>();
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        int from = 0;
        int[] cuts = java.util.Arrays.copyOf(splits, splits.length + 1);
        cuts[splits.length] = bytes.length;
        for (int cut : cuts) {
            channel.writeInbound(Unpooled.wrappedBuffer(bytes, from, cut - from));
            from = cut;
            drain(channel, decoder, events, content);
        }
        channel.finishAndReleaseAll();
        return new Decoded(events);
    }

    private static void drain(EmbeddedChannel channel, SmtpServerDecoder decoder, List<String> events,
                              ByteArrayOutputStream content) {
        Object msg;
        while ((msg = channel.readInbound()) != null) {
            if (msg instanceof CommandLine command) {
                events.add("CMD " + command);
                if (command.verb().equals("DATA")) {
                    decoder.startData(); // as after a 354
                } else if (command.verb().equals("STARTTLS")) {
                    decoder.startTls();
                }
            } else if (msg instanceof DecoderSignal signal) {
                events.add("SIGNAL " + signal);
                // The session abandons the upstream here; what streamed before is never delivered.
                content.reset();
            } else if (msg instanceof SmtpContent chunk) {
                ByteBuf buf = chunk.content();
                byte[] b = new byte[buf.readableBytes()];
                buf.readBytes(b);
                content.writeBytes(b);
                chunk.release();
                if (msg instanceof LastSmtpContent) {
                    events.add("DATA[" + content.toString(StandardCharsets.ISO_8859_1) + "]");
                    content.reset();
                }
            }
        }
    }

    /** Every single split position, plus no split: all must decode identically. */
    private static void assertSameAtEverySplit(BareNewlines mode, String input, List<String> expected) {
        assertEquals(expected, decode(mode, 1 << 20, input).events(), "unsplit");
        for (int i = 1; i < input.length(); i++) {
            assertEquals(expected, decode(mode, 1 << 20, input, i).events(), "split at " + i);
        }
        for (int i = 1; i < input.length() - 1; i++) {
            assertEquals(expected, decode(mode, 1 << 20, input, i, i + 1).events(), "split at " + i + "," + (i + 1));
        }
    }

    @Test
    void passesContentThroughStillDotStuffed() {
        assertSameAtEverySplit(BareNewlines.REJECT,
                "DATA\r\nSubject: x\r\n\r\n..leading dot\r\nbody\r\n.\r\nQUIT\r\n",
                List.of("CMD DATA", "DATA[Subject: x\r\n\r\n..leading dot\r\nbody\r\n]", "CMD QUIT"));
    }

    @Test
    void emptyMessageEndsAtOnce() {
        assertSameAtEverySplit(BareNewlines.REJECT, "DATA\r\n.\r\nNOOP\r\n",
                List.of("CMD DATA", "DATA[]", "CMD NOOP"));
    }

    @Test
    void smugglingWithBareLfDotLfIsNotAnEndOfData() {
        // The classic SMTP smuggling payload: a second transaction hidden behind \n.\n
        assertSameAtEverySplit(BareNewlines.REJECT,
                "DATA\r\nhello\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\n.\r\nNOOP\r\n",
                List.of("CMD DATA", "SIGNAL BARE_NEWLINE", "DATA[]", "CMD NOOP"));
    }

    @Test
    void smugglingWithBareCrIsRejected() {
        assertSameAtEverySplit(BareNewlines.REJECT,
                "DATA\r\nhello\r.\rMAIL FROM:<evil@x>\r\n.\r\nNOOP\r\n",
                List.of("CMD DATA", "SIGNAL BARE_NEWLINE", "DATA[]", "CMD NOOP"));
    }

    @Test
    void smugglingWithCrLfDotLfIsRejected() {
        assertSameAtEverySplit(BareNewlines.REJECT,
                "DATA\r\nhello\r\n.\nMAIL FROM:<evil@x>\r\n.\r\nNOOP\r\n",
                List.of("CMD DATA", "SIGNAL BARE_NEWLINE", "DATA[]", "CMD NOOP"));
    }

    @Test
    void discardingStillNeedsAStrictTerminator() {
        // After a violation only CRLF.CRLF ends the data; "\n.\r\n" does not.
        assertSameAtEverySplit(BareNewlines.REJECT,
                "DATA\r\na\nb\n.\r\nstill data\r\n.\r\nNOOP\r\n",
                List.of("CMD DATA", "SIGNAL BARE_NEWLINE", "DATA[]", "CMD NOOP"));
    }

    @Test
    void normalizeTurnsBareNewlinesIntoCrlfAndRestuffs() {
        assertSameAtEverySplit(BareNewlines.NORMALIZE,
                "DATA\r\na\nb\rc\r\n..real\r\n.\nx\r\n.\r\nNOOP\r\n",
                List.of("CMD DATA", "DATA[a\r\nb\r\nc\r\n..real\r\n\r\nx\r\n]", "CMD NOOP"));
    }

    @Test
    void normalizeStuffsALineThatStartsWithADotAfterASplit() {
        // "x\n.\n" must never become an end-of-data: the split-off "." line is stuffed.
        assertSameAtEverySplit(BareNewlines.NORMALIZE,
                "DATA\r\nx\n.\nMAIL FROM:<e@x>\r\n.\r\n",
                List.of("CMD DATA", "DATA[x\r\n..\r\nMAIL FROM:<e@x>\r\n]"));
    }

    @Test
    void normalizeKeepsOrdinaryMessagesByteIdentical() {
        String body = "Subject: t\r\n\r\nline\r\n..dot\r\n";
        assertSameAtEverySplit(BareNewlines.NORMALIZE, "DATA\r\n" + body + ".\r\n",
                List.of("CMD DATA", "DATA[" + body + "]"));
    }

    @Test
    void oversizeMessageIsSignalledAndDiscardedToItsEnd() {
        String input = "DATA\r\n" + "x".repeat(100) + "\r\n" + "y".repeat(100) + "\r\n.\r\nNOOP\r\n";
        for (int[] splits : new int[][] {{}, {20}, {20, 130}, {150, 151}}) {
            List<String> kinds = decode(BareNewlines.REJECT, 150, input, splits).events().stream()
                    .map(e -> e.startsWith("DATA[") ? "DATA" : e).toList();
            assertEquals(List.of("CMD DATA", "SIGNAL MESSAGE_TOO_LARGE", "DATA", "CMD NOOP"), kinds);
        }
    }

    @Test
    void overlongCommandLineIsRefusedAndTheSessionGoesOn() {
        String input = "NOOP " + "a".repeat(600) + "\r\nNOOP\r\n";
        assertEquals(List.of("SIGNAL LINE_TOO_LONG", "CMD NOOP"), decode(BareNewlines.REJECT, 100, input).events());
        assertEquals(List.of("SIGNAL LINE_TOO_LONG", "CMD NOOP"), decode(BareNewlines.REJECT, 100, input, 100, 300).events());
    }

    @Test
    void authLinesMayBeLonger() {
        String input = "AUTH PLAIN " + "A".repeat(2000) + "\r\n";
        List<String> events = decode(BareNewlines.REJECT, 100, input).events();
        assertEquals(1, events.size());
        assertTrue(events.get(0).startsWith("CMD AUTH"));
    }

    @Test
    void controlCharactersInACommandAreRefused() {
        assertEquals(List.of("SIGNAL INVALID_CHARACTERS", "CMD NOOP"),
                decode(BareNewlines.REJECT, 100, "MAIL FROM:<a\0b>\r\nNOOP\r\n").events());
    }

    @Test
    void commandsPipelinedAfterStartTlsAreDropped() {
        // CVE-2011-0411: RSET and the partial line arrived in plaintext together with STARTTLS.
        String input = "EHLO x\r\nSTARTTLS\r\nRSET\r\npartial";
        int endOfStartTls = input.indexOf("RSET");
        List<String> expected = List.of("CMD EHLO x", "CMD STARTTLS");
        assertEquals(expected, decode(BareNewlines.REJECT, 100, input).events());
        // Cut anywhere before the end of the STARTTLS line. (Bytes of a later read would pass
        // through the SslHandler that is in front by then.)
        for (int i = 1; i < endOfStartTls; i++) {
            assertEquals(expected, decode(BareNewlines.REJECT, 100, input, i).events(), "split at " + i);
        }
    }

    @Test
    void pausesAfterDataUntilTheSessionDecides() {
        SmtpServerDecoder decoder = new SmtpServerDecoder(BareNewlines.REJECT, 1000, java.time.Duration.ofMinutes(5));
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        channel.writeInbound(Unpooled.copiedBuffer("DATA\r\nNOOP\r\n", StandardCharsets.US_ASCII));
        assertInstanceOf(CommandLine.class, channel.readInbound());
        assertNull(channel.readInbound(), "nothing is decoded while the DATA reply is pending");
        decoder.resumeCommands(); // e.g. 554 no valid recipients: the next line is a command
        CommandLine next = channel.readInbound();
        assertEquals("NOOP", next.verb());
        channel.finishAndReleaseAll();
    }
}
