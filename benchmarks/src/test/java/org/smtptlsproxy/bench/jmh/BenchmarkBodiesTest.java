package org.smtptlsproxy.bench.jmh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.security.interfaces.ECKey;
import java.security.interfaces.RSAKey;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.smtptlsproxy.config.BareNewlines;
import org.smtptlsproxy.config.TlsProvider;
import org.smtptlsproxy.testkit.KeyType;

/**
 * Each JMH benchmark body run a few times without JMH, for every parameter combination: it must
 * do the work it claims to measure. Nothing here is timed.
 */
@Timeout(60)
class BenchmarkBodiesTest {

    @Test
    void decoderYieldsEveryPipelinedCommand() {
        CommandDecoderBench bench = new CommandDecoderBench();
        bench.setUp();
        try {
            for (int i = 0; i < 3; i++) {
                assertEquals(CommandDecoderBench.LINES, bench.pipelinedTransaction(), "round " + i);
            }
        } finally {
            bench.tearDown();
        }
        assertEquals(CommandDecoderBench.LINES, CommandDecoderBench.TRANSACTION.split("\r\n").length);
    }

    static List<Arguments> framerCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int size : new int[] {1024, 65536, 1048576}) {
            for (DataFramerBench.Body body : DataFramerBench.Body.values()) {
                for (BareNewlines mode : BareNewlines.values()) {
                    cases.add(Arguments.of(size, body, mode));
                }
            }
        }
        return cases;
    }

    @ParameterizedTest
    @MethodSource("framerCases")
    void framerFindsTheEndAndPassesEveryOctet(int size, DataFramerBench.Body body, BareNewlines mode) {
        DataFramerBench bench = new DataFramerBench();
        bench.size = size;
        bench.chunk = 16384;
        bench.body = body;
        bench.mode = mode;
        bench.setUp();
        try {
            assertEquals((size + 16383) / 16384, bench.reads().size());
            for (int i = 0; i < 2; i++) {
                assertEquals(size - 3, bench.message(), "content octets, round " + i);
                // Both modes count the content, not the ".CRLF" terminator.
                assertEquals(size - 3, bench.dataSize(), "octets counted by the decoder");
                for (ByteBuf read : bench.reads()) {
                    assertEquals(1, read.refCnt(), "every slice and duplicate was released");
                }
            }
        } finally {
            bench.tearDown();
        }
    }

    @Test
    void sampleMessagesHaveTheirSizeAndShape() {
        for (int size : new int[] {1024, 65536, 1048576}) {
            for (boolean dots : new boolean[] {false, true}) {
                String text = new String(DataFramerBench.message(size, dots), StandardCharsets.US_ASCII);
                assertEquals(size, text.length());
                assertTrue(text.endsWith("\r\n.\r\n"));
                String body = text.substring(text.indexOf("\r\n\r\n") + 4, text.length() - 3);
                String[] lines = body.split("\r\n");
                for (String line : lines) {
                    assertTrue(line.length() <= 76, "line too long: " + line.length());
                    assertEquals(dots, line.startsWith(".."), line);
                }
                assertEquals(-1, body.replace("\r\n", "").indexOf('\r'));
                assertEquals(-1, body.replace("\r\n", "").indexOf('\n'));
            }
        }
    }

    @Test
    void serverKeysAreRsa2048AndP256() {
        RSAKey rsa = (RSAKey) TlsHandshakeBench.credentials(KeyType.RSA).leaf().key();
        assertEquals(2048, rsa.getModulus().bitLength());
        ECKey ec = (ECKey) TlsHandshakeBench.credentials(KeyType.EC).leaf().key();
        assertEquals(256, ec.getParams().getCurve().getField().getFieldSize());
        assertEquals(ec.getParams().getOrder(), ((ECKey) TlsHandshakeBench.credentials(KeyType.EC).leaf()
                .certificate().getPublicKey()).getParams().getOrder());
    }

    static List<Arguments> handshakeCases() {
        List<Arguments> cases = new ArrayList<>();
        for (TlsProvider provider : new TlsProvider[] {TlsProvider.OPENSSL, TlsProvider.JDK}) {
            for (String protocol : new String[] {"TLSv1", "TLSv1.2", "TLSv1.3"}) {
                for (KeyType key : KeyType.values()) {
                    cases.add(Arguments.of(provider, protocol, key));
                }
            }
        }
        return cases;
    }

    @ParameterizedTest
    @MethodSource("handshakeCases")
    void everyHandshakeIsFullAndNegotiatesItsProtocol(TlsProvider provider, String protocol, KeyType key)
            throws Exception {
        TlsHandshakeBench bench = new TlsHandshakeBench();
        bench.provider = provider;
        bench.protocol = protocol;
        bench.key = key;
        bench.setUp(); // two verified handshakes: protocol on both sides, certificate sent
        try {
            InMemoryHandshake.Outcome first = bench.firstOutcome();
            assertEquals(protocol, first.serverProtocol());
            assertTrue(key == KeyType.EC ? first.cipherSuite().contains("ECDSA") || protocol.equals("TLSv1.3")
                    : !first.cipherSuite().contains("ECDSA"), first.cipherSuite());
            TlsHandshakeBench.CpuShare cpu = new TlsHandshakeBench.CpuShare();
            cpu.reset();
            for (int i = 0; i < 2; i++) {
                // Signature encodings vary by a few octets; a resumption would lack the certificate.
                int sent = bench.fullHandshake(cpu);
                assertTrue(Math.abs(sent - first.serverBytes()) < 64, sent + " vs " + first.serverBytes());
            }
            assertTrue(cpu.serverCpuPct > 0 && cpu.clientCpuPct > 0, "CPU time was taken");
        } finally {
            bench.tearDown();
        }
    }

    static List<Arguments> providerCases() {
        List<Arguments> cases = new ArrayList<>();
        for (ProviderHandshakeBench.Path path : new ProviderHandshakeBench.Path[] {
                ProviderHandshakeBench.Path.BORINGSSL, ProviderHandshakeBench.Path.JDK}) {
            for (ProviderHandshakeBench.Resumption resumption : ProviderHandshakeBench.Resumption.values()) {
                // The JDK's session-ID case turns tickets off JVM-wide, for the rest of this JVM's
                // tests too: it runs only in a JMH fork of its own.
                if (path != ProviderHandshakeBench.Path.JDK || resumption != ProviderHandshakeBench.Resumption.SESSION_ID) {
                    cases.add(Arguments.of(path, resumption));
                }
            }
        }
        return cases;
    }

    /** Each measured handshake is of the kind asked for: full, or resumed by session ID or ticket. */
    @ParameterizedTest
    @MethodSource("providerCases")
    void providerHandshakesAreFullOrResumedAsAsked(ProviderHandshakeBench.Path path,
                                                   ProviderHandshakeBench.Resumption resumption) throws Exception {
        ProviderHandshakeBench bench = new ProviderHandshakeBench();
        bench.path = path;
        bench.key = KeyType.RSA;
        bench.protocol = "TLSv1.2";
        bench.resumption = resumption;
        bench.setUp(); // checks the first handshake full, the second resumed or not as asked
        try {
            InMemoryHandshake.Outcome first = bench.firstOutcome();
            InMemoryHandshake.Outcome second = bench.secondOutcome();
            int certificate = TlsHandshakeBench.credentials(KeyType.RSA).leaf().certificate().getEncoded().length;
            assertTrue(first.serverBytes() > certificate, "the first handshake sent the certificate");
            assertEquals(resumption != ProviderHandshakeBench.Resumption.NONE, second.serverBytes() < certificate,
                    "second handshake: " + second.serverBytes() + " octets");
            TlsHandshakeBench.CpuShare cpu = new TlsHandshakeBench.CpuShare();
            ProviderHandshakeBench.Counts counts = new ProviderHandshakeBench.Counts();
            cpu.reset();
            counts.reset();
            for (int i = 0; i < 3; i++) {
                bench.handshake(cpu, counts);
            }
            assertEquals(0, counts.unexpected, "handshakes not of the kind asked for");
            assertTrue(cpu.serverCpuPct > 0 && cpu.clientCpuPct > 0, "CPU time was taken");
        } finally {
            bench.tearDown();
        }
    }

    /** The system-OpenSSL path refuses to measure BoringSSL under its name. */
    @Test
    void systemOpensslPathRefusesBoringSsl() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ProviderHandshakeBench.requireLibrary(ProviderHandshakeBench.Path.OPENSSL_SYSTEM));
        assertTrue(e.getMessage().contains("java.library.path"), e.getMessage());
    }
}
