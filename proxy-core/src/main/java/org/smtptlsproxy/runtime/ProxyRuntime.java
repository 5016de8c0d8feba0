package org.smtptlsproxy.runtime;

import io.micrometer.core.instrument.binder.netty4.NettyAllocatorMetrics;
import io.micrometer.core.instrument.binder.netty4.NettyEventExecutorMetrics;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.time.Duration;
import java.security.GeneralSecurityException;
import org.smtptlsproxy.auth.OAuth2TokenSource;
import org.smtptlsproxy.auth.UserDirectory;
import org.smtptlsproxy.config.AuthMechanism;
import org.smtptlsproxy.config.UpstreamAuth;
import org.smtptlsproxy.config.DeliveryMode;
import org.smtptlsproxy.delivery.CutThroughDelivery;
import org.smtptlsproxy.delivery.Delivery;
import org.smtptlsproxy.inbound.Shutdown;
import org.smtptlsproxy.metrics.ClientRegistry;
import org.smtptlsproxy.smtp.Replies;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.config.ListenerConfig;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.inbound.AuthThrottle;
import org.smtptlsproxy.inbound.ConnectionLimiter;
import org.smtptlsproxy.inbound.InboundInitializer;
import org.smtptlsproxy.inbound.ListenerContext;
import org.smtptlsproxy.metrics.ProxyMetrics;
import io.netty.util.concurrent.MultithreadEventExecutorGroup;
import org.smtptlsproxy.outbound.UpstreamConnector;
import org.smtptlsproxy.outbound.UpstreamPool;
import org.smtptlsproxy.tls.TicketKeys;
import org.smtptlsproxy.tls.TlsContextFactory;

/**
 * The running proxy for one configuration: event loops, TLS contexts, the upstream connector and
 * one bound server channel per listener.
 */
public final class ProxyRuntime implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ProxyRuntime.class);

    private volatile ProxyConfig config;
    private final ProxyMetrics metrics;
    private final Transport transport;
    private TlsContextFactory tlsFactory;
    private final EventLoopGroup acceptors;
    private final EventLoopGroup workers;
    private final ExecutorService resolver;
    /** Password hashing (slow on purpose) and OAuth2 token fetches: off the event loops, two threads. */
    private final ExecutorService authWork;
    private final List<Channel> serverChannels = new ArrayList<>();
    private final Map<String, InetSocketAddress> boundAddresses = new LinkedHashMap<>();
    /** Per bound listener: the context new connections get; a reload replaces it. */
    private final Map<String, AtomicReference<ListenerContext>> listenerContexts = new LinkedHashMap<>();
    /** The config each listener was bound with: its address cannot change without a restart. */
    private final Map<String, ListenerConfig> boundListeners = new LinkedHashMap<>();
    /** Read by the spool's sender on the event loops: a reload's new pool serves its next attempt. */
    private volatile UpstreamPool pool;
    /** Null unless a listener spools. */
    private ProxySpool spool;
    /** The XOAUTH2 token source of the config in force (null without XOAUTH2); it refreshes on a schedule. */
    private OAuth2TokenSource tokens;
    private ConnectionLimiter limiter;
    private AuthThrottle authThrottle;
    private final ChannelGroup sessions;
    private final ClientRegistry clients = new ClientRegistry();
    private final Shutdown shutdown = new Shutdown();
    /** Inbound session-ticket keys: the process's, kept across reloads so that senders still resume. */
    private final TicketKeys ticketKeys = new TicketKeys();

    public ProxyRuntime(ProxyConfig config, ProxyMetrics metrics) {
        this(config, metrics, Transport.best());
    }

    public ProxyRuntime(ProxyConfig config, ProxyMetrics metrics, Transport transport) {
        this.config = config;
        this.metrics = metrics;
        this.transport = transport;
        this.tlsFactory = TlsContextFactory.forProvider(config.tlsProvider());
        this.acceptors = transport.newGroup(1, new DefaultThreadFactory("smtp-accept", true));
        // One loop per core: TLS work is CPU-bound, and pooled upstream sessions are per loop.
        this.workers = transport.newGroup(Runtime.getRuntime().availableProcessors(), new DefaultThreadFactory("smtp-io", true));
        this.resolver = Executors.newFixedThreadPool(2, new DefaultThreadFactory("upstream-dns", true));
        this.authWork = Executors.newFixedThreadPool(2, new DefaultThreadFactory("auth", true));
        this.sessions = new DefaultChannelGroup("smtp-sessions", GlobalEventExecutor.INSTANCE);
        new NettyEventExecutorMetrics(workers).bindTo(metrics.registry());
        if (ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider provider) {
            new NettyAllocatorMetrics(provider).bindTo(metrics.registry());
        }
    }

    /**
     * Binds every listener.
     *
     * @throws SSLException when a TLS context cannot be built from the (validated) material
     * @throws ListenerBindException when an address is taken (or otherwise cannot be bound)
     */
    public synchronized ProxyRuntime start() throws SSLException, InterruptedException {
        replaceTokenSource(tokenSource(config.upstream().auth()));
        pool = newPool(config, tlsFactory, tokens);
        limiter = new ConnectionLimiter(config.limits().maxConnections(), config.limits().maxConnectionsPerClient());
        authThrottle = new AuthThrottle(config.limits().authFailuresPerClient(), config.limits().authFailureWindow());
        if (config.spools()) {
            spool = ProxySpool.start(config.spool(), config.hostname(), metrics.registry(), workers,
                    () -> new CutThroughDelivery(pool));
        }
        for (int index = 0; index < config.listeners().size(); index++) {
            ListenerConfig listener = config.listeners().get(index);
            metrics.registerListener(listener.name());
            if (listener.tls().mode() != InboundTlsMode.NONE) {
                metrics.registerTlsListener(listener.name(), listener.tls().protocols());
            }
            AtomicReference<ListenerContext> context = new AtomicReference<>(newContext(config, listener, pool, tlsFactory));
            ServerBootstrap bootstrap = new ServerBootstrap()
                    .group(acceptors, workers)
                    .channel(transport.serverChannel())
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new InboundInitializer(context::get, sessions));
            InetSocketAddress address = new InetSocketAddress(listener.address().host(), listener.address().port());
            ChannelFuture binding = bootstrap.bind(address).await();
            if (!binding.isSuccess()) {
                throw new ListenerBindException(index, listener.name(), listener.address(), binding.cause());
            }
            Channel channel = binding.channel();
            serverChannels.add(channel);
            InetSocketAddress bound = (InetSocketAddress) channel.localAddress();
            boundAddresses.put(listener.name(), bound);
            listenerContexts.put(listener.name(), context);
            boundListeners.put(listener.name(), listener);
            LOG.info("listener {} on {} (tls {})", listener.name(), bound, listener.tls().mode().name().toLowerCase(Locale.ROOT));
        }
        certificatesInForce(config);
        // Off the I/O loops: rotating waits for a reload in progress.
        long rotation = TicketKeys.ROTATION.toMillis();
        acceptors.next().scheduleAtFixedRate(() -> authWork.execute(this::rotateTicketKeys), rotation, rotation,
                TimeUnit.MILLISECONDS);
        LOG.info("relaying to {} ({}, TLS provider {}, transport {})", config.upstream().address(),
                config.upstream().tls().mode().name().toLowerCase(Locale.ROOT), tlsFactory.providerName(), transport.name());
        return this;
    }

    /**
     * SIGHUP: applies {@code next} to new connections and new upstream sessions; sessions in
     * flight keep what they started with. Everything is built before anything is swapped, so a
     * TLS context that cannot be built leaves the running config untouched. A listener's address
     * (and a listener added or removed) needs a restart: the returned lines say which; the rest
     * of the new config applies and the old addresses keep serving.
     *
     * @throws SSLException when a new TLS context cannot be built (nothing changed)
     */
    public synchronized List<String> reload(ProxyConfig next) throws SSLException {
        OAuth2TokenSource nextTokens = tokenSource(next.upstream().auth());
        try {
            return apply(next, nextTokens);
        } catch (SSLException | RuntimeException e) {
            if (nextTokens != null) {
                nextTokens.close(); // its refresh timer must not outlive a refused reload
            }
            throw e;
        }
    }

    private List<String> apply(ProxyConfig next, OAuth2TokenSource nextTokens) throws SSLException {
        TlsContextFactory nextFactory = TlsContextFactory.forProvider(next.tlsProvider());
        UpstreamPool nextPool = newPool(next, nextFactory, nextTokens);
        Map<String, ListenerContext> nextContexts = new LinkedHashMap<>();
        List<String> needRestart = new ArrayList<>();
        for (ListenerConfig listener : next.listeners()) {
            ListenerConfig bound = boundListeners.get(listener.name());
            if (bound == null) {
                needRestart.add("listener " + listener.name() + " is new: it needs a restart to be bound");
                continue;
            }
            if (!bound.address().equals(listener.address())) {
                needRestart.add("listener " + listener.name() + " moves from " + bound.address() + " to "
                        + listener.address() + ": that needs a restart; it keeps serving " + bound.address());
            }
            nextContexts.put(listener.name(), newContext(next, listener, nextPool, nextFactory));
        }
        for (String name : boundListeners.keySet()) {
            if (!nextContexts.containsKey(name)) {
                // Still bound: it keeps its own settings and TLS material (its files may be gone),
                // and relays with the new upstream and limits.
                needRestart.add("listener " + name + " was removed: it keeps serving until a restart");
                ListenerContext old = listenerContexts.get(name).get();
                nextContexts.put(name, context(next, old.listener(), old.tls(), old.users(), nextPool));
            }
        }
        spoolChanges(next, needRestart);
        nextContexts.forEach((name, context) -> listenerContexts.get(name).set(context));
        limiter.setLimits(next.limits().maxConnections(), next.limits().maxConnectionsPerClient());
        authThrottle.setLimits(next.limits().authFailuresPerClient(), next.limits().authFailureWindow());
        UpstreamPool previousPool = pool;
        pool = nextPool;
        previousPool.retire();
        replaceTokenSource(nextTokens);
        tlsFactory = nextFactory;
        config = next;
        certificatesInForce(next);
        return needRestart;
    }

    /** The spool is opened at start-up only: what a reload cannot change says so. */
    private void spoolChanges(ProxyConfig next, List<String> needRestart) {
        if (next.spools() && spool == null) {
            needRestart.add("delivery: spool needs a restart to open spool.directory; until then those listeners relay cut-through");
        } else if (spool != null && !spool.config().equals(next.spool())) {
            needRestart.add("spool settings changed: they apply after a restart; the spool in " + spool.directory()
                    + " keeps its current settings");
        }
    }

    /**
     * The expiry gauges of the configured certificates. A listener that a reload removed keeps
     * serving, and keeps its series, with the certificate it was bound with.
     */
    private void certificatesInForce(ProxyConfig config) {
        for (ListenerConfig listener : config.listeners()) {
            if (boundListeners.containsKey(listener.name())) {
                metrics.certificates().listener(listener.name(), leaf(listener.tls().identity()));
                metrics.certificates().listenerEc(listener.name(), leaf(listener.tls().ecIdentity()));
            }
        }
        metrics.certificates().upstreamClient(leaf(config.upstream().tls().clientIdentity()));
    }

    private static java.security.cert.X509Certificate leaf(org.smtptlsproxy.config.TlsIdentity identity) {
        return identity == null || identity.chain().isEmpty() ? null : identity.chain().get(0);
    }

    private UpstreamPool newPool(ProxyConfig config, TlsContextFactory tlsFactory, OAuth2TokenSource tokens)
            throws SSLException {
        SslContext upstreamTls = tlsFactory.clientContext(config.upstream().tls());
        UpstreamConnector connector = new UpstreamConnector(config.upstream(), upstreamTls, config.hostname(),
                metrics, transport, resolver, tokens);
        return new UpstreamPool(connector, config.upstream().pool());
    }

    /** The old config's token source stops refreshing; sessions still holding it fetch on demand. */
    private void replaceTokenSource(OAuth2TokenSource next) {
        OAuth2TokenSource previous = tokens;
        tokens = next;
        if (previous != null) {
            previous.close();
        }
        if (next != null) {
            metrics.oauth2TokenSource(next::secondsToExpiry);
        }
    }

    /**
     * One token source per config: every session shares its token. The first token is asked for
     * at once, so that a wrong secret or an unreachable endpoint is in the log at start-up (or
     * reload), not only in the 451s of the first senders.
     */
    private OAuth2TokenSource tokenSource(UpstreamAuth auth) throws SSLException {
        if (auth.mechanism() != AuthMechanism.XOAUTH2) {
            return null;
        }
        OAuth2TokenSource tokens;
        try {
            tokens = OAuth2TokenSource.scheduled(auth.oauth2(), authWork, metrics::oauth2Refreshed);
        } catch (GeneralSecurityException e) {
            throw new SSLException("upstream.auth.oauth2.trust: " + e.getMessage(), e);
        }
        // A failure is logged by the source itself, once per streak of failed fetches.
        tokens.token().thenRun(() -> LOG.info("upstream XOAUTH2: got a token for {} from the token endpoint", auth.username()));
        return tokens;
    }

    /**
     * A new key encrypts inbound session tickets from now on, the previous one still decrypts
     * (every {@link TicketKeys#ROTATION}); applied to the contexts new connections get.
     */
    public synchronized void rotateTicketKeys() {
        ticketKeys.rotate();
        listenerContexts.values().forEach(context -> ticketKeys.applyTo(context.get().tls()));
        LOG.debug("inbound session ticket keys rotated");
    }

    private ListenerContext newContext(ProxyConfig config, ListenerConfig listener, UpstreamPool pool,
                                       TlsContextFactory tlsFactory) throws SSLException {
        SslContext serverTls = listener.tls().mode() == InboundTlsMode.NONE ? null
                : tlsFactory.serverContext(listener.tls(), listener.name(), ticketKeys);
        UserDirectory users = listener.auth() == null ? null : new UserDirectory(listener.auth().users());
        return context(config, listener, serverTls, users, pool);
    }

    private ListenerContext context(ProxyConfig config, ListenerConfig listener, SslContext serverTls, UserDirectory users,
                                    UpstreamPool pool) {
        return new ListenerContext(listener, serverTls, config.hostname(), config.limits(),
                config.receivedHeader(), pool, metrics, limiter, authThrottle, clients, shutdown, users, authWork,
                delivery(listener, pool));
    }

    /** Spool for a listener that asks for it when the spool is open; cut-through otherwise (and for MTAs). */
    private Delivery delivery(ListenerConfig listener, UpstreamPool pool) {
        return listener.delivery() == DeliveryMode.SPOOL && spool != null ? spool.deliveryFor(listener.name())
                : new CutThroughDelivery(pool);
    }

    /** The spool's state for /health; empty when no listener spools. */
    public java.util.Optional<String> spoolHealth() {
        ProxySpool current = spool;
        return current == null ? java.util.Optional.empty() : java.util.Optional.of(current.health(java.time.Clock.systemUTC()));
    }

    /** Listener name to the address it is bound to (port 0 in the config becomes the real port). */
    public Map<String, InetSocketAddress> boundAddresses() {
        return Map.copyOf(boundAddresses);
    }

    public synchronized String tlsProviderName() {
        return tlsFactory.providerName();
    }

    /** "BoringSSL" or "JDK": the provider in force, without versions (a metric label). */
    public synchronized String tlsProviderLabel() {
        return tlsFactory.provider() == io.netty.handler.ssl.SslProvider.JDK ? "JDK" : "BoringSSL";
    }

    /** The configuration in force: the one started with, or the last one reloaded. */
    public ProxyConfig config() {
        return config;
    }

    /** The number of I/O event loops (each has its own pool of upstream sessions). */
    public int eventLoops() {
        return workers instanceof MultithreadEventExecutorGroup group ? group.executorCount() : 1;
    }

    /**
     * Every event loop of this runtime, the acceptor's and the I/O loops: a liveness check
     * (systemd's watchdog) submits a task to each and waits for all of them to run it.
     */
    public List<EventExecutor> allEventLoops() {
        List<EventExecutor> loops = new ArrayList<>();
        acceptors.forEach(loops::add);
        workers.forEach(loops::add);
        return loops;
    }

    public String transportName() {
        return transport.name();
    }

    public ProxyMetrics metrics() {
        return metrics;
    }

    public ClientRegistry clients() {
        return clients;
    }

    /**
     * SIGTERM: stop accepting, let transactions in flight finish until {@code timeout}, turn
     * sessions between transactions away with 421 at their next command, and at the deadline
     * send 421 to whatever remains and close it. Returns the number of sessions cut off.
     */
    public int drain(Duration timeout) throws InterruptedException {
        shutdown.beginDraining();
        for (Channel channel : serverChannels) {
            channel.close().sync();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!sessions.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        int remaining = sessions.size();
        if (remaining > 0) {
            LOG.info("drain deadline reached: closing {} session(s) with 421", remaining);
            sessions.writeAndFlush(Replies.SHUTTING_DOWN).await(2, TimeUnit.SECONDS);
            sessions.close().await(2, TimeUnit.SECONDS);
        }
        return remaining;
    }

    public boolean isDraining() {
        return shutdown.isDraining();
    }

    @Override
    public void close() {
        for (Channel channel : serverChannels) {
            channel.close().syncUninterruptibly();
        }
        if (spool != null) {
            spool.close(); // its attempts in flight stay pending on disk: retried after the restart
        }
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        acceptors.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        resolver.shutdownNow();
        authWork.shutdownNow();
        if (tokens != null) {
            tokens.close();
        }
    }
}
