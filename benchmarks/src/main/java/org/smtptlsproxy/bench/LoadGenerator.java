package org.smtptlsproxy.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLException;
import org.smtptlsproxy.runtime.Transport;
import org.smtptlsproxy.tls.SessionResumption;
import org.smtptlsproxy.tls.TlsContextFactory;

/**
 * Drives SMTP load at a server: {@code sessions} concurrent senders share {@code messages}
 * messages of {@code size} octets, {@code perConnection} messages per connection, plaintext or
 * STARTTLS with one TLS version. Every reply to end of data is counted; latency is measured from
 * the sender's end of data to the reply. Bounded in count and in time ({@code deadline}).
 *
 * <p>The senders are Netty channels on one event loop (epoll where it loads), pipelining MAIL,
 * RCPT and DATA as a modern MTA does: the generator costs a fraction of what it measures, so the
 * two shared cores go to the server under test. With {@code ratePerSecond > 0} messages start on
 * a fixed schedule (open loop) instead of as fast as replies come back, for latency at a load that
 * does not saturate the machine. With {@code perConnection == 0} each connection only says EHLO,
 * does STARTTLS and says QUIT: {@code messages} then counts connections, {@code accepted} the
 * completed handshakes, and latency is the handshake's duration.
 *
 * <p>TLS senders do STARTTLS, or with {@code implicitTls} start TLS on connect (port 465 style),
 * with the one version {@code tlsProtocol} pins. Each connection does a full handshake unless
 * {@code resume} is set; then the client keeps its sessions (IDs and tickets) and offers the last
 * one, as a modern MTA does. {@link Result#handshakes} and {@link Result#resumed} say what happened.
 */
public final class LoadGenerator {

    /**
     * What to send and how. {@code tlsProtocol} null means plaintext; {@code ratePerSecond} 0 is
     * unpaced; {@code implicitTls}: TLS from the first octet instead of STARTTLS; {@code resume}:
     * offer the previous connection's session instead of a full handshake each time.
     */
    public record Plan(InetSocketAddress target, int sessions, int messages, int size, int perConnection,
                       String tlsProtocol, X509Certificate trust, Duration deadline, String tag, double ratePerSecond,
                       boolean implicitTls, boolean resume) {

        public Plan(InetSocketAddress target, int sessions, int messages, int size, int perConnection,
                    String tlsProtocol, X509Certificate trust, Duration deadline, String tag, double ratePerSecond) {
            this(target, sessions, messages, size, perConnection, tlsProtocol, trust, deadline, tag, ratePerSecond, false, false);
        }

        public Plan(InetSocketAddress target, int sessions, int messages, int size, int perConnection,
                    String tlsProtocol, X509Certificate trust, Duration deadline, String tag) {
            this(target, sessions, messages, size, perConnection, tlsProtocol, trust, deadline, tag, 0);
        }

        public Plan {
            if (implicitTls && tlsProtocol == null) {
                throw new IllegalArgumentException("implicit TLS needs a TLS protocol");
            }
        }
    }

    /**
     * What came back. {@code accepted} counts 250 replies to end of data; {@code handshakes} the
     * completed TLS handshakes, {@code resumed} those of them that resumed an earlier session.
     */
    public record Result(String tag, int sent, int accepted, int failed, long bytes, long elapsedNanos, long[] latencies,
                         int handshakes, int resumed) {

        public double messagesPerSecond() {
            return accepted / (elapsedNanos / 1e9);
        }

        public double mebibytesPerSecond() {
            return bytes / 1048576.0 / (elapsedNanos / 1e9);
        }

        /** Latency percentile in milliseconds (0 < p <= 1). */
        public double percentileMillis(double p) {
            if (latencies.length == 0) {
                return Double.NaN;
            }
            long[] sorted = latencies.clone();
            Arrays.sort(sorted);
            int index = (int) Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
            return sorted[Math.max(0, index)] / 1e6;
        }
    }

    private static final String SENDER = "load@legacy.example";
    private static final String RECIPIENT = "sink@contoso.example";
    private static final byte[] TRANSACTION = ("MAIL FROM:<" + SENDER + ">\r\nRCPT TO:<" + RECIPIENT + ">\r\nDATA\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    private static final byte[] END_OF_DATA = ".\r\n".getBytes(StandardCharsets.US_ASCII);

    private LoadGenerator() {
    }

    public static Result run(Plan plan) throws InterruptedException, SSLException {
        Transport transport = Transport.best();
        EventLoopGroup group = transport.newGroup(1, new DefaultThreadFactory("load-generator", true));
        Run run = null;
        try {
            run = new Run(plan, transport, group, plan.tlsProtocol() == null ? null : clientContext(plan));
            return run.execute();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            if (run != null) {
                run.body.release();
            }
        }
    }

    /**
     * Every connection does a full handshake, as many senders do and as the handshake figures
     * must: the client keeps no sessions to resume, unless the plan asks for resumption.
     */
    private static SslContext clientContext(Plan plan) throws SSLException {
        if (!OpenSsl.isAvailable()) {
            throw new IllegalStateException("the load generator needs BoringSSL (netty-tcnative) to control session reuse");
        }
        SslContext context = SslContextBuilder.forClient()
                .sslProvider(SslProvider.OPENSSL)
                .protocols(plan.tlsProtocol())
                // The proxy's inbound list: the CBC suites TLS 1.0 senders offer are in it.
                .ciphers(TlsContextFactory.DEFAULT_INBOUND_CIPHERS)
                .trustManager(plan.trust())
                .build();
        ((OpenSslSessionContext) context.sessionContext()).setSessionCacheEnabled(plan.resume());
        return context;
    }

    /** One run's shared counters; every field is touched on the generator's single event loop or is atomic. */
    private static final class Run {
        private final Plan plan;
        private final Transport transport;
        private final EventLoopGroup group;
        private final SslContext tls;
        private final ByteBuf body;
        private final AtomicInteger nextMessage = new AtomicInteger();
        private final AtomicInteger accepted = new AtomicInteger();
        private final AtomicInteger failed = new AtomicInteger();
        private final AtomicInteger handshakes = new AtomicInteger();
        private final AtomicInteger resumed = new AtomicInteger();
        private final AtomicLong bytes = new AtomicLong();
        private final long[] latencies;
        private final AtomicInteger latencyCount = new AtomicInteger();
        private final CountDownLatch sessionsDone;
        private long started;
        private long deadline;

        Run(Plan plan, Transport transport, EventLoopGroup group, SslContext tls) {
            this.plan = plan;
            this.transport = transport;
            this.group = group;
            this.tls = tls;
            // Shared by every message of the run: each write takes a retained duplicate.
            this.body = Unpooled.directBuffer(plan.size()).writeBytes(body(plan.size()));
            this.latencies = new long[plan.messages()];
            this.sessionsDone = new CountDownLatch(plan.sessions());
        }

        Result execute() throws InterruptedException {
            started = System.nanoTime();
            deadline = started + plan.deadline().toNanos();
            for (int s = 0; s < plan.sessions(); s++) {
                group.next().execute(this::nextConnection);
            }
            boolean finished = sessionsDone.await(plan.deadline().toNanos() + TimeUnit.SECONDS.toNanos(30), TimeUnit.NANOSECONDS);
            long elapsed = System.nanoTime() - started;
            int sent = Math.min(nextMessage.get(), plan.messages());
            int unanswered = sent - accepted.get() - failed.get();
            if (!finished || unanswered > 0) {
                failed.addAndGet(Math.max(0, unanswered));
            }
            return new Result(plan.tag(), sent, accepted.get(), failed.get(), bytes.get(), elapsed,
                    Arrays.copyOf(latencies, latencyCount.get()), handshakes.get(), resumed.get());
        }

        /** A sender session takes the next batch of messages, or ends when none are left or time is up. */
        void nextConnection() {
            int first = nextMessage.getAndAdd(Math.max(1, plan.perConnection()));
            if (first >= plan.messages() || System.nanoTime() > deadline) {
                sessionsDone.countDown();
                return;
            }
            int last = Math.min(plan.messages(), first + Math.max(1, plan.perConnection()));
            new Bootstrap().group(group).channel(transport.socketChannel())
                    .option(ChannelOption.TCP_NODELAY, true)
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            Sender sender = new Sender(Run.this, first, last);
                            ch.pipeline().addLast(new LineBasedFrameDecoder(4096), sender);
                            if (plan.implicitTls()) {
                                sender.startTls(ch.pipeline().firstContext(), Sender.Step.BANNER);
                            }
                        }
                    })
                    .connect(plan.target())
                    .addListener(f -> {
                        if (!f.isSuccess()) {
                            failed.addAndGet(last - first);
                            nextConnection();
                        }
                    });
        }

        /** When message {@code n} may start: now if unpaced, else on the run's fixed schedule. */
        long startTime(int n) {
            return plan.ratePerSecond() <= 0 ? 0 : started + (long) (n * 1e9 / plan.ratePerSecond());
        }

        void accepted(long latencyNanos, int messageBytes) {
            accepted.incrementAndGet();
            bytes.addAndGet(messageBytes);
            latencies[latencyCount.getAndIncrement()] = latencyNanos;
        }
    }

    /** One sender connection: banner, EHLO, optional STARTTLS, then its messages, then QUIT. */
    private static final class Sender extends SimpleChannelInboundHandler<ByteBuf> {

        enum Step { BANNER, EHLO, STARTTLS, EHLO_TLS, MAIL, RCPT, DATA, END_OF_DATA, QUIT }

        private final Run run;
        private final int last;
        private int current;
        private Step step = Step.BANNER;
        private long dataEnded;
        private long handshakeStarted;
        private int messageBytes;
        private boolean counted;

        Sender(Run run, int first, int last) {
            this.run = run;
            this.current = first;
            this.last = last;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf line) {
            if (line.readableBytes() >= 4 && line.getByte(line.readerIndex() + 3) == '-') {
                return; // continuation of a multi-line reply
            }
            int code = line.readableBytes() >= 3 ? Integer.parseInt(line.toString(line.readerIndex(), 3, StandardCharsets.US_ASCII)) : 0;
            switch (step) {
                case BANNER -> expect(ctx, code, 220, ctx.pipeline().get(SslHandler.class) != null ? Step.EHLO_TLS : Step.EHLO,
                        "EHLO load.example\r\n");
                case EHLO -> {
                    if (run.tls != null) {
                        expect(ctx, code, 250, Step.STARTTLS, "STARTTLS\r\n");
                    } else if (code == 250) {
                        startMessage(ctx);
                    } else {
                        fail(ctx);
                    }
                }
                case STARTTLS -> {
                    if (code != 220) {
                        fail(ctx);
                        return;
                    }
                    startTls(ctx, Step.EHLO_TLS);
                }
                case EHLO_TLS -> {
                    if (code == 250 && run.plan.perConnection() == 0) {
                        quit(ctx);
                    } else if (code == 250) {
                        startMessage(ctx);
                    } else {
                        fail(ctx);
                    }
                }
                case MAIL -> next(ctx, code, 250, Step.RCPT);
                case RCPT -> next(ctx, code, 250, Step.DATA);
                case DATA -> {
                    if (code != 354) {
                        fail(ctx);
                        return;
                    }
                    step = Step.END_OF_DATA;
                    ByteBuf header = header(current);
                    messageBytes = header.readableBytes() + run.body.readableBytes();
                    ctx.write(header);
                    ctx.write(run.body.retainedDuplicate());
                    // Latency counts from the moment the last octet is on the wire, not from queueing it.
                    ctx.writeAndFlush(Unpooled.wrappedBuffer(END_OF_DATA)).addListener(f -> dataEnded = System.nanoTime());
                }
                case END_OF_DATA -> {
                    if (code == 250) {
                        run.accepted(System.nanoTime() - dataEnded, messageBytes);
                    } else {
                        run.failed.incrementAndGet();
                    }
                    current++;
                    if (current < last) {
                        startMessage(ctx);
                    } else {
                        quit(ctx);
                    }
                }
                case QUIT -> ctx.close();
            }
        }

        /**
         * Puts TLS in front of the pipeline: after STARTTLS's 220, or on connect for implicit TLS
         * (then the banner comes inside TLS). The handshake is counted, and timed when it is all a
         * connection does; after it, the STARTTLS path says EHLO again.
         */
        void startTls(ChannelHandlerContext ctx, Step after) {
            InetSocketAddress target = run.plan.target();
            SslHandler ssl = run.tls.newHandler(ctx.alloc(), target.getHostString(), target.getPort());
            handshakeStarted = System.nanoTime();
            ctx.pipeline().addFirst(ssl);
            ssl.handshakeFuture().addListener(f -> {
                if (!f.isSuccess()) {
                    ctx.close();
                    return;
                }
                run.handshakes.incrementAndGet();
                if (SessionResumption.resumed(ssl.engine())) {
                    run.resumed.incrementAndGet();
                }
                if (run.plan.perConnection() == 0) {
                    run.accepted(System.nanoTime() - handshakeStarted, 0);
                    current++;
                }
                if (after == Step.EHLO_TLS) {
                    step = Step.EHLO_TLS;
                    ctx.writeAndFlush(ascii("EHLO load.example\r\n"));
                }
            });
        }

        private void quit(ChannelHandlerContext ctx) {
            counted = true;
            step = Step.QUIT;
            ctx.writeAndFlush(ascii("QUIT\r\n"));
        }

        /** MAIL, RCPT and DATA go out in one write (PIPELINING), at the message's scheduled time. */
        private void startMessage(ChannelHandlerContext ctx) {
            step = Step.MAIL;
            long wait = run.startTime(current) - System.nanoTime();
            if (wait > 0) {
                ctx.executor().schedule(() -> ctx.writeAndFlush(Unpooled.wrappedBuffer(TRANSACTION)), wait, TimeUnit.NANOSECONDS);
            } else {
                ctx.writeAndFlush(Unpooled.wrappedBuffer(TRANSACTION));
            }
        }

        private void next(ChannelHandlerContext ctx, int code, int wanted, Step then) {
            if (code == wanted) {
                step = then;
            } else {
                fail(ctx);
            }
        }

        private void expect(ChannelHandlerContext ctx, int code, int wanted, Step then, String command) {
            if (code != wanted) {
                fail(ctx);
                return;
            }
            step = then;
            ctx.writeAndFlush(ascii(command));
        }

        /** Anything unexpected: this connection's remaining messages fail, and the session moves on. */
        private void fail(ChannelHandlerContext ctx) {
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!counted) {
                counted = true;
                run.failed.addAndGet(last - current);
            }
            run.nextConnection();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }

        /** The header block that makes message {@code n} distinct: its Subject names the run and the number. */
        private ByteBuf header(int n) {
            return ascii("From: " + SENDER + "\r\nTo: " + RECIPIENT + "\r\nSubject: " + run.plan.tag() + " " + n + "\r\n");
        }

        private static ByteBuf ascii(String text) {
            return Unpooled.wrappedBuffer(text.getBytes(StandardCharsets.US_ASCII));
        }
    }

    /**
     * A body that, after a header block of about 100 octets, brings a message to about
     * {@code size} octets: an empty line, then text lines, ending in CRLF.
     */
    static byte[] body(int size) {
        StringBuilder text = new StringBuilder(size).append("\r\n");
        String line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGH\r\n";
        int target = Math.max(4, size - 100);
        while (text.length() + line.length() <= target) {
            text.append(line);
        }
        while (text.length() < target - 2) {
            text.append('x');
        }
        text.append("\r\n");
        return text.toString().getBytes(StandardCharsets.US_ASCII);
    }
}
