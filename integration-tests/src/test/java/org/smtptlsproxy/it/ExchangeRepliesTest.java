package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.smtptlsproxy.testkit.SmtpTestClient;

/**
 * Exchange Online's well-known replies, sent by the fake upstream: the sender gets each verbatim,
 * {@code smtp_proxy_upstream_replies_total} counts it with its stage, class and reason, and the
 * transaction log line carries the reason.
 */
@Timeout(60)
class ExchangeRepliesTest {

    private static final byte[] MESSAGE = "Subject: x\r\n\r\nhello\r\n".getBytes(StandardCharsets.US_ASCII);

    private final HttpClient http = HttpClient.newHttpClient();
    @RegisterExtension
    final TransactionLogCapture log = new TransactionLogCapture();

    /** /metrics over HTTP, as Prometheus scrapes it. */
    private String scrape(ProxyFixture fixture) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + fixture.proxy.metricsPort() + "/metrics"))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    private static String series(String stage, String klass, String reason) {
        return "smtp_proxy_upstream_replies_total{class=\"" + klass + "\",reason=\"" + reason + "\",stage=\"" + stage + "\"}";
    }

    @Test
    void aConnectorThatDoesNotMatchIsPassedOnVerbatimAndCountedAsConnectorNotMatched() throws Exception {
        String refusal = "550 5.7.64 TenantAttribution; Relay Access Denied [DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]";
        try (ProxyFixture fixture = ProxyFixture.builder().upstreamReply("RCPT", refusal).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("erp.example");
            assertEquals(250, client.command("MAIL FROM:<erp@contoso.example>").code());
            SmtpTestClient.Reply rcpt = client.command("RCPT TO:<someone@contoso.example>");
            assertEquals(refusal, rcpt.toString(), "verbatim");
            String metrics = scrape(fixture);
            assertTrue(metrics.contains(series("rcpt", "5xx", "connector_not_matched") + " 1.0"), metrics);
            assertTrue(metrics.contains(series("mail", "2xx", "none") + " 1.0"), metrics);
            assertTrue(metrics.contains(series("banner", "2xx", "none") + " 1.0"), metrics);
            assertTrue(metrics.contains(series("ehlo", "2xx", "none") + " 2.0"), "before and after STARTTLS: " + metrics);
        }
    }

    @Test
    void throttlingAtMailIsDeferredVerbatimAndTheLogSaysThrottled() throws Exception {
        String busy = "451 4.7.500 Server busy. Please try again later from [203.0.113.7]. (S77719) [AM6EUR05FT009.eop-eur05.prod.protection.outlook.com]";
        try (ProxyFixture fixture = ProxyFixture.builder().upstreamReply("MAIL", busy).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("erp.example");
            SmtpTestClient.Reply mail = client.command("MAIL FROM:<erp@contoso.example>");
            assertEquals(busy, mail.toString(), "verbatim");
            assertTrue(scrape(fixture).contains(series("mail", "4xx", "throttled") + " 1.0"), scrape(fixture));
            List<String> lines = log.lines();
            assertTrue(lines.stream().anyMatch(l -> l.contains("outcome=deferred") && l.endsWith(" reason=throttled")),
                    lines.toString());
        }
    }

    @Test
    void aRecipientRefusedAmongOthersNamesItsReasonOnTheRelayedMessagesLine() throws Exception {
        String unknown = "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient nobody@contoso.example not found by SMTP address lookup";
        try (ProxyFixture fixture = ProxyFixture.builder().upstreamReply("RCPT TO:<NOBODY@", unknown).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("erp.example");
            assertEquals(250, client.command("MAIL FROM:<erp@contoso.example>").code());
            assertEquals(unknown, client.command("RCPT TO:<nobody@contoso.example>").toString());
            assertEquals(250, client.command("RCPT TO:<someone@contoso.example>").code());
            assertEquals(354, client.command("DATA").code());
            client.writeDotStuffed(MESSAGE);
            assertEquals(250, client.readReply().code());
            assertTrue(scrape(fixture).contains(series("rcpt", "5xx", "recipient_unknown") + " 1.0"), scrape(fixture));
            assertTrue(scrape(fixture).contains(series("end_of_data", "2xx", "none") + " 1.0"), scrape(fixture));
            List<String> lines = log.lines();
            assertTrue(lines.stream().anyMatch(l -> l.contains("outcome=relayed") && l.contains("accepted=1")
                    && l.endsWith(" reason=recipient_unknown")), lines.toString());
        }
    }

    @Test
    void aHighRiskPoolRejectionAtEndOfDataIsRejectedVerbatim() throws Exception {
        String pool = "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.";
        try (ProxyFixture fixture = ProxyFixture.builder().upstreamReply("END_OF_DATA", pool).start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("erp.example");
            client.command("MAIL FROM:<erp@contoso.example>");
            client.command("RCPT TO:<someone@contoso.example>");
            assertEquals(354, client.command("DATA").code());
            client.writeDotStuffed(MESSAGE);
            assertEquals(pool, client.readReply().toString());
            assertTrue(scrape(fixture).contains(series("end_of_data", "5xx", "high_risk_pool") + " 1.0"), scrape(fixture));
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("outcome=rejected") && l.endsWith(" reason=high_risk_pool")),
                    log.lines().toString());
        }
    }

    @Test
    void smtpAuthDisabledForTheTenantIsA451QuotingItAndTheLogAndMetricNameIt() throws Exception {
        String disabled = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.";
        try (ProxyFixture fixture = ProxyFixture.builder()
                .requireUpstreamAuth("relay@contoso.example", "pw")
                .upstreamAuth("plain", "relay@contoso.example", "pw")
                .upstreamReply("AUTH", disabled)
                .start();
             SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("erp.example");
            SmtpTestClient.Reply mail = client.command("MAIL FROM:<erp@contoso.example>");
            assertEquals(451, mail.code(), mail.toString());
            assertTrue(mail.text().endsWith(disabled), "quotes the upstream: " + mail);
            assertTrue(scrape(fixture).contains(series("auth", "5xx", "smtp_auth_disabled") + " 1.0"), scrape(fixture));
            assertTrue(log.lines().stream().anyMatch(l -> l.contains("outcome=deferred") && l.endsWith(" reason=smtp_auth_disabled")),
                    log.lines().toString());
        }
    }
}
