package org.smtptlsproxy.auth;

import java.io.StringReader;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.OAuth2Config;
import org.smtptlsproxy.config.TrustSource;
import org.smtptlsproxy.tls.TlsFailures;
import org.smtptlsproxy.tls.TrustAnchors;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * Access tokens for SASL XOAUTH2 upstream, by the OAuth 2.0 client-credentials grant (RFC 6749
 * section 4.4), as Microsoft's identity platform issues them for SMTP. One token serves every
 * session. The next one is fetched on a schedule, ahead of time: a little before less than ten
 * minutes or a tenth of the lifetime remain (whichever is longer), so that a session starting
 * after that point already gets the new token. A failed fetch is retried with a growing, jittered
 * delay; meanwhile the current token keeps serving, but only while it is still valid. At most one
 * fetch runs at a time. Fetches run on the HTTP client's threads and the timer only starts them,
 * never on an event loop; the secret and the tokens never reach a log line or an exception
 * message.
 */
public final class OAuth2TokenSource implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(OAuth2TokenSource.class);
    private static final Duration REFRESH_MARGIN = Duration.ofMinutes(10);
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    /** Refreshes of many instances sharing one app registration spread over up to this much. */
    private static final Duration MAX_REFRESH_JITTER = Duration.ofSeconds(30);
    /**
     * A token shorter-lived than the margin would be due for refresh the moment it arrives: it is
     * used this long at least, or every session would fetch one.
     */
    private static final Duration MIN_USE = Duration.ofSeconds(10);
    private static final Duration FIRST_RETRY = Duration.ofSeconds(5);
    private static final Duration MAX_RETRY = Duration.ofMinutes(5);
    /** A token response is a few KB; anything far larger is not one. */
    private static final int MAX_RESPONSE_CHARS = 64 * 1024;

    private final OAuth2Config config;
    private final HttpClient http;
    private final Clock clock;
    private final RefreshTimer timer;
    private final RefreshListener listener;
    /** The thread behind {@link #timer} when this source made it (null: none, or the test's). */
    private final ScheduledExecutorService ownTimer;
    private Token current;
    private CompletableFuture<Token> fetching;
    /** Fetches failed in a row; a warning is logged when a streak begins. */
    private int failures;
    private Future<?> nextRefresh;
    private boolean closed;

    private record Token(String value, Instant fetchedAt, Instant expiresAt, Instant refreshAt) {
    }

    /** Runs a task after a delay; tests drive it with their own clock. */
    @FunctionalInterface
    interface RefreshTimer {
        Future<?> schedule(Runnable task, Duration delay);
    }

    /** Told about every fetch, for the metrics. */
    public interface RefreshListener {
        void refreshed(boolean success);

        RefreshListener NONE = success -> { };
    }

    /**
     * A token endpoint that could not be used; the message is fit for a 4xx and a log line. The
     * futures carry it (wrapped in a {@code CompletionException} between stages).
     */
    public static final class TokenException extends RuntimeException {
        TokenException(String message) {
            super(message, null, false, false);
        }
    }

    /** A source that only fetches when asked (probe: one token, then exit). */
    public OAuth2TokenSource(OAuth2Config config, Executor executor) throws GeneralSecurityException {
        this(config, executor, Clock.systemUTC(), null, null, RefreshListener.NONE);
    }

    /**
     * A source that refreshes on a schedule, on a timer thread of its own; {@link #close()} stops
     * it. The first token is fetched at once.
     */
    public static OAuth2TokenSource scheduled(OAuth2Config config, Executor executor, RefreshListener listener)
            throws GeneralSecurityException {
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, runnable -> {
            Thread thread = new Thread(runnable, "oauth2-refresh");
            thread.setDaemon(true);
            return thread;
        });
        timer.setRemoveOnCancelPolicy(true);
        OAuth2TokenSource source;
        try {
            source = new OAuth2TokenSource(config, executor, Clock.systemUTC(),
                    (task, delay) -> timer.schedule(task, delay.toNanos(), TimeUnit.NANOSECONDS), timer, listener);
        } catch (GeneralSecurityException | RuntimeException e) {
            timer.shutdownNow();
            throw e;
        }
        source.fetchNow();
        return source;
    }

    /** For tests: their clock and their timer. */
    OAuth2TokenSource(OAuth2Config config, Executor executor, Clock clock, RefreshTimer timer, RefreshListener listener)
            throws GeneralSecurityException {
        this(config, executor, clock, timer, null, listener);
    }

    private OAuth2TokenSource(OAuth2Config config, Executor executor, Clock clock, RefreshTimer timer,
                              ScheduledExecutorService ownTimer, RefreshListener listener) throws GeneralSecurityException {
        this.config = config;
        this.clock = clock;
        this.timer = timer;
        this.ownTimer = ownTimer;
        this.listener = listener;
        this.http = HttpClient.newBuilder()
                .sslContext(sslContext(config.trust()))
                .connectTimeout(TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER)
                .executor(executor)
                .build();
    }

    /**
     * A usable access token; fails with a {@link TokenException}. Once the refresh point has
     * passed, a caller waits for the fetch under way rather than take the old token; only when
     * fetching has failed does the old one serve, and only until it expires.
     */
    public synchronized CompletableFuture<String> token() {
        Instant now = clock.instant();
        Token token = current;
        if (token != null && now.isBefore(token.refreshAt())) {
            return CompletableFuture.completedFuture(token.value());
        }
        boolean stillValid = token != null && now.isBefore(token.expiresAt());
        if (stillValid && failures > 0) {
            return CompletableFuture.completedFuture(token.value()); // the endpoint fails; a retry is scheduled
        }
        CompletableFuture<Token> next = fetching != null ? fetching : startFetch();
        if (!stillValid) {
            return next.thenApply(Token::value);
        }
        return next.handle((fetched, failure) -> {
            if (fetched != null) {
                return fetched.value();
            }
            if (clock.instant().isBefore(token.expiresAt())) {
                return token.value();
            }
            throw failure instanceof RuntimeException e ? e : new CompletionException(failure);
        });
    }

    /** Seconds until the current token expires; 0 without one. */
    public synchronized double secondsToExpiry() {
        Token token = current;
        return token == null ? 0 : Math.max(0, Duration.between(clock.instant(), token.expiresAt()).toMillis() / 1000.0);
    }

    /** Stops the schedule; a caller still holding this source can fetch on demand. */
    @Override
    public synchronized void close() {
        closed = true;
        if (nextRefresh != null) {
            nextRefresh.cancel(false);
            nextRefresh = null;
        }
        if (ownTimer != null) {
            ownTimer.shutdownNow();
        }
    }

    synchronized void fetchNow() {
        if (fetching == null) {
            startFetch();
        }
    }

    /** Starts a fetch; the caller holds the lock and has checked that none is under way. */
    private CompletableFuture<Token> startFetch() {
        CompletableFuture<Token> started = fetch();
        fetching = started;
        started.whenComplete((fetched, failure) -> fetched(started, fetched, failure));
        return started;
    }

    private synchronized void fetched(CompletableFuture<Token> which, Token fetched, Throwable failure) {
        if (fetching == which) {
            fetching = null;
        }
        if (fetched != null) {
            if (failures > 0) {
                LOG.info("upstream XOAUTH2: token endpoint {} answered again after {} failed fetch(es); new token in use",
                        endpoint(), failures);
            }
            failures = 0;
            current = fetched;
            Duration beforeRefreshPoint = Duration.between(fetched.fetchedAt(), fetched.refreshAt());
            Duration jitter = random(min(MAX_REFRESH_JITTER, beforeRefreshPoint.dividedBy(10)));
            schedule(Duration.between(clock.instant(), fetched.refreshAt().minus(jitter)));
            // Told after the next refresh is scheduled, so whoever hears of it sees the schedule too.
            listener.refreshed(true);
            return;
        }
        failures++;
        Token token = current;
        if (failures == 1) {
            // Once per streak: a down endpoint must not flood the log; the metric counts each try.
            LOG.warn("upstream XOAUTH2: fetching a new token failed ({}); {}", TlsFailures.reason(failure),
                    token != null && clock.instant().isBefore(token.expiresAt())
                            ? "the current token serves until it expires at " + token.expiresAt() + "; retrying"
                            : "no valid token: messages are deferred with 451 until one is had; retrying");
        }
        Duration backoff = min(MAX_RETRY, FIRST_RETRY.multipliedBy(1L << Math.min(failures - 1, 16)));
        // Plus or minus a fifth, so that instances that failed together do not retry together.
        schedule(backoff.multipliedBy(8).dividedBy(10).plus(random(backoff.multipliedBy(4).dividedBy(10))));
        listener.refreshed(false);
    }

    private void schedule(Duration delay) {
        if (timer == null || closed) {
            return;
        }
        if (nextRefresh != null) {
            nextRefresh.cancel(false);
        }
        nextRefresh = timer.schedule(this::fetchNow, delay.isNegative() ? Duration.ZERO : delay);
    }

    private static Duration random(Duration bound) {
        long millis = bound.toMillis();
        return millis <= 0 ? Duration.ZERO : Duration.ofMillis(ThreadLocalRandom.current().nextLong(millis + 1));
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private CompletableFuture<Token> fetch() {
        String form = "grant_type=client_credentials"
                + "&client_id=" + encode(config.clientId())
                + "&client_secret=" + encode(config.clientSecret().value())
                + "&scope=" + encode(config.scope());
        HttpRequest request = HttpRequest.newBuilder(config.tokenEndpoint())
                .timeout(TIMEOUT)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(form, StandardCharsets.UTF_8))
                .build();
        Instant requested = clock.instant();
        CompletableFuture<HttpResponse<String>> sent;
        try {
            sent = http.sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(new TokenException("token endpoint " + endpoint() + ": " + TlsFailures.reason(e)));
        }
        return sent.handle((response, failure) -> {
            if (failure != null) {
                throw new TokenException("token endpoint " + endpoint() + " unreachable: " + TlsFailures.reason(failure));
            }
            return parse(response, requested);
        });
    }

    private Token parse(HttpResponse<String> response, Instant requested) {
        Map<?, ?> body = json(response.body());
        if (response.statusCode() != 200) {
            Object error = body.get("error");
            Object description = body.get("error_description");
            throw new TokenException("token endpoint " + endpoint() + " answered " + response.statusCode()
                    + (error == null ? "" : ": " + firstLine(error))
                    + (description == null ? "" : " (" + firstLine(description) + ")"));
        }
        Object token = body.get("access_token");
        Object expiresIn = body.get("expires_in");
        if (!(token instanceof String value) || value.isBlank()) {
            throw new TokenException("token endpoint " + endpoint() + " sent no access_token");
        }
        long seconds;
        try {
            seconds = expiresIn == null ? 3600 : Long.parseLong(String.valueOf(expiresIn).strip());
        } catch (NumberFormatException e) {
            throw new TokenException("token endpoint " + endpoint() + " sent an unreadable expires_in");
        }
        Duration lifetime = Duration.ofSeconds(Math.max(0, seconds));
        Duration margin = lifetime.dividedBy(10).compareTo(REFRESH_MARGIN) > 0 ? lifetime.dividedBy(10) : REFRESH_MARGIN;
        Instant expiresAt = requested.plus(lifetime);
        Instant refreshAt = expiresAt.minus(margin);
        Instant earliest = requested.plus(min(MIN_USE, lifetime.dividedBy(2)));
        return new Token(value, requested, expiresAt, refreshAt.isBefore(earliest) ? earliest : refreshAt);
    }

    /** JSON is YAML: SnakeYAML's safe loader, bounded, reads a token response without another library. */
    private Map<?, ?> json(String body) {
        if (body == null || body.isBlank()) {
            return Map.of();
        }
        if (body.length() > MAX_RESPONSE_CHARS) {
            throw new TokenException("token endpoint " + endpoint() + " sent " + body.length() + " characters, not a token response");
        }
        LoaderOptions options = new LoaderOptions();
        options.setMaxAliasesForCollections(0);
        options.setCodePointLimit(MAX_RESPONSE_CHARS);
        try {
            Object parsed = new Yaml(new SafeConstructor(options)).load(new StringReader(body));
            return parsed instanceof Map<?, ?> map ? map : Map.of();
        } catch (YAMLException | ClassCastException e) {
            return Map.of();
        }
    }

    private String endpoint() {
        // Scheme, host and path: a query string could carry something secret.
        return config.tokenEndpoint().getScheme() + "://" + config.tokenEndpoint().getRawAuthority()
                + config.tokenEndpoint().getRawPath();
    }

    private static String firstLine(Object text) {
        String line = String.valueOf(text).strip();
        int end = line.indexOf('\n');
        line = end < 0 ? line : line.substring(0, end).strip();
        return line.length() > 160 ? line.substring(0, 160) + "..." : line;
    }

    private static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    private static SSLContext sslContext(TrustSource trust) throws GeneralSecurityException {
        if (trust.isSystem()) {
            return SSLContext.getDefault();
        }
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, TrustAnchors.factoryFor(trust).getTrustManagers(), null);
        return context;
    }
}
