package org.smtptlsproxy.outbound;

import io.netty.handler.codec.smtp.DefaultSmtpRequest;
import io.netty.handler.codec.smtp.SmtpCommand;
import io.netty.handler.codec.smtp.SmtpRequest;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * MAIL and RCPT as the upstream must receive them: the octets the client sent. Netty's
 * {@code SmtpRequests} builds a {@code String} that its encoder writes one octet per char, which
 * turns "ö" into 0xF6 and "€" into "?"; here every argument is the UTF-8 octets themselves.
 */
public final class UpstreamCommands {

    private UpstreamCommands() {
    }

    public static SmtpRequest mail(String sender, List<String> parameters) {
        return request(SmtpCommand.MAIL, "FROM:<" + sender + ">", parameters);
    }

    public static SmtpRequest rcpt(String recipient, List<String> parameters) {
        return request(SmtpCommand.RCPT, "TO:<" + recipient + ">", parameters);
    }

    private static SmtpRequest request(SmtpCommand command, String path, List<String> parameters) {
        List<CharSequence> arguments = new ArrayList<>(1 + parameters.size());
        arguments.add(octets(path));
        for (String parameter : parameters) {
            arguments.add(octets(parameter));
        }
        return new DefaultSmtpRequest(command, arguments.toArray(CharSequence[]::new));
    }

    /** The encoder copies an AsciiString's bytes as they are. */
    static CharSequence octets(String text) {
        return new AsciiString(text.getBytes(StandardCharsets.UTF_8), false);
    }
}
