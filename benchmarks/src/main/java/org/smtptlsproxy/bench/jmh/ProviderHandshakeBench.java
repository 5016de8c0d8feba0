package org.smtptlsproxy.bench.jmh;

import io.netty.buffer.PooledByteBufAllocator;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.util.ReferenceCountUtil;
import java.security.cert.CertificateEncodingException;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.smtptlsproxy.config.InboundTls;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.config.TlsIdentity;
import org.smtptlsproxy.config.TlsProvider;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.TestPki;
import org.smtptlsproxy.tls.TicketKeys;
import org.smtptlsproxy.tls.TlsContextFactory;

/**
 * The server's CPU for one inbound handshake on each provider path the proxy could take, full
 * or resumed, in memory (see {@link InMemoryHandshake}). The server context is the proxy's own
 * ({@link TlsContextFactory#serverContext(InboundTls, String, TicketKeys)}: default inbound
 * suites, session cache, ticket keys when {@code resumption} is {@code TICKET}).
 *
 * <p><b>Method.</b> Client and server engines run on one thread; the thread CPU clock is read
 * around every step of the server engine (its creation, each wrap/unwrap and delegated task, its
 * release) and of the client engine separately, so {@code serverCpuPct} is the server's work
 * alone, whatever the client costs. Server CPU per handshake = serverCpuPct × 10 ms ÷
 * (handshakes/s); {@code HandshakeProviders} prints it. The client is the JDK's on every path,
 * so that the server library is the only thing that changes: it offers X25519 then P-256, so
 * every path agrees X25519, the key exchange of the floor, and its session cache (by peer host
 * and port) resumes reliably where Netty's native client cache keeps only the first session of
 * a peer, which a single-use TLS 1.3 ticket leaves stale.
 *
 * <p><b>Paths.</b> {@code BORINGSSL}: netty-tcnative-boringssl-static, what the proxy ships.
 * {@code JDK}: SunJSSE. {@code OPENSSL_SYSTEM}: the system's libssl through netty-tcnative's
 * dynamically linked build; Netty tries {@code java.library.path} before the jar's library, so
 * that fork runs with {@code -Djava.library.path=} a directory holding that build
 * ({@code scripts/bench-handshake.sh} prepares it). Setup fails unless the library loaded is
 * the one the path names.
 *
 * <p><b>Resumption.</b> {@code NONE}: every handshake full (the client names no peer, so it has
 * nothing to offer). {@code SESSION_ID}: TLS 1.0-1.2, a client that offers no ticket (as many
 * legacy senders), the server's session cache. {@code TICKET}: the proxy's {@link TicketKeys} (BoringSSL, OpenSSL) or the
 * JDK's own stateless tickets. In the resumed modes the client engines name a peer and its
 * session cache offers the last session. Setup checks that the first handshake is full and the
 * second resumed (a resumed server sends no certificate), and {@code Counts} tells how many
 * measured handshakes were not of the kind asked for.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class ProviderHandshakeBench {

    /** Which TLS library serves the listener. */
    public enum Path {
        BORINGSSL, OPENSSL_SYSTEM, JDK
    }

    /** How the client comes back. */
    public enum Resumption {
        NONE, SESSION_ID, TICKET
    }

    @Param({"BORINGSSL", "JDK"})
    public Path path;

    @Param({"RSA", "EC"})
    public KeyType key;

    @Param({"TLSv1", "TLSv1.2"})
    public String protocol;

    @Param({"NONE"})
    public Resumption resumption;

    /** Handshakes not of the kind asked for (a full one where a resumption was wanted, or the reverse). */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Counts {
        public long unexpected;

        @Setup(Level.Iteration)
        public void reset() {
            unexpected = 0;
        }
    }

    private SslContext serverContext;
    private SslContext clientContext;
    private InMemoryHandshake pair;
    private InMemoryHandshake.Outcome first;
    private InMemoryHandshake.Outcome second;
    /** Server octets below this: no certificate was sent, the handshake resumed. */
    private int resumedBelow;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        if (resumption == Resumption.SESSION_ID && "TLSv1.3".equals(protocol)) {
            throw new IllegalArgumentException("TLS 1.3 resumes by ticket only");
        }
        // Read once, when SunJSSE's configuration class loads: before any context exists. A JMH
        // fork runs one parameter combination, so this touches no other trial.
        System.setProperty("jdk.tls.namedGroups", "x25519,secp256r1");
        if (resumption == Resumption.SESSION_ID) {
            // A sender that does not offer tickets: the server can only resume by session ID.
            System.setProperty("jdk.tls.client.enableSessionTicketExtension", "false");
            System.setProperty("jdk.tls.server.enableSessionTicketExtension", "false");
        }
        if (path != Path.JDK) {
            requireLibrary(path);
        }
        TlsContextFactory factory = TlsContextFactory.forProvider(path == Path.JDK ? TlsProvider.JDK : TlsProvider.OPENSSL);
        TlsHandshakeBench.Credentials credentials = TlsHandshakeBench.credentials(key);
        TestPki.Identity leaf = credentials.leaf();
        TlsIdentity identity = new TlsIdentity(null, null, leaf.chain(), leaf.key());
        InboundTls tls = new InboundTls(InboundTlsMode.STARTTLS, identity, null, List.of(protocol), List.of(),
                InboundTls.DEFAULT_SESSION_CACHE_SIZE, InboundTls.DEFAULT_SESSION_TIMEOUT);
        // Without ticket keys a BoringSSL/OpenSSL listener of TLS 1.0-1.2 issues no tickets.
        serverContext = factory.serverContext(tls, "bench", resumption == Resumption.TICKET ? new TicketKeys() : null);
        clientContext = SslContextBuilder.forClient()
                .sslProvider(SslProvider.JDK)
                .protocols(protocol)
                .ciphers(TlsContextFactory.DEFAULT_INBOUND_CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .trustManager(credentials.pki().caCertificate())
                .endpointIdentificationAlgorithm(null)
                .build();
        pair = new InMemoryHandshake(serverContext, clientContext, PooledByteBufAllocator.DEFAULT,
                resumption != Resumption.NONE, true);
        int certificate = certificateLength(leaf);
        try {
            first = pair.handshakeAndDescribe();
            second = pair.handshakeAndDescribe();
        } catch (SSLException e) {
            throw new IllegalStateException(describe() + ": handshake failed: " + e.getMessage(), e);
        }
        checkProtocol(first);
        checkProtocol(second);
        if (first.serverBytes() < certificate) {
            throw new IllegalStateException(describe() + ": the first handshake sent no certificate");
        }
        resumedBelow = first.serverBytes() - certificate / 2;
        boolean resumed = second.serverBytes() < resumedBelow;
        if (resumed != (resumption != Resumption.NONE)) {
            throw new IllegalStateException(describe() + ": the second handshake " + (resumed ? "resumed" : "did not resume")
                    + " (server sent " + second.serverBytes() + " octets, the full one " + first.serverBytes() + ")");
        }
        System.out.printf(Locale.ROOT, "%n# %s (%s) %s %s %s: %s, group %s, server sent %d octets full, %d second%n",
                path, factory.providerName(), protocol, key, resumption, first.cipherSuite(), second.group(),
                first.serverBytes(), second.serverBytes());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ReferenceCountUtil.release(serverContext);
        ReferenceCountUtil.release(clientContext);
        serverContext = null;
        clientContext = null;
    }

    /** @return octets the server sent */
    @Benchmark
    public int handshake(TlsHandshakeBench.CpuShare cpu, Counts counts) throws SSLException {
        long server = pair.serverCpuNanos();
        long client = pair.clientCpuNanos();
        int sent = pair.handshake();
        cpu.serverCpuPct += (pair.serverCpuNanos() - server) * 1e-7;
        cpu.clientCpuPct += (pair.clientCpuNanos() - client) * 1e-7;
        if ((sent < resumedBelow) != (resumption != Resumption.NONE)) {
            counts.unexpected++;
        }
        return sent;
    }

    InMemoryHandshake.Outcome firstOutcome() {
        return first;
    }

    InMemoryHandshake.Outcome secondOutcome() {
        return second;
    }

    /**
     * Fails unless the tcnative library that loaded is the one {@code path} names: BoringSSL from
     * the jar, or a system OpenSSL from {@code java.library.path}.
     */
    static void requireLibrary(Path path) {
        if (!OpenSsl.isAvailable()) {
            throw new IllegalStateException(path + ": netty-tcnative did not load: " + OpenSsl.unavailabilityCause());
        }
        String version = OpenSsl.versionString();
        boolean boring = version.startsWith("BoringSSL");
        if (boring != (path == Path.BORINGSSL)) {
            throw new IllegalStateException(path + ": netty-tcnative loaded " + version + (path == Path.OPENSSL_SYSTEM
                    ? "; run this path with -Djava.library.path= the directory of the dynamically linked "
                            + "libnetty_tcnative_linux_x86_64.so (scripts/bench-handshake.sh)"
                    : "; run this path without -Djava.library.path"));
        }
    }

    private void checkProtocol(InMemoryHandshake.Outcome outcome) {
        if (!protocol.equals(outcome.serverProtocol()) || !protocol.equals(outcome.clientProtocol())) {
            throw new IllegalStateException(describe() + ": server negotiated " + outcome.serverProtocol()
                    + ", client " + outcome.clientProtocol());
        }
    }

    private String describe() {
        return path + " " + protocol + " " + key + " " + resumption;
    }

    private static int certificateLength(TestPki.Identity leaf) {
        try {
            return leaf.certificate().getEncoded().length;
        } catch (CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }
}
