package org.smtptlsproxy.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.smtp.LastSmtpContent;
import io.netty.handler.codec.smtp.SmtpContent;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.smtptlsproxy.config.BareNewlines;
import org.smtptlsproxy.inbound.DecoderSignal;
import org.smtptlsproxy.inbound.SmtpServerDecoder;
import org.smtptlsproxy.smtp.CommandLine;
import org.smtptlsproxy.smtp.MailPath;

/**
 * Coverage-guided fuzzing of the inbound byte stream: the command parser and the DATA framer.
 * Without JAZZER_FUZZ=1 it replays the seed corpus and past findings as a regression test (CI);
 * {@code JAZZER_FUZZ=1 ./mvnw -pl proxy-core test -Dtest=InboundDecoderFuzzTest} fuzzes for real.
 */
class InboundDecoderFuzzTest {

    private static final byte[] END_OF_DATA = "\r\n.\r\n".getBytes(StandardCharsets.US_ASCII);
    /** Recorded when the decoder is switched to TLS, whatever followed the verb on its line. */
    private static final String TLS_BEGUN = "TLS BEGUN";

    /** What the upstream would receive for each message, and the commands seen. */
    private record Outcome(List<String> events) {
    }

    @FuzzTest(maxDuration = "30s")
    void decodingDoesNotDependOnSegmentationAndNeverSmuggles(FuzzedDataProvider data) {
        BareNewlines mode = data.consumeBoolean() ? BareNewlines.REJECT : BareNewlines.NORMALIZE;
        int split = data.consumeInt(0, 4096);
        byte[] input = data.consumeRemainingAsBytes();
        Outcome whole = decode(mode, input, input.length);
        Outcome pieces = decode(mode, input, Math.min(split, input.length));
        assertEquals(whole, pieces, "segmentation must not change what is decoded");
    }

    private static Outcome decode(BareNewlines mode, byte[] input, int split) {
        SmtpServerDecoder decoder = new SmtpServerDecoder(mode, 1 << 16, java.time.Duration.ofMinutes(5));
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        List<String> events = new ArrayList<>();
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        try {
            // Copies: the decoder owns what it reads and may move bytes inside it (discardSomeReadBytes),
            // which would change the input of the next decode of the same array.
            channel.writeInbound(Unpooled.copiedBuffer(input, 0, split));
            drain(channel, decoder, mode, events, message);
            // After STARTTLS every later read would come through TLS: no more plaintext to decode.
            if (split < input.length && !events.contains(TLS_BEGUN)) {
                channel.writeInbound(Unpooled.copiedBuffer(input, split, input.length - split));
                drain(channel, decoder, mode, events, message);
            }
        } finally {
            channel.finishAndReleaseAll();
        }
        return new Outcome(events);
    }

    private static void drain(EmbeddedChannel channel, SmtpServerDecoder decoder, BareNewlines mode, List<String> events,
                              ByteArrayOutputStream message) {
        Object msg;
        while ((msg = channel.readInbound()) != null) {
            if (events.contains(TLS_BEGUN)) {
                io.netty.util.ReferenceCountUtil.release(msg);
                events.add("AFTER STARTTLS " + msg); // must never happen: the decoder drops the rest
                continue;
            }
            if (msg instanceof CommandLine command) {
                events.add("CMD " + command);
                MailPath.parse(command.argument(), "FROM:"); // must never throw
                MailPath.parse(command.argument(), "TO:");
                switch (command.verb()) {
                    case "DATA" -> decoder.startData();
                    case "STARTTLS" -> {
                        decoder.startTls();
                        events.add(TLS_BEGUN);
                    }
                    case "AUTH", "QUIT", "BDAT" -> decoder.resumeCommands();
                    default -> { }
                }
            } else if (msg instanceof DecoderSignal signal) {
                events.add("SIGNAL " + signal);
                message.reset(); // the session abandons the upstream here
            } else if (msg instanceof SmtpContent content) {
                ByteBuf buf = content.content();
                byte[] bytes = new byte[buf.readableBytes()];
                buf.readBytes(bytes);
                message.writeBytes(bytes);
                content.release();
                if (msg instanceof LastSmtpContent) {
                    byte[] relayed = message.toByteArray();
                    assertNoSmuggling(relayed, mode);
                    events.add("DATA " + relayed.length + " " + java.util.Arrays.hashCode(relayed));
                    message.reset();
                }
            } else {
                io.netty.util.ReferenceCountUtil.release(msg);
            }
        }
    }

    /**
     * What goes upstream (content, then the encoder's ".\r\n") must hold exactly one end of data:
     * the content itself has none, and in normalize mode no bare CR or LF either.
     */
    private static void assertNoSmuggling(byte[] content, BareNewlines mode) {
        byte[] upstream = new byte[content.length + 2];
        upstream[0] = '\r';
        upstream[1] = '\n';
        System.arraycopy(content, 0, upstream, 2, content.length);
        for (int i = 0; i + END_OF_DATA.length <= upstream.length; i++) {
            boolean match = true;
            for (int j = 0; j < END_OF_DATA.length && match; j++) {
                match = upstream[i + j] == END_OF_DATA[j];
            }
            assertFalse(match, "an end of data inside relayed content");
        }
        if (mode == BareNewlines.NORMALIZE) {
            for (int i = 0; i < content.length; i++) {
                boolean crBeforeLf = content[i] == '\r' && i + 1 < content.length && content[i + 1] == '\n';
                boolean lfAfterCr = content[i] == '\n' && i > 0 && content[i - 1] == '\r';
                assertFalse((content[i] == '\r' && !crBeforeLf) || (content[i] == '\n' && !lfAfterCr),
                        "bare newline relayed in normalize mode at " + i);
            }
        }
    }
}
