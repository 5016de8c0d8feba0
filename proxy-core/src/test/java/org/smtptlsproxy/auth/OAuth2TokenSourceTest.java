package org.smtptlsproxy.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.config.OAuth2Config;
import org.smtptlsproxy.config.Secret;
import org.smtptlsproxy.config.TrustSource;

/** The refresh rule of the contract: fetch again when less than 10 minutes or 10 % of the lifetime remain. */
@Timeout(30)
class OAuth2TokenSourceTest {

    private HttpServer endpoint;
    private ExecutorService executor;
    private final AtomicInteger issued = new AtomicInteger();
    private volatile long lifetimeSeconds;
    private final MutableClock clock = new MutableClock(Instant.parse("2026-12-02T08:00:00Z"));

    @BeforeEach
    void start() throws Exception {
        endpoint = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        endpoint.createContext("/token", exchange -> {
            exchange.getRequestBody().readAllBytes();
            byte[] body = ("{\"access_token\":\"token-" + issued.incrementAndGet() + "\",\"expires_in\":" + lifetimeSeconds
                    + ",\"token_type\":\"Bearer\"}").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        endpoint.start();
        executor = Executors.newFixedThreadPool(2);
    }

    @AfterEach
    void stop() {
        endpoint.stop(0);
        executor.shutdownNow();
    }

    private OAuth2TokenSource source() throws Exception {
        URI uri = URI.create("http://127.0.0.1:" + endpoint.getAddress().getPort() + "/token");
        return new OAuth2TokenSource(new OAuth2Config(uri, "app", new Secret("s3cret"), "scope", TrustSource.SYSTEM), executor, clock);
    }

    @Test
    void aTwoHourTokenIsRefreshedWhenATenthOfItsLifeRemains() throws Exception {
        lifetimeSeconds = 7200; // a tenth is 12 minutes: more than the 10-minute floor
        OAuth2TokenSource tokens = source();
        assertEquals("token-1", tokens.token().get());
        clock.advance(Duration.ofMinutes(107));
        assertEquals("token-1", tokens.token().get());
        assertEquals(1, issued.get(), "still fresh: no fetch");
        clock.advance(Duration.ofMinutes(2)); // 11 minutes left: under the 12-minute margin
        assertEquals("token-1", tokens.token().get(), "the current token still serves while the next is fetched");
        awaitIssued(2);
        assertEquals("token-2", waitForToken(tokens, "token-2"));
    }

    @Test
    void aOneHourTokenIsRefreshedTenMinutesBeforeItExpires() throws Exception {
        lifetimeSeconds = 3600; // a tenth is 6 minutes: the 10-minute floor applies
        OAuth2TokenSource tokens = source();
        assertEquals("token-1", tokens.token().get());
        clock.advance(Duration.ofMinutes(49));
        tokens.token().get();
        assertEquals(1, issued.get());
        clock.advance(Duration.ofMinutes(2));
        tokens.token().get();
        awaitIssued(2);
    }

    @Test
    void anExpiredTokenIsNeverHandedOut() throws Exception {
        lifetimeSeconds = 3600;
        OAuth2TokenSource tokens = source();
        assertEquals("token-1", tokens.token().get());
        clock.advance(Duration.ofMinutes(61));
        assertEquals("token-2", tokens.token().get(), "past expiry the caller waits for the new one");
    }

    @Test
    void anUnreachableEndpointFailsWithItsAddressButNotTheSecret() throws Exception {
        lifetimeSeconds = 3600;
        OAuth2TokenSource tokens = source();
        endpoint.stop(0);
        ExecutionException failure = assertThrows(ExecutionException.class, () -> tokens.token().get(10, TimeUnit.SECONDS));
        assertTrue(failure.getCause() instanceof OAuth2TokenSource.TokenException, failure.toString());
        assertTrue(failure.getCause().getMessage().contains("/token unreachable"), failure.getCause().getMessage());
        assertTrue(!failure.getCause().getMessage().contains("s3cret"));
    }

    private void awaitIssued(int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (issued.get() < count && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(count, issued.get());
    }

    private static String waitForToken(OAuth2TokenSource tokens, String expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String token = tokens.token().get();
        while (!token.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(10);
            token = tokens.token().get();
        }
        return token;
    }

    private static final class MutableClock extends Clock {
        private final AtomicReference<Instant> now;

        MutableClock(Instant start) {
            this.now = new AtomicReference<>(start);
        }

        void advance(Duration duration) {
            now.updateAndGet(t -> t.plus(duration));
        }

        @Override
        public Instant instant() {
            return now.get();
        }

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }
    }
}
