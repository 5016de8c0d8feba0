package org.smtptlsproxy.interop;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.TestPki;

/**
 * A Postfix that behaves as Exchange Online does towards the proxy: STARTTLS mandatory
 * ({@code smtpd_tls_security_level = encrypt}), TLS 1.2 or newer only, a certificate the proxy
 * verifies by name, real mailboxes (virtual(8) into Maildirs owned by nobody) and, as a variant,
 * a client certificate required as for a certificate-based connector.
 *
 * <p>Recipients: {@code user@example.test} (the main mailbox), {@code 用户@例子.test} (UTF-8),
 * {@code defer@example.test} (answers 451 while {@link #refuseDeferRecipient} is on),
 * {@code hold@example.test} (accepted and put on hold, so the envelope can be read with postcat),
 * {@code notices@example.test} (a plain mailbox for delivery status notifications).
 */
final class UpstreamPostfix implements AutoCloseable {

    static final String USER = "user@example.test";
    static final String UTF8_USER = "用户@例子.test";
    static final String DEFER = "defer@example.test";
    static final String HOLD = "hold@example.test";
    /** Where delivery status notifications for the DSN cases go. */
    static final String NOTICES = "notices@example.test";
    static final String HOSTNAME = "upstream.interop.test";

    private static final int NOBODY = 65534;

    private final PostfixInstance postfix;
    private final Path mailboxBase;

    private UpstreamPostfix(PostfixInstance postfix, Path mailboxBase) {
        this.postfix = postfix;
        this.mailboxBase = mailboxBase;
    }

    /**
     * @param clientCa when not null, a client certificate signed by this CA is required
     */
    static UpstreamPostfix start(String name, Path directory, int port, TestPki.Identity identity, Path clientCa)
            throws IOException {
        return start(name, directory, port, identity, clientCa, Map.of());
    }

    /** The same with main.cf settings added or overridden. */
    static UpstreamPostfix start(String name, Path directory, int port, TestPki.Identity identity, Path clientCa,
                                 Map<String, String> extraSettings) throws IOException {
        Files.createDirectories(directory);
        TestPki.PemFiles pem = identity.writePem(directory, "server", KeyFormat.PKCS8);
        Path mailboxBase = directory.resolve("mail");
        Files.createDirectories(mailboxBase);
        Files.setAttribute(mailboxBase, "unix:uid", NOBODY);
        Files.setAttribute(mailboxBase, "unix:gid", NOBODY);
        Files.writeString(directory.resolve("mailboxes"), USER + " user/\n" + UTF8_USER + " utf8/\n"
                + DEFER + " defer/\n" + HOLD + " hold/\n" + NOTICES + " notices/\n", StandardCharsets.UTF_8);
        Files.writeString(directory.resolve("recipient_access"), accessTable(false), StandardCharsets.UTF_8);
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("myhostname", HOSTNAME);
        settings.put("smtpd_tls_security_level", "encrypt");
        settings.put("smtpd_tls_mandatory_protocols", ">=TLSv1.2");
        settings.put("smtpd_tls_protocols", ">=TLSv1.2");
        settings.put("smtpd_tls_chain_files", pem.key() + ", " + pem.certificate());
        settings.put("smtpd_tls_received_header", "yes");
        settings.put("smtpd_tls_loglevel", "1");
        if (clientCa != null) {
            settings.put("smtpd_tls_ask_ccert", "yes");
            settings.put("smtpd_tls_req_ccert", "yes");
            settings.put("smtpd_tls_CAfile", clientCa.toString());
        }
        settings.put("smtputf8_enable", "yes");
        settings.put("virtual_mailbox_domains", "example.test, 例子.test");
        settings.put("virtual_mailbox_base", mailboxBase.toString());
        settings.put("virtual_mailbox_maps", "texthash:" + directory.resolve("mailboxes"));
        settings.put("virtual_uid_maps", "static:" + NOBODY);
        settings.put("virtual_gid_maps", "static:" + NOBODY);
        settings.put("virtual_mailbox_limit", "0");
        settings.put("smtpd_recipient_restrictions",
                "check_recipient_access texthash:" + directory.resolve("recipient_access") + ", permit_mynetworks, reject");
        settings.putAll(extraSettings);
        return new UpstreamPostfix(PostfixInstance.start(name, directory, port, settings), mailboxBase);
    }

    private static String accessTable(boolean refuseDefer) {
        return HOLD + " HOLD kept for the envelope check\n"
                + (refuseDefer ? DEFER + " 451 4.3.0 mailbox busy, try again later\n" : "");
    }

    /**
     * On: RCPT TO:&lt;defer@…&gt; gets 451. Off: accepted. Applies to new smtpd processes only
     * (an idle smtpd keeps the table it read), so an instance toggled this way runs with
     * {@code max_use = 1}: each smtpd serves one connection.
     */
    void refuseDeferRecipient(boolean on) throws IOException {
        Files.writeString(postfix.directory().resolve("recipient_access"), accessTable(on), StandardCharsets.UTF_8);
        postfix.reload();
    }

    PostfixInstance postfix() {
        return postfix;
    }

    int port() {
        return postfix.port();
    }

    Mailbox mailbox(String name) {
        return new Mailbox(mailboxBase.resolve(name));
    }

    /** The upstream's log line for a queue id it gave out: proof the id is really this server's. */
    void assertQueueIdIsOurs(String queueId) {
        postfix.awaitLog(Pattern.compile(": " + Pattern.quote(queueId) + ": client=localhost\\[127\\.0\\.0\\.1\\]"),
                java.time.Duration.ofSeconds(10));
    }

    @Override
    public void close() {
        postfix.close();
    }
}
