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
import java.util.concurrent.Executor;
import javax.net.ssl.SSLContext;
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
 * session; it is fetched again ahead of expiry, when less than ten minutes or a tenth of its
 * lifetime remain (whichever is longer), and meanwhile the current one is still used. At most one
 * fetch runs at a time. Fetches run on the HTTP client's threads, never on an event loop; the
 * secret and the tokens never reach a log line or an exception message.
 */
public final class OAuth2TokenSource {

    private static final Duration REFRESH_MARGIN = Duration.ofMinutes(10);
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    /** A token response is a few KB; anything far larger is not one. */
    private static final int MAX_RESPONSE_CHARS = 64 * 1024;

    private final OAuth2Config config;
    private final HttpClient http;
    private final Clock clock;
    private Token current;
    private CompletableFuture<Token> fetching;

    private record Token(String value, Instant expiresAt, Instant refreshAt) {
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

    public OAuth2TokenSource(OAuth2Config config, Executor executor) throws GeneralSecurityException {
        this(config, executor, Clock.systemUTC());
    }

    OAuth2TokenSource(OAuth2Config config, Executor executor, Clock clock) throws GeneralSecurityException {
        this.config = config;
        this.clock = clock;
        this.http = HttpClient.newBuilder()
                .sslContext(sslContext(config.trust()))
                .connectTimeout(TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER)
                .executor(executor)
                .build();
    }

    /** A usable access token; fails with a {@link TokenException}. */
    public synchronized CompletableFuture<String> token() {
        Instant now = clock.instant();
        Token token = current;
        if (token != null && now.isBefore(token.refreshAt())) {
            return CompletableFuture.completedFuture(token.value());
        }
        if (fetching == null) {
            CompletableFuture<Token> started = fetch();
            fetching = started;
            started.whenComplete((fetched, failure) -> {
                synchronized (this) {
                    if (fetched != null) {
                        current = fetched;
                    }
                    if (fetching == started) {
                        fetching = null;
                    }
                }
            });
        }
        if (token != null && now.isBefore(token.expiresAt())) {
            return CompletableFuture.completedFuture(token.value()); // refreshing early; this one still works
        }
        return fetching.thenApply(Token::value);
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
        return new Token(value, expiresAt, expiresAt.minus(margin));
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
