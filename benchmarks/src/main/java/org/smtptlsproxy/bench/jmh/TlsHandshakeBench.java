package org.smtptlsproxy.bench.jmh;

import io.netty.buffer.PooledByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.util.ReferenceCountUtil;
import java.security.cert.CertificateEncodingException;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;
import org.smtptlsproxy.config.InboundTls;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.config.TlsIdentity;
import org.smtptlsproxy.config.TlsProvider;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.TestPki;
import org.smtptlsproxy.tls.TlsContextFactory;

/**
 * Full inbound TLS handshakes, in memory (see {@link InMemoryHandshake}). The server context is
 * the proxy's own: {@link TlsContextFactory#serverContext} with a listener that allows only the
 * {@code protocol} under test and the default inbound suites. The certificate is a TestPki leaf
 * (RSA 2048 or EC P-256) under a CA of the same kind.
 *
 * <p>The client uses the same provider as the server, offers only {@code protocol} and the
 * proxy's inbound suite list (so the server's first choice for that protocol wins), and verifies
 * the chain against the test CA. One operation is one full handshake, never a resumption; setup
 * fails unless two handshakes in a row negotiate {@code protocol} and carry the certificate.
 *
 * <p>Secondary results: {@code serverCpuPct} and {@code clientCpuPct} are each side's thread CPU
 * time as a percentage of the measured wall time (JMH prints them in "ops/s"; read "%"). Server
 * CPU per handshake = serverCpuPct × 10 ms ÷ (handshakes/s); the trial's last line prints it
 * for the measurement iterations.
 * JDK TLS 1.0 needs {@code -Djava.security.properties=.../legacy-tls.security} (the script sets
 * it; JMH forks inherit it).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class TlsHandshakeBench {

    @Param({"OPENSSL", "JDK"})
    public TlsProvider provider;

    @Param({"TLSv1", "TLSv1.2", "TLSv1.3"})
    public String protocol;

    @Param({"RSA", "EC"})
    public KeyType key;

    /** Per-iteration CPU shares; JMH divides each sum by the iteration's wall time. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class CpuShare {
        public double serverCpuPct;
        public double clientCpuPct;

        @Setup(Level.Iteration)
        public void reset() {
            serverCpuPct = 0;
            clientCpuPct = 0;
        }
    }

    /** A test CA and the server's leaf under it, both of the benchmark's key type. */
    record Credentials(TestPki pki, TestPki.Identity leaf) {
    }

    /**
     * RSA key generation takes seconds on a busy machine. A JMH fork runs a single trial, so this
     * cache only spares the test that runs every parameter combination in one JVM.
     */
    private static final Map<KeyType, Credentials> CREDENTIALS = new EnumMap<>(KeyType.class);

    static synchronized Credentials credentials(KeyType key) {
        return CREDENTIALS.computeIfAbsent(key, type -> {
            TestPki pki = TestPki.create("Bench CA " + type, type);
            return new Credentials(pki, pki.issue("mx.bench.example", "mx.bench.example"));
        });
    }

    private SslContext serverContext;
    private SslContext clientContext;
    private InMemoryHandshake pair;
    private InMemoryHandshake.Outcome first;
    private long handshakes;
    // Measurement iterations only, for the per-handshake CPU line at the end of the trial.
    private long iterationStart;
    private long serverAtStart;
    private long clientAtStart;
    private long measuredHandshakes;
    private long measuredServerNanos;
    private long measuredClientNanos;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        TlsContextFactory factory = TlsContextFactory.forProvider(provider);
        Credentials credentials = credentials(key);
        TestPki pki = credentials.pki();
        TestPki.Identity leaf = credentials.leaf();
        // Paths are only for messages; the factory works from the loaded chain and key.
        TlsIdentity identity = new TlsIdentity(null, null, leaf.chain(), leaf.key());
        serverContext = factory.serverContext(
                new InboundTls(InboundTlsMode.STARTTLS, identity, List.of(protocol), List.of()));
        clientContext = SslContextBuilder.forClient()
                .sslProvider(factory.provider())
                .protocols(protocol)
                .ciphers(TlsContextFactory.DEFAULT_INBOUND_CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .trustManager(pki.caCertificate())
                .endpointIdentificationAlgorithm(null) // no host name: the engines have no peer
                .build();
        pair = new InMemoryHandshake(serverContext, clientContext, PooledByteBufAllocator.DEFAULT);
        int certificate = certificateLength(leaf);
        try {
            first = verify(pair.handshakeAndDescribe(), certificate);
            verify(pair.handshakeAndDescribe(), certificate); // a resumption would show here
        } catch (SSLException e) {
            throw new IllegalStateException(provider + " " + protocol + " " + key + " handshake failed"
                    + (provider == TlsProvider.JDK && !protocol.startsWith("TLSv1.")
                            ? " (the JDK needs -Djava.security.properties=integration-tests/src/test/resources/"
                                    + "legacy-tls.security for TLS 1.0)" : ""), e);
        }
        handshakes = 2;
        System.out.printf(Locale.ROOT, "%n# %s %s %s: %s, server sent %d octets, client %d%n",
                factory.providerName(), protocol, key, first.cipherSuite(), first.serverBytes(), first.clientBytes());
    }

    @Setup(Level.Iteration)
    public void startIteration() {
        iterationStart = handshakes;
        serverAtStart = pair.serverCpuNanos();
        clientAtStart = pair.clientCpuNanos();
    }

    @TearDown(Level.Iteration)
    public void endIteration(IterationParams iteration) {
        if (iteration.getType() == IterationType.MEASUREMENT) {
            measuredHandshakes += handshakes - iterationStart;
            measuredServerNanos += pair.serverCpuNanos() - serverAtStart;
            measuredClientNanos += pair.clientCpuNanos() - clientAtStart;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (measuredHandshakes > 0 && measuredServerNanos > 0) {
            System.out.printf(Locale.ROOT, "%n# CPU per handshake over %d measured: server %.3f ms, client %.3f ms%n",
                    measuredHandshakes, measuredServerNanos / 1e6 / measuredHandshakes,
                    measuredClientNanos / 1e6 / measuredHandshakes);
        }
        ReferenceCountUtil.release(serverContext);
        ReferenceCountUtil.release(clientContext);
        serverContext = null;
        clientContext = null;
    }

    /** @return octets the server sent */
    @Benchmark
    public int fullHandshake(CpuShare cpu) throws SSLException {
        long server = pair.serverCpuNanos();
        long client = pair.clientCpuNanos();
        int sent = pair.handshake();
        handshakes++;
        cpu.serverCpuPct += (pair.serverCpuNanos() - server) * 1e-7;
        cpu.clientCpuPct += (pair.clientCpuNanos() - client) * 1e-7;
        return sent;
    }

    /** What the setup handshake negotiated. */
    InMemoryHandshake.Outcome firstOutcome() {
        return first;
    }

    private InMemoryHandshake.Outcome verify(InMemoryHandshake.Outcome outcome, int certificate) {
        if (!protocol.equals(outcome.serverProtocol()) || !protocol.equals(outcome.clientProtocol())) {
            throw new IllegalStateException(provider + " " + key + ": wanted " + protocol + ", server negotiated "
                    + outcome.serverProtocol() + ", client " + outcome.clientProtocol());
        }
        if (outcome.serverBytes() < certificate) {
            throw new IllegalStateException(provider + " " + protocol + " " + key + ": the server sent "
                    + outcome.serverBytes() + " octets, less than its " + certificate
                    + "-octet certificate: the session was resumed");
        }
        return outcome;
    }

    private static int certificateLength(TestPki.Identity leaf) {
        try {
            return leaf.certificate().getEncoded().length;
        } catch (CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }
}
