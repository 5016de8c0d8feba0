package org.smtptlsproxy.bench.jmh;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslContext;
import io.netty.internal.tcnative.SSL;
import io.netty.util.ReferenceCountUtil;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * Full TLS handshakes between a client and a server {@link SSLEngine} in one thread, records
 * moved between them in memory: no sockets, no event loop. Each handshake gets two new engines
 * (released afterwards: Netty's OpenSSL engines own native memory).
 *
 * <p>The client engines are created without a peer host and port, so neither provider can find
 * a cached session to offer: every handshake is a full one. {@link Outcome#serverBytes()} lets
 * callers check it (a resumed handshake sends no certificate).
 *
 * <p>Server and client CPU time is taken around each side's steps with the thread CPU clock
 * (server engine creation and release count as server time). Both sides run on this thread, so
 * the rest of the wall time is the harness: record copies, task loops, the clock reads
 * themselves (about 15 a handshake at under 1 µs each here, about 1% of the fastest case).
 */
final class InMemoryHandshake {

    /** What one handshake negotiated; protocol and suite as the server's session reports them. */
    record Outcome(String serverProtocol, String clientProtocol, String cipherSuite, int serverBytes,
                   int clientBytes, String group) {
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
    private static final int MAX_ROUNDS = 50;
    /** The host name resumable client engines give their peer: the key of their session cache. */
    static final String PEER_HOST = "mx.bench.example";
    /** The server's first record after a handshake: an SMTP reply's size. */
    private static final byte[] REPLY = "250 2.0.0 ready to relay\r\n".getBytes(StandardCharsets.US_ASCII);

    private final SslContext serverContext;
    private final SslContext clientContext;
    private final ByteBufAllocator alloc;
    private final boolean cpuClock;
    private final boolean namePeer;
    private final boolean reply;

    // Records in flight, each written by one side and read by the other; big enough for any flight.
    private final ByteBuffer toServer = ByteBuffer.allocateDirect(64 * 1024);
    private final ByteBuffer toClient = ByteBuffer.allocateDirect(64 * 1024);
    private final ByteBuffer application = ByteBuffer.allocateDirect(64 * 1024);

    private long serverCpuNanos;
    private long clientCpuNanos;
    private int sentToClient;
    private int sentToServer;

    InMemoryHandshake(SslContext serverContext, SslContext clientContext, ByteBufAllocator alloc) {
        this(serverContext, clientContext, alloc, false, false);
    }

    /**
     * With {@code namePeer}, the client engines name a peer ({@link #PEER_HOST}:25), so the
     * client's session cache offers the last session (ID or ticket) to the next handshake. With
     * {@code reply}, each handshake ends with the server's first application record (an SMTP
     * reply's size) read by the client, as after a real STARTTLS: BoringSSL writes its TLS 1.3
     * tickets only with the first record after the handshake, and the client takes them there.
     */
    InMemoryHandshake(SslContext serverContext, SslContext clientContext, ByteBufAllocator alloc, boolean namePeer,
                      boolean reply) {
        this.serverContext = serverContext;
        this.clientContext = clientContext;
        this.alloc = alloc;
        this.cpuClock = THREADS.isCurrentThreadCpuTimeSupported() && THREADS.isThreadCpuTimeEnabled();
        this.namePeer = namePeer;
        this.reply = reply;
    }

    /** Server CPU time of all handshakes so far (0 where the JVM has no thread CPU clock). */
    long serverCpuNanos() {
        return serverCpuNanos;
    }

    long clientCpuNanos() {
        return clientCpuNanos;
    }

    /** One full handshake. @return octets the server sent (certificate chain included) */
    int handshake() throws SSLException {
        run(false);
        return sentToClient;
    }

    /** One full handshake, reading what was negotiated before the engines are released. */
    Outcome handshakeAndDescribe() throws SSLException {
        return run(true);
    }

    private Outcome run(boolean describe) throws SSLException {
        toServer.clear();
        toClient.clear();
        sentToClient = 0;
        sentToServer = 0;
        SSLEngine server = null;
        SSLEngine client = null;
        try {
            long t = cpuNow();
            server = serverContext.newEngine(alloc);
            server.beginHandshake();
            long u = cpuNow();
            serverCpuNanos += u - t;
            client = namePeer ? clientContext.newEngine(alloc, PEER_HOST, 25) : clientContext.newEngine(alloc);
            client.beginHandshake();
            clientCpuNanos += cpuNow() - u;

            int rounds = 0;
            while (!done(client) || !done(server)) {
                if (++rounds > MAX_ROUNDS) {
                    throw new SSLException("handshake stalled: client " + client.getHandshakeStatus()
                            + ", server " + server.getHandshakeStatus());
                }
                t = cpuNow();
                sentToServer += step(client, toClient, toServer);
                u = cpuNow();
                clientCpuNanos += u - t;
                sentToClient += step(server, toServer, toClient);
                serverCpuNanos += cpuNow() - u;
            }
            if (reply) {
                t = cpuNow();
                sentToClient += reply(server, toClient);
                u = cpuNow();
                serverCpuNanos += u - t;
                drain(client, toClient);
                clientCpuNanos += cpuNow() - u;
            }
            return describe
                    ? new Outcome(server.getSession().getProtocol(), client.getSession().getProtocol(),
                            server.getSession().getCipherSuite(), sentToClient, sentToServer, group(server))
                    : null;
        } finally {
            long t = cpuNow();
            ReferenceCountUtil.release(server);
            long u = cpuNow();
            serverCpuNanos += u - t;
            ReferenceCountUtil.release(client);
            clientCpuNanos += cpuNow() - u;
        }
    }

    /** The key exchange group as the server's OpenSSL or BoringSSL names it; "?" for the JDK's engine. */
    private static String group(SSLEngine engine) {
        if (engine instanceof ReferenceCountedOpenSslEngine openSsl && openSsl.sslPointer() != 0) {
            try {
                return SSL.getGroupName(openSsl.sslPointer());
            } catch (Exception | LinkageError e) {
                return "?";
            }
        }
        return "?";
    }

    private static boolean done(SSLEngine engine) {
        HandshakeStatus status = engine.getHandshakeStatus();
        return status == HandshakeStatus.NOT_HANDSHAKING || status == HandshakeStatus.FINISHED;
    }

    /**
     * Lets one engine do all it can with what the peer sent: run tasks, consume records, write its
     * flight. @return octets written to {@code out}
     */
    private int step(SSLEngine engine, ByteBuffer in, ByteBuffer out) throws SSLException {
        int written = 0;
        while (true) {
            HandshakeStatus status = engine.getHandshakeStatus();
            switch (status) {
                case NEED_TASK -> {
                    Runnable task;
                    while ((task = engine.getDelegatedTask()) != null) {
                        task.run();
                    }
                }
                case NEED_WRAP -> {
                    SSLEngineResult result = engine.wrap(EMPTY, out);
                    check(result, engine);
                    written += result.bytesProduced();
                    if (result.bytesProduced() == 0 && result.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
                        return written;
                    }
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    // Even with nothing to read: Netty's OpenSSL client finishes its handshake
                    // in the unwrap after the one that consumed the server's Finished.
                    in.flip();
                    SSLEngineResult result;
                    try {
                        application.clear();
                        result = engine.unwrap(in, application);
                    } finally {
                        in.compact();
                    }
                    if (result.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                        return written;
                    }
                    check(result, engine);
                    if (result.bytesConsumed() == 0 && result.getHandshakeStatus() == status) {
                        return written;
                    }
                }
                default -> {
                    return written; // FINISHED or NOT_HANDSHAKING
                }
            }
        }
    }

    /** The server's first application record, and whatever the engine sends before it. @return octets written */
    private static int reply(SSLEngine engine, ByteBuffer out) throws SSLException {
        ByteBuffer data = ByteBuffer.wrap(REPLY);
        int written = 0;
        for (int i = 0; i < MAX_ROUNDS && data.hasRemaining(); i++) {
            SSLEngineResult result = engine.wrap(data, out);
            check(result, engine);
            written += result.bytesProduced();
        }
        if (data.hasRemaining()) {
            throw new SSLException("server: the reply was not written");
        }
        return written;
    }

    /** Reads every record in {@code in}: tickets and the reply. */
    private void drain(SSLEngine engine, ByteBuffer in) throws SSLException {
        in.flip();
        try {
            for (int i = 0; i < MAX_ROUNDS && in.hasRemaining(); i++) {
                application.clear();
                SSLEngineResult result = engine.unwrap(in, application);
                if (result.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                    break;
                }
                check(result, engine);
                if (result.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                    Runnable task;
                    while ((task = engine.getDelegatedTask()) != null) {
                        task.run();
                    }
                }
                if (result.bytesConsumed() == 0) {
                    break;
                }
            }
        } finally {
            in.compact();
        }
    }

    private static void check(SSLEngineResult result, SSLEngine engine) throws SSLException {
        if (result.getStatus() != SSLEngineResult.Status.OK) {
            throw new SSLException((engine.getUseClientMode() ? "client" : "server") + ": " + result);
        }
    }

    private long cpuNow() {
        return cpuClock ? THREADS.getCurrentThreadCpuTime() : 0;
    }
}
