package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.testkit.SmtpTestClient;

/** Upstream AUTH XOAUTH2 with a client-credentials token from a real (local) token endpoint. */
@Timeout(60)
class XOAuth2Test {

    private static final String SECRET = "s3cret-value";
    private static final byte[] MESSAGE = "Subject: oauth\r\n\r\nhi\r\n".getBytes(StandardCharsets.US_ASCII);

    private HttpServer endpoint;
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final AtomicReference<String> response = new AtomicReference<>();
    private volatile int status = 200;
    private final List<Long> requestTimes = new CopyOnWriteArrayList<>();
    /** Runs after each answer: lets a test hand out a different token next time. */
    private volatile Runnable onRequest = () -> { };

    @BeforeEach
    void startTokenEndpoint() throws Exception {
        endpoint = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        endpoint.createContext("/tenant/oauth2/v2.0/token", exchange -> {
            requests.add(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            requestTimes.add(System.nanoTime());
            byte[] body = response.get().getBytes(StandardCharsets.UTF_8);
            onRequest.run();
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        endpoint.start();
        tokenLog.start();
        tokenLogger().addAppender(tokenLog);
    }

    @AfterEach
    void stopTokenEndpoint() {
        endpoint.stop(0);
        tokenLogger().detachAppender(tokenLog);
    }

    private final ListAppender<ILoggingEvent> tokenLog = new ListAppender<>();

    private static Logger tokenLogger() {
        return (Logger) LoggerFactory.getLogger("org.smtptlsproxy.auth.OAuth2TokenSource");
    }

    private ProxyFixture proxy(String upstreamToken, int maxIdle) throws Exception {
        ProxyFixture.Builder builder = ProxyFixture.builder()
                .requireUpstreamXoauth2("relay@contoso.example", upstreamToken)
                .upstream("auth:")
                .upstream("  mechanism: xoauth2")
                .upstream("  username: relay@contoso.example")
                .upstream("  oauth2:")
                .upstream("    token_endpoint: http://127.0.0.1:" + endpoint.getAddress().getPort() + "/tenant/oauth2/v2.0/token")
                .upstream("    client_id: app-id")
                .upstream("    client_secret_file: client-secret")
                .upstream("pool:")
                .upstream("  max_idle: " + maxIdle)
                .file("client-secret", SECRET + "\n");
        return builder.start();
    }

    private static SmtpTestClient.Reply send(ProxyFixture fixture) throws Exception {
        try (SmtpTestClient client = fixture.connect("plain")) {
            client.ehlo("printer.example");
            SmtpTestClient.Reply mail = client.command("MAIL FROM:<scanner@legacy.example>");
            if (!mail.isPositive()) {
                return mail;
            }
            client.command("RCPT TO:<b@contoso.example>");
            client.command("DATA");
            client.writeDotStuffed(MESSAGE);
            return client.readReply();
        }
    }

    @Test
    void oneTokenServesEverySessionAndOnlyTheTokenEndpointSeesTheSecret() throws Exception {
        response.set("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"eyJ0b2tlbi0x\"}");
        try (ProxyFixture fixture = proxy("eyJ0b2tlbi0x", 0)) { // no pooling: every message sets up and authenticates a session
            assertEquals(250, send(fixture).code());
            assertEquals(250, send(fixture).code());
            assertTrue(fixture.upstream.awaitMessages(2, Duration.ofSeconds(10)));
            assertEquals(1, requests.size(), "one token, fetched at start-up, for both sessions: " + requests);
            String form = requests.get(0);
            assertTrue(form.contains("grant_type=client_credentials"), form);
            assertTrue(form.contains("client_id=app-id"), form);
            assertTrue(form.contains("client_secret=" + SECRET), form);
            assertTrue(form.contains("scope=https%3A%2F%2Foutlook.office365.com%2F.default"), form);
            assertEquals(2, fixture.upstream.commandsSeen().stream().filter(c -> c.startsWith("[tls] AUTH XOAUTH2")).count(),
                    fixture.upstream.commandsSeen().toString());
        }
    }

    /**
     * Issue 12: with a 612 s token the refresh point (ten minutes left) comes 12 s after the fetch;
     * a message 15 s after the fetch must already go out with the next token. The fake upstream
     * accepts only that one, so a session that used the first token would get a 451.
     */
    @Test
    @Timeout(90)
    void aMessageFifteenSecondsIntoA612SecondTokenGoesOutWithTheNextToken() throws Exception {
        response.set("{\"token_type\":\"Bearer\",\"expires_in\":612,\"access_token\":\"first-token\"}");
        onRequest = () -> response.set("{\"token_type\":\"Bearer\",\"expires_in\":612,\"access_token\":\"second-token\"}");
        try (ProxyFixture fixture = proxy("second-token", 0)) {
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (requestTimes.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(1, requests.size(), "the start-up fetch");
            long fifteenSecondsIn = requestTimes.get(0) + Duration.ofSeconds(15).toNanos();
            Thread.sleep(Math.max(0, (fifteenSecondsIn - System.nanoTime()) / 1_000_000));
            assertEquals(2, requests.size(), "refreshed on schedule before the session asked: " + requests.size());
            SmtpTestClient.Reply reply = send(fixture);
            assertEquals(250, reply.code(), reply.toString());
            assertEquals(2, requests.size(), "the session fetched nothing itself");
            String metrics = fixture.metrics();
            assertTrue(metrics.contains("smtp_proxy_oauth2_token_refresh_total{outcome=\"success\"} 2.0"), metrics);
            assertTrue(metrics.contains("smtp_proxy_oauth2_token_refresh_total{outcome=\"failure\"} 0.0"), metrics);
            double expiry = gauge(metrics, "smtp_proxy_oauth2_token_expiry_seconds");
            assertTrue(expiry > 590 && expiry <= 612, "the new token's remaining life: " + expiry);
        }
    }

    private static double gauge(String metrics, String name) {
        return metrics.lines().filter(l -> l.startsWith(name + " ")).findFirst()
                .map(l -> Double.parseDouble(l.substring(name.length() + 1).trim()))
                .orElseThrow(() -> new AssertionError(name + " missing: " + metrics));
    }

    @Test
    void aRefusedClientIsATemporaryFailureThatSaysWhyButNotTheSecret() throws Exception {
        status = 401;
        response.set("{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided.\"}");
        try (ProxyFixture fixture = proxy("unused", 0)) {
            SmtpTestClient.Reply reply = send(fixture);
            assertEquals(451, reply.code(), reply.toString());
            assertTrue(reply.text().contains("answered 401: invalid_client (AADSTS7000215"), reply.toString());
            assertFalse(reply.toString().contains(SECRET), reply.toString());
            assertTrue(fixture.metrics().contains("smtp_proxy_upstream_sessions_total{outcome=\"auth_failed\"} 1.0"),
                    fixture.metrics());
            assertTrue(fixture.upstream.messages().isEmpty());
            assertEquals(451, send(fixture).code(), "a second failed fetch, same streak");
            assertTrue(requests.size() >= 3, "start-up fetch and one per message: " + requests.size());
            double failures = gauge(fixture.metrics(), "smtp_proxy_oauth2_token_refresh_total{outcome=\"failure\"}");
            assertTrue(failures >= 3, "every failed fetch counted: " + failures);
            List<String> warnings = tokenLog.list.stream().filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            assertEquals(1, warnings.size(), "one warning per streak of failures: " + warnings);
            assertTrue(warnings.get(0).contains("answered 401: invalid_client"), warnings.get(0));
            assertFalse(warnings.get(0).contains(SECRET), warnings.get(0));
        }
    }

    @Test
    void aTokenTheUpstreamRefusesIsATemporaryFailure() throws Exception {
        response.set("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"not-the-right-one\"}");
        try (ProxyFixture fixture = proxy("the-right-one", 0)) {
            SmtpTestClient.Reply reply = send(fixture);
            assertEquals(451, reply.code(), reply.toString());
            assertTrue(reply.text().contains("rejected AUTH XOAUTH2"), reply.toString());
            assertTrue(reply.text().contains("535"), reply.toString());
            assertFalse(reply.toString().contains("not-the-right-one"), "the token stays out of replies: " + reply);
        }
    }
}
