package org.smtptlsproxy.server.lifecycle;

import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.HostPort;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.runtime.ListenerBindException;
import org.smtptlsproxy.runtime.SpoolUnavailableException;
import org.smtptlsproxy.runtime.ProxyRuntime;
import org.smtptlsproxy.server.ProxyVersion;
import org.smtptlsproxy.server.http.OpsHttpServer;

/** The whole running service: metrics registry, the operators' HTTP endpoint, the proxy runtime. */
public final class ProxyServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ProxyServer.class);

    private final PrometheusMeterRegistry registry;
    private final ProxyRuntime runtime;
    private final OpsHttpServer opsServer;
    /** Where the endpoint serves: a reload cannot move it. */
    private final HostPort metricsAddress;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    private ProxyServer(PrometheusMeterRegistry registry, ProxyRuntime runtime, OpsHttpServer opsServer,
                        HostPort metricsAddress) {
        this.registry = registry;
        this.runtime = runtime;
        this.opsServer = opsServer;
        this.metricsAddress = metricsAddress;
    }

    /**
     * @throws StartupException with a message fit for an administrator (address in use, TLS setup)
     */
    public static ProxyServer start(ProxyConfig config) throws StartupException {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        // process_files_open_files / process_files_max_files: a relay holds two sockets per session.
        new FileDescriptorMetrics().bindTo(registry);
        ProxyRuntime runtime = new ProxyRuntime(config, new ProxyMetrics(registry));
        // The endpoint comes up first and says "not ready" until every listener is bound.
        java.util.concurrent.atomic.AtomicBoolean bound = new java.util.concurrent.atomic.AtomicBoolean();
        OpsHttpServer ops;
        HostPort metricsAddress = config.metrics().address();
        try {
            ops = OpsHttpServer.start(metricsAddress, registry, () -> bound.get() && !runtime.isDraining(),
                    runtime::spoolHealth, runtime.clients()::toJson);
        } catch (IOException e) {
            runtime.close();
            throw new StartupException("metrics.address cannot listen on " + metricsAddress + ": "
                    + ListenerBindException.reason(e));
        }
        try {
            runtime.start();
        } catch (SSLException e) {
            ops.close();
            runtime.close();
            throw new StartupException("TLS setup failed: " + e.getMessage());
        } catch (ListenerBindException | SpoolUnavailableException e) {
            ops.close();
            runtime.close();
            throw new StartupException(e.getMessage());
        } catch (InterruptedException e) {
            ops.close();
            runtime.close();
            Thread.currentThread().interrupt();
            throw new StartupException("interrupted while starting");
        } catch (RuntimeException e) {
            ops.close();
            runtime.close();
            if (e.getCause() instanceof BindException || e instanceof UncheckedIOException) {
                throw new StartupException("cannot listen: " + ListenerBindException.reason(e));
            }
            throw e;
        }
        bound.set(true);
        publishBuildInfo(runtime);
        LOG.info("smtp-tls-proxy {} running; metrics on http://{}:{}/metrics", ProxyVersion.version(),
                metricsAddress.host(), ops.port());
        return new ProxyServer(registry, runtime, ops, metricsAddress);
    }

    public Map<String, InetSocketAddress> listenerAddresses() {
        return runtime.boundAddresses();
    }

    public int metricsPort() {
        return opsServer.port();
    }

    /** SIGTERM: drain within {@code timeout} (see {@link ProxyRuntime#drain}), then close. */
    public void drainAndClose(java.time.Duration timeout) {
        try {
            int cut = runtime.drain(timeout);
            LOG.info("drained{}", cut == 0 ? "" : "; " + cut + " session(s) cut off at the deadline");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        close();
    }

    /**
     * Applies a validated config to new connections (see {@link ProxyRuntime#reload}); returns
     * what only a restart can change.
     *
     * @throws SSLException when a TLS context cannot be built from it (nothing changed)
     */
    public List<String> reload(ProxyConfig next) throws SSLException {
        List<String> needRestart = new ArrayList<>(runtime.reload(next));
        publishBuildInfo(runtime);
        if (!next.metrics().address().equals(metricsAddress)) {
            needRestart.add("metrics.address " + next.metrics().address() + " needs a restart; still serving "
                    + metricsAddress);
        }
        return needRestart;
    }

    /** build_info follows the TLS provider in force: a reload may switch it. */
    private static void publishBuildInfo(ProxyRuntime runtime) {
        runtime.metrics().buildInfo(ProxyVersion.version(), ProxyVersion.nettyVersion(), runtime.tlsProviderLabel());
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    public ProxyRuntime runtime() {
        return runtime;
    }

    /** Idempotent: the shutdown hook and a caller may both close. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            opsServer.close();
            runtime.close();
        }
    }

    /** A start-up failure an administrator can fix; printed without a stack trace. */
    public static final class StartupException extends Exception {
        public StartupException(String message) {
            super(message);
        }
    }
}
