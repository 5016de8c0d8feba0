package org.smtptlsproxy.server.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import java.util.Optional;
import java.util.function.Supplier;
import org.smtptlsproxy.config.HostPort;

/**
 * The operators' endpoint: {@code GET /metrics} (Prometheus text, or OpenMetrics when the scraper
 * asks for it), {@code /health}, {@code /ready} and {@code /clients}; 404 for anything else.
 * {@code /ready} says whether the listeners accept; it does not depend on the upstream (with a
 * spool, a listener still accepts while the upstream is down), and {@code /health} adds the
 * spool's state when there is one. It
 * runs on its own thread, so a slow scraper never touches the SMTP event loops.
 */
public final class OpsHttpServer implements AutoCloseable {

    private static final String OPENMETRICS = "application/openmetrics-text";
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private final HttpServer server;
    private final ExecutorService executor;
    private final PrometheusMeterRegistry registry;
    private final BooleanSupplier ready;
    private final Supplier<Optional<String>> spoolHealth;
    private final Supplier<String> clientsJson;

    private OpsHttpServer(HttpServer server, ExecutorService executor, PrometheusMeterRegistry registry,
                          BooleanSupplier ready, Supplier<Optional<String>> spoolHealth, Supplier<String> clientsJson) {
        this.server = server;
        this.executor = executor;
        this.registry = registry;
        this.ready = ready;
        this.spoolHealth = spoolHealth;
        this.clientsJson = clientsJson;
    }

    public static OpsHttpServer start(HostPort address, PrometheusMeterRegistry registry, BooleanSupplier ready,
                                      Supplier<Optional<String>> spoolHealth, Supplier<String> clientsJson)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(address.host(), address.port()), 64);
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread thread = new Thread(r, "ops-http");
            thread.setDaemon(true);
            return thread;
        });
        OpsHttpServer ops = new OpsHttpServer(server, executor, registry, ready, spoolHealth, clientsJson);
        server.createContext("/", ops::handle);
        server.setExecutor(executor);
        server.start();
        return ops;
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String method = exchange.getRequestMethod();
            if (!method.equals("GET") && !method.equals("HEAD")) {
                exchange.getResponseHeaders().set("Allow", "GET, HEAD");
                send(exchange, 405, "text/plain; charset=utf-8", "method not allowed\n");
                return;
            }
            switch (exchange.getRequestURI().getPath()) {
                case "/metrics" -> metrics(exchange);
                case "/health" -> send(exchange, 200, "text/plain; charset=utf-8",
                        "ok\n" + spoolHealth.get().map(line -> line + "\n").orElse(""));
                case "/ready" -> {
                    boolean isReady = ready.getAsBoolean();
                    send(exchange, isReady ? 200 : 503, "text/plain; charset=utf-8", isReady ? "ready\n" : "not ready\n");
                }
                case "/clients" -> send(exchange, 200, "application/json", clientsJson.get());
                default -> send(exchange, 404, "text/plain; charset=utf-8", "not found\n");
            }
        }
    }

    private void metrics(HttpExchange exchange) throws IOException {
        String accept = exchange.getRequestHeaders().getFirst("Accept");
        String contentType = accept != null && accept.contains(OPENMETRICS)
                ? OPENMETRICS + "; version=1.0.0; charset=utf-8" : PROMETHEUS_TEXT;
        send(exchange, 200, contentType, registry.scrape(contentType));
    }

    private static void send(HttpExchange exchange, int status, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        boolean head = exchange.getRequestMethod().equals("HEAD");
        exchange.sendResponseHeaders(status, head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
