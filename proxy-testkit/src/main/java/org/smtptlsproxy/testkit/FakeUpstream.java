package org.smtptlsproxy.testkit;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLException;

/**
 * A stand-in for Exchange Online's inbound SMTP: STARTTLS required before MAIL, TLS 1.2+ only by
 * default, Exchange-like replies, and {@link Fault}s on demand. Message data is streamed and
 * hashed, never required to fit in memory, so it also serves as a benchmark sink.
 */
public final class FakeUpstream implements AutoCloseable {

    private final Builder settings;
    private final SslContext sslContext;
    private final EventLoopGroup group;
    private final List<ReceivedMessage> messages = new ArrayList<>();
    private final List<String> commands = new ArrayList<>();
    private final List<byte[]> commandOctets = new ArrayList<>();
    /** Raw replies that replace the usual one, by verb ("MAIL", "RCPT", "DATA") or "END" for end of data. */
    private final Map<String, String> scripted = new ConcurrentHashMap<>();
    /** The fault each transaction got from the {@link FaultPlan}, by its MAIL FROM address. */
    private final Map<String, Fault> injected = new ConcurrentHashMap<>();
    private final AtomicInteger connections = new AtomicInteger();
    /** Connections still open; each leaves the group when it closes. */
    private final ChannelGroup open = new DefaultChannelGroup("fake-upstream", GlobalEventExecutor.INSTANCE);
    private final AtomicInteger queueIds = new AtomicInteger();
    private Channel serverChannel;

    private FakeUpstream(Builder settings) throws SSLException {
        this.settings = settings;
        this.sslContext = SslContextBuilder.forServer(settings.identity.key(), settings.identity.chain())
                .sslProvider(settings.provider)
                .protocols(settings.protocols)
                .build();
        this.group = new MultiThreadIoEventLoopGroup(settings.threads, new DefaultThreadFactory("fake-upstream", true),
                NioIoHandler.newFactory());
    }

    public static Builder builder() {
        return new Builder();
    }

    public FakeUpstream start() throws InterruptedException {
        serverChannel = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        connections.incrementAndGet();
                        open.add(ch);
                        if (settings.implicitTls) {
                            ch.pipeline().addLast(FakeUpstreamHandler.TLS, sslContext.newHandler(ch.alloc()));
                        }
                        // Replies to pipelined commands leave together, as a real PIPELINING server sends them.
                        ch.pipeline().addLast(new FlushConsolidationHandler(256, true));
                        ch.pipeline().addLast(new FakeUpstreamHandler(FakeUpstream.this));
                    }
                })
                .bind(new InetSocketAddress(settings.host, settings.port))
                .sync()
                .channel();
        return this;
    }

    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** Every message accepted so far, in order. */
    public List<ReceivedMessage> messages() {
        synchronized (messages) {
            return List.copyOf(messages);
        }
    }

    /** Waits until at least {@code count} messages were accepted; false on timeout. */
    public boolean awaitMessages(int count, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (messages) {
            while (messages.size() < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(messages, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }
    }

    /** TCP connections accepted so far. */
    public int connections() {
        return connections.get();
    }

    /** TCP connections open now (accepted and not yet closed by either side). */
    public int openConnections() {
        return open.size();
    }

    /** Every command line received, prefixed "[tls] " when it arrived inside TLS. */
    public List<String> commandsSeen() {
        synchronized (commands) {
            return List.copyOf(commands);
        }
    }

    /** Every command line received, as the octets that arrived (without the line end). */
    public List<byte[]> commandOctets() {
        synchronized (commands) {
            return List.copyOf(commandOctets);
        }
    }

    /**
     * From now on, answers {@code stage} (a verb such as "MAIL", or "END" for the end of data) with
     * {@code rawReply} exactly as given, line ends included: malformed replies on demand. A scripted
     * end of data stores nothing. Null goes back to the usual reply.
     */
    public void script(String stage, String rawReply) {
        if (rawReply == null) {
            scripted.remove(stage);
        } else {
            scripted.put(stage, rawReply);
        }
    }

    /** The fault the fault plan gave each transaction, by sender address (only those that got one). */
    public Map<String, Fault> injectedFaults() {
        return Map.copyOf(injected);
    }

    /** The command lines that arrived in plaintext. */
    public List<String> plaintextCommands() {
        return commandsSeen().stream().filter(c -> !c.startsWith("[tls] ")).toList();
    }

    /** Closes the listener and every connection; idempotent. */
    @Override
    public void close() {
        if (group.isShuttingDown()) {
            return;
        }
        if (serverChannel != null) {
            serverChannel.close().syncUninterruptibly();
        }
        // Closed through their pipelines, so that handlers release what they hold: an event loop that
        // shuts down with connections open drops them without a word.
        open.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    // ---- for the handler ------------------------------------------------------------------

    Builder settings() {
        return settings;
    }

    SslContext sslContext() {
        return sslContext;
    }

    String nextQueueId() {
        return "FAKE" + queueIds.incrementAndGet() + "." + Long.toHexString(System.nanoTime()) + "@fake.upstream";
    }

    void recordInjected(String sender, Fault fault) {
        injected.put(sender, fault);
    }

    String scripted(String stage) {
        return scripted.get(stage);
    }

    void recordOctets(byte[] line) {
        synchronized (commands) {
            commandOctets.add(line);
        }
    }

    void recordCommand(String line, boolean inTls) {
        if (!settings.recordsCommands()) {
            return;
        }
        synchronized (commands) {
            commands.add(inTls ? "[tls] " + line : line);
        }
    }

    void recordMessage(ReceivedMessage message) {
        synchronized (messages) {
            messages.add(message);
            messages.notifyAll();
        }
    }

    /** How the fake upstream behaves. */
    public static final class Builder {
        private TestPki.Identity identity;
        private List<String> protocols = List.of("TLSv1.2", "TLSv1.3");
        private SslProvider provider = OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
        private boolean implicitTls;
        private final Set<Fault> faults = EnumSet.noneOf(Fault.class);
        private String hostname = "fake.upstream.test";
        private String host = "127.0.0.1";
        private int port;
        private int maxStoredBytes = 1 << 20;
        private boolean sha256 = true;
        private int threads = 1;
        private String authUser;
        private String authPassword;
        private String authToken;
        private final List<String> extraExtensions = new ArrayList<>();
        private FaultPlan faultPlan;
        private boolean recordCommands = true;
        private final Set<String> withheldExtensions = new java.util.HashSet<>();
        private final Map<String, String> scripted = new HashMap<>();

        private Builder() {
        }

        /**
         * Answers every command line that starts with {@code command} (case-insensitive: "MAIL",
         * "RCPT", "AUTH", or "RCPT TO:<nobody@" for one recipient; END_OF_DATA for the final dot;
         * BANNER for the greeting, closing the connection unless it is a 2xx) with this reply line
         * instead, e.g. Exchange Online's {@code 550 5.7.64 TenantAttribution; Relay Access Denied}
         * to RCPT. The fake's state is left as if the command had not been sent.
         */
        public Builder reply(String command, String line) {
            scripted.put(command.toUpperCase(java.util.Locale.ROOT), line);
            return this;
        }

        /** The scripted reply for this (upper-cased) command line or special key, or null; the longest match wins. */
        String scripted(String commandLine) {
            String best = null;
            for (String key : scripted.keySet()) {
                if (commandLine.startsWith(key) && (best == null || key.length() > best.length())) {
                    best = key;
                }
            }
            return best == null ? null : scripted.get(best);
        }

        public Builder identity(TestPki.Identity identity) {
            this.identity = identity;
            return this;
        }

        /** Faults drawn per connection and per transaction, on top of {@link #faults}. */
        public Builder faultPlan(FaultPlan plan) {
            this.faultPlan = plan;
            return this;
        }

        FaultPlan faultPlan() {
            return faultPlan;
        }

        /** Off for long load runs: every command line would be kept. */
        public Builder recordCommands(boolean record) {
            this.recordCommands = record;
            return this;
        }

        boolean recordsCommands() {
            return recordCommands;
        }

        /** EHLO keywords to advertise beyond the usual set, e.g. "DSN". */
        public Builder extensions(String... keywords) {
            extraExtensions.addAll(List.of(keywords));
            return this;
        }

        /** Usual EHLO keywords not to advertise, e.g. "SMTPUTF8". */
        public Builder without(String... keywords) {
            withheldExtensions.addAll(List.of(keywords));
            return this;
        }

        List<String> extraExtensions() {
            return extraExtensions;
        }

        boolean withholds(String keyword) {
            return withheldExtensions.contains(keyword);
        }

        public Builder protocols(String... protocols) {
            this.protocols = List.of(protocols);
            return this;
        }

        public Builder provider(SslProvider provider) {
            this.provider = provider;
            return this;
        }

        /** TLS from the first byte, like port 465. */
        public Builder implicitTls(boolean implicitTls) {
            this.implicitTls = implicitTls;
            return this;
        }

        public Builder faults(Fault... faults) {
            this.faults.addAll(List.of(faults));
            return this;
        }

        public Builder hostname(String hostname) {
            this.hostname = hostname;
            return this;
        }

        public Builder bind(String host, int port) {
            this.host = host;
            this.port = port;
            return this;
        }

        /** Messages larger than this are hashed and counted but not kept. */
        public Builder maxStoredBytes(int maxStoredBytes) {
            this.maxStoredBytes = maxStoredBytes;
            return this;
        }

        /**
         * Whether each message's SHA-256 is computed (default). A benchmark sink turns it off: its
         * cost per MiB is a third of the proxy's, and {@link ReceivedMessage#checksum()} is
         * enough to tell messages apart.
         */
        public Builder sha256(boolean sha256) {
            this.sha256 = sha256;
            return this;
        }

        public Builder threads(int threads) {
            this.threads = threads;
            return this;
        }

        /** Requires AUTH XOAUTH2 (RFC 7628 style, as Exchange Online) for {@code user} with this bearer token. */
        public Builder requireXoauth2(String user, String token) {
            this.authUser = user;
            this.authToken = token;
            return this;
        }

        /** Requires AUTH PLAIN or LOGIN with these credentials (offered inside TLS only). */
        public Builder requireAuth(String user, String password) {
            this.authUser = user;
            this.authPassword = password;
            return this;
        }

        public FakeUpstream build() throws SSLException {
            if (identity == null) {
                throw new IllegalStateException("an identity (certificate and key) is required");
            }
            return new FakeUpstream(this);
        }

        boolean has(Fault fault) {
            return faults.contains(fault);
        }

        boolean implicitTls() {
            return implicitTls;
        }

        String hostname() {
            return hostname;
        }

        int maxStoredBytes() {
            return maxStoredBytes;
        }

        boolean sha256() {
            return sha256;
        }

        String authUser() {
            return authUser;
        }

        String authPassword() {
            return authPassword;
        }

        /** Non-null when AUTH XOAUTH2 is what the server wants. */
        String authToken() {
            return authToken;
        }
    }
}
