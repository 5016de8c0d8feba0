package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * Postfix as a legacy MTA whose smart host is the proxy ({@code relayhost = [127.0.0.1]:PORT}).
 * Mail is handed to it over SMTP on its own loopback port, as an application on the LAN would.
 */
final class SenderPostfix implements AutoCloseable {

    /** How the sender talks to its relay host. */
    enum Tls {
        /** Plaintext SMTP, as the oldest devices and misconfigured servers do. */
        NONE,
        /**
         * STARTTLS mandatory and TLS 1.0 only, as on an old OpenSSL; OpenSSL 3 allows TLS 1.0
         * only at security level 0.
         */
        TLS1_ONLY,
        /** STARTTLS mandatory with TLS 1.2+ (for a control path straight to the upstream). */
        MODERN
    }

    private static final Pattern ACCEPTED = Pattern.compile("^250 2\\.0\\.0 Ok: queued as ([0-9A-F]+)$");

    private final PostfixInstance postfix;

    private SenderPostfix(PostfixInstance postfix) {
        this.postfix = postfix;
    }

    static SenderPostfix start(String name, Path directory, int relayPort, Tls tls) throws IOException {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("relayhost", "[127.0.0.1]:" + relayPort);
        settings.put("smtputf8_enable", "yes");
        settings.put("smtp_tls_loglevel", "1");
        settings.put("smtpd_tls_security_level", "none");
        switch (tls) {
            case NONE -> settings.put("smtp_tls_security_level", "none");
            case TLS1_ONLY -> {
                settings.put("smtp_tls_security_level", "encrypt");
                settings.put("smtp_tls_protocols", "!SSLv2, !SSLv3, !TLSv1.1, !TLSv1.2, !TLSv1.3");
                settings.put("smtp_tls_mandatory_protocols", "!SSLv2, !SSLv3, !TLSv1.1, !TLSv1.2, !TLSv1.3");
                settings.put("smtp_tls_mandatory_ciphers", "medium");
                settings.put("tls_medium_cipherlist", "DEFAULT:@SECLEVEL=0");
            }
            case MODERN -> {
                settings.put("smtp_tls_security_level", "encrypt");
                settings.put("smtp_tls_mandatory_protocols", ">=TLSv1.2");
            }
            default -> throw new IllegalArgumentException(tls.name());
        }
        // Retries happen when the test says so (postqueue -f), not on Postfix's own clock.
        settings.put("minimal_backoff_time", "30m");
        settings.put("maximal_backoff_time", "60m");
        settings.put("queue_run_delay", "30m");
        return new SenderPostfix(PostfixInstance.start(name, directory, InteropEnvironment.freePort(), settings));
    }

    PostfixInstance postfix() {
        return postfix;
    }

    /**
     * Hands a message to this Postfix over SMTP and returns the queue id it was given.
     *
     * @param mailParameters e.g. "BODY=8BITMIME", appended to MAIL FROM
     * @param rcptParameters appended to each RCPT TO
     */
    String submit(String from, List<String> recipients, byte[] message, String mailParameters, String rcptParameters)
            throws IOException {
        try (SmtpTestClient client = new SmtpTestClient(Duration.ofSeconds(60))) {
            client.connect("127.0.0.1", postfix.port());
            client.ehlo("app.interop.test");
            expect(250, client.command("MAIL FROM:<" + from + ">" + suffix(mailParameters)));
            for (String recipient : recipients) {
                expect(250, client.command("RCPT TO:<" + recipient + ">" + suffix(rcptParameters)));
            }
            expect(354, client.command("DATA"));
            client.writeDotStuffed(message);
            SmtpTestClient.Reply reply = client.readReply();
            Matcher matcher = ACCEPTED.matcher(reply.toString());
            if (!matcher.matches()) {
                throw new AssertionError("sender Postfix refused the message: " + reply);
            }
            client.quit();
            return matcher.group(1);
        }
    }

    String submit(String from, String recipient, byte[] message) throws IOException {
        return submit(from, List.of(recipient), message, "", "");
    }

    private static String suffix(String parameters) {
        return parameters == null || parameters.isEmpty() ? "" : " " + parameters;
    }

    private static void expect(int code, SmtpTestClient.Reply reply) {
        assertEquals(code, reply.code(), reply.toString());
    }

    /**
     * Waits for the delivery line of {@code queueId} to {@code recipient} with this status and
     * returns its parenthesised text (the relay's reply as Postfix logged it).
     */
    String awaitStatus(String queueId, String recipient, String status) {
        Matcher matcher = postfix.awaitLog(Pattern.compile(Pattern.quote(queueId) + ": to=<" + Pattern.quote(recipient)
                + ">, relay=([^,]+), .*?status=" + status + " \\((.*)\\)$", Pattern.MULTILINE), Duration.ofSeconds(60));
        return matcher.group(2);
    }

    /** The upstream queue id that came back through the proxy in the reply to end-of-data. */
    static String upstreamQueueId(String statusText) {
        Matcher matcher = Pattern.compile("250 2\\.0\\.0 Ok: queued as ([0-9A-F]+)").matcher(statusText);
        if (!matcher.find()) {
            throw new AssertionError("no upstream queue id in the delivery status: " + statusText);
        }
        return matcher.group(1);
    }

    @Override
    public void close() {
        postfix.close();
    }
}
