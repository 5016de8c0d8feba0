package org.smtptlsproxy.smtp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.smtptlsproxy.smtp.ReplyParser.MalformedReplyException;

class ReplyParserTest {

    private static SmtpReply parse(ReplyParser parser, String line) throws MalformedReplyException {
        byte[] octets = line.getBytes(StandardCharsets.ISO_8859_1);
        return parser.line(octets, octets.length);
    }

    @Test
    void multiLineReplyKeepsItsLinesAndCode() throws Exception {
        ReplyParser parser = new ReplyParser();
        assertNull(parse(parser, "250-mx.example Hello"));
        assertNull(parse(parser, "250-PIPELINING"));
        SmtpReply reply = parse(parser, "250 SMTPUTF8");
        assertEquals(new SmtpReply(250, List.of("mx.example Hello", "PIPELINING", "SMTPUTF8")), reply);
    }

    @Test
    void codesOutsideTheGrammarAreMalformed() {
        for (String line : List.of("25x 2.6.0 queued", "2x0 ok", "2:0 ok", "+OK", "290 ok", "190 ok", "650 no", "25", "",
                "250:ok", "250\tok", "2500 ok")) {
            assertThrows(MalformedReplyException.class, () -> parse(new ReplyParser(), line), line);
        }
    }

    @Test
    void linesOfOneReplyMustAgree() throws Exception {
        ReplyParser parser = new ReplyParser();
        parse(parser, "250-first");
        MalformedReplyException e = assertThrows(MalformedReplyException.class, () -> parse(parser, "251 second"));
        assertEquals("lines of one reply with different codes (250 then 251): \"251 second\"", e.getMessage());
    }

    @Test
    void enhancedCodeOfAnotherClassIsDropped() throws Exception {
        assertEquals("queued", parse(new ReplyParser(), "550 2.6.0 queued").lines().get(0));
        assertEquals("go ahead", parse(new ReplyParser(), "354 2.0.0 go ahead").lines().get(0));
        assertEquals("5.7.1 denied", parse(new ReplyParser(), "550 5.7.1 denied").lines().get(0));
        assertEquals("4.7.500 busy", parse(new ReplyParser(), "451 4.7.500 busy").lines().get(0));
    }

    @Test
    void controlCharactersInTextCannotEndTheClientsLine() throws Exception {
        assertEquals("a?b?c\td", parse(new ReplyParser(), "250 a\rb\0c\td").lines().get(0));
    }

    @Test
    void utf8TextIsKept() throws Exception {
        byte[] line = "250 2.0.0 Grüße".getBytes(StandardCharsets.UTF_8);
        assertEquals("2.0.0 Grüße", new ReplyParser().line(line, line.length).lines().get(0));
    }
}
