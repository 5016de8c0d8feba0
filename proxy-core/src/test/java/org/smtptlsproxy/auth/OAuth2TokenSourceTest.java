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
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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

/**
 * The refresh rule of the contract: the next token is fetched on a schedule, before less than 10
 * minutes or 10 % of the lifetime remain, so a session after that point already has it. The clock
 * and the timer are the test's; the token endpoint is a real local HTTP server.
 */
@Timeout(30)
class OAuth2TokenSourceTest {

    private HttpServer endpoint;
    private ExecutorService executor;
    private final AtomicInteger issued = new AtomicInteger();
    private volatile long lifetimeSeconds;
    /** The HTTP status the endpoint answers with; anything but 200 is a failed fetch. */
    private volatile int status = 200;
    private final MutableClock clock = new MutableClock(Instant.parse("2026-12-02T08:00:00Z"));
    private final ManualTimer timer = new ManualTimer(clock);
    private final List<Boolean> refreshes = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        endpoint = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        endpoint.createContext("/token", exchange -> {
            exchange.getRequestBody().readAllBytes();
            byte[] body;
            int code = status;
            if (code == 200) {
                body = ("{\"access_token\":\"token-" + issued.incrementAndGet() + "\",\"expires_in\":" + lifetimeSeconds
                        + ",\"token_type\":\"Bearer\"}").getBytes(StandardCharsets.UTF_8);
            } else {
                body = "{\"error\":\"temporarily_unavailable\"}".getBytes(StandardCharsets.UTF_8);
            }
            exchange.sendResponseHeaders(code, body.length);
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

    /** A source on the test's clock and timer, its first token fetched. */
    private OAuth2TokenSource source() throws Exception {
        URI uri = URI.create("http://127.0.0.1:" + endpoint.getAddress().getPort() + "/token");
        OAuth2TokenSource tokens = new OAuth2TokenSource(new OAuth2Config(uri, "app", new Secret("s3cret"), "scope",
                TrustSource.SYSTEM), executor, clock, timer, refreshes::add);
        assertEquals("token-1", tokens.token().get());
        awaitRefreshes(1);
        return tokens;
    }

    @Test
    void aSessionFifteenSecondsIntoA612SecondTokenAlreadyHasTheNextOne() throws Exception {
        lifetimeSeconds = 612; // ten minutes is more than a tenth: the refresh point is 12 s after the fetch
        OAuth2TokenSource tokens = source();
        clock.advance(Duration.ofSeconds(15));
        timer.runDue();
        awaitIssued(2); // the timer fetched it, not the session below
        awaitRefreshes(2);
        assertEquals("token-2", tokens.token().get());
        assertEquals(2, issued.get());
    }

    @Test
    void aSessionAfterTheRefreshPointWaitsForTheFetchRatherThanTakeTheOldToken() throws Exception {
        lifetimeSeconds = 612;
        OAuth2TokenSource tokens = source();
        clock.advance(Duration.ofSeconds(15)); // the timer is late: it has not run
        assertEquals("token-2", tokens.token().get());
    }

    @Test
    void aTwoHourTokenIsRefreshedOnScheduleWhenATenthOfItsLifeRemains() throws Exception {
        lifetimeSeconds = 7200; // a tenth is 12 minutes: more than the 10-minute floor
        OAuth2TokenSource tokens = source();
        Instant due = timer.nextDue();
        // Jitter moves it earlier by at most 30 s, never later than the refresh point.
        assertTrue(!due.isAfter(clock.instant().plus(Duration.ofMinutes(108))), due.toString());
        assertTrue(!due.isBefore(clock.instant().plus(Duration.ofMinutes(108)).minusSeconds(30)), due.toString());
        clock.advance(Duration.ofMinutes(107));
        timer.runDue();
        assertEquals("token-1", tokens.token().get());
        assertEquals(1, issued.get(), "still fresh: no fetch");
        clock.advance(Duration.ofMinutes(1));
        timer.runDue();
        awaitIssued(2);
        assertEquals("token-2", waitForToken(tokens, "token-2"));
    }

    @Test
    void aOneHourTokenIsRefreshedTenMinutesBeforeItExpires() throws Exception {
        lifetimeSeconds = 3600; // a tenth is 6 minutes: the 10-minute floor applies
        source();
        Instant due = timer.nextDue();
        assertTrue(!due.isAfter(clock.instant().plus(Duration.ofMinutes(50))), due.toString());
        assertTrue(!due.isBefore(clock.instant().plus(Duration.ofMinutes(50)).minusSeconds(30)), due.toString());
    }

    @Test
    void aTokenShorterLivedThanTheMarginServesTenSecondsBeforeTheNextIsFetched() throws Exception {
        lifetimeSeconds = 300; // always inside the ten-minute margin
        OAuth2TokenSource tokens = source();
        Duration due = Duration.between(clock.instant(), timer.nextDue());
        assertTrue(due.compareTo(Duration.ofSeconds(9)) >= 0 && due.compareTo(Duration.ofSeconds(10)) <= 0, due.toString());
        clock.advance(Duration.ofSeconds(5));
        assertEquals("token-1", tokens.token().get());
        assertEquals(1, issued.get(), "not a fetch per session");
    }

    @Test
    void whileTheEndpointFailsTheValidTokenServesAndFetchesAreRetried() throws Exception {
        lifetimeSeconds = 3600;
        OAuth2TokenSource tokens = source();
        status = 503;
        clock.advance(Duration.ofMinutes(51));
        timer.runDue();
        awaitRefreshes(2);
        assertEquals(false, refreshes.get(1));
        assertEquals("token-1", tokens.token().get(), "still valid, and the new one cannot be had");
        // Retried after about five seconds, jittered by a fifth either way.
        Duration retry = Duration.between(clock.instant(), timer.nextDue());
        assertTrue(retry.compareTo(Duration.ofSeconds(4)) >= 0 && retry.compareTo(Duration.ofSeconds(6)) <= 0, retry.toString());
        clock.advance(Duration.ofSeconds(6));
        timer.runDue();
        awaitRefreshes(3);
        Duration longer = Duration.between(clock.instant(), timer.nextDue());
        assertTrue(longer.compareTo(Duration.ofSeconds(8)) >= 0, "backs off: " + longer);
        status = 200;
        clock.advance(Duration.ofSeconds(12));
        timer.runDue();
        awaitRefreshes(4);
        assertEquals(List.of(true, false, false, true), refreshes);
        assertEquals("token-2", tokens.token().get());
    }

    @Test
    void anExpiredTokenIsNeverHandedOut() throws Exception {
        lifetimeSeconds = 3600;
        OAuth2TokenSource tokens = source();
        clock.advance(Duration.ofMinutes(61));
        assertEquals("token-2", tokens.token().get(), "past expiry the caller waits for the new one");
        status = 503;
        clock.advance(Duration.ofMinutes(61));
        ExecutionException failure = assertThrows(ExecutionException.class, () -> tokens.token().get(10, TimeUnit.SECONDS));
        assertTrue(failure.getCause() instanceof OAuth2TokenSource.TokenException, failure.toString());
        assertTrue(failure.getCause().getMessage().contains("answered 503"), failure.getCause().getMessage());
        assertEquals(0.0, tokens.secondsToExpiry());
    }

    @Test
    void theExpiryGaugeCountsDownAndCloseStopsTheSchedule() throws Exception {
        lifetimeSeconds = 3600;
        OAuth2TokenSource tokens = source();
        assertEquals(3600.0, tokens.secondsToExpiry());
        clock.advance(Duration.ofMinutes(10));
        assertEquals(3000.0, tokens.secondsToExpiry());
        tokens.close();
        clock.advance(Duration.ofMinutes(45));
        timer.runDue();
        Thread.sleep(100);
        assertEquals(1, issued.get(), "no refresh after close");
    }

    @Test
    void anUnreachableEndpointFailsWithItsAddressButNotTheSecret() throws Exception {
        lifetimeSeconds = 3600;
        URI uri = URI.create("http://127.0.0.1:" + endpoint.getAddress().getPort() + "/token");
        endpoint.stop(0);
        OAuth2TokenSource tokens = new OAuth2TokenSource(new OAuth2Config(uri, "app", new Secret("s3cret"), "scope",
                TrustSource.SYSTEM), executor, clock, timer, refreshes::add);
        ExecutionException failure = assertThrows(ExecutionException.class, () -> tokens.token().get(10, TimeUnit.SECONDS));
        assertTrue(failure.getCause() instanceof OAuth2TokenSource.TokenException, failure.toString());
        assertTrue(failure.getCause().getMessage().contains("/token unreachable"), failure.getCause().getMessage());
        assertTrue(!failure.getCause().getMessage().contains("s3cret"));
    }

    private void awaitRefreshes(int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (refreshes.size() < count && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(count, refreshes.size(), refreshes.toString());
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

    /** Runs what is due on the test's clock when told to: time passes only when the test says so. */
    private static final class ManualTimer implements OAuth2TokenSource.RefreshTimer {
        private record Task(Instant due, Runnable task, CompletableFuture<Void> handle) {
        }

        private final Clock clock;
        private final List<Task> tasks = new CopyOnWriteArrayList<>();

        ManualTimer(Clock clock) {
            this.clock = clock;
        }

        @Override
        public Future<?> schedule(Runnable task, Duration delay) {
            Task scheduled = new Task(clock.instant().plus(delay), task, new CompletableFuture<>());
            tasks.add(scheduled);
            return scheduled.handle();
        }

        Instant nextDue() {
            return tasks.stream().filter(t -> !t.handle().isDone()).map(Task::due).min(Instant::compareTo)
                    .orElseThrow(() -> new AssertionError("nothing scheduled"));
        }

        void runDue() {
            for (Task t : tasks) {
                if (!t.due().isAfter(clock.instant()) && t.handle().complete(null)) {
                    tasks.remove(t);
                    t.task().run();
                }
            }
        }
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
