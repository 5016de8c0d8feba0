package org.smtptlsproxy.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.smtptlsproxy.runtime.Transport;

/**
 * Opens many SMTP sessions to one server and leaves them idle once each is really established:
 * banner read, {@code EHLO} answered, and for TLS also {@code STARTTLS}, a completed handshake and
 * a second {@code EHLO} answered inside TLS. Set-ups run a bounded number at a time (the server's
 * accept backlog is finite), each within its own timeout, all within one deadline.
 */
final class IdleClients implements AutoCloseable {

    /** What {@link #open} achieved; {@code firstFailure} is null when every set-up succeeded. */
    record Result(int requested, int established, int failed, long elapsedNanos, String firstFailure) {
    }

    private static final Duration SETUP_TIMEOUT = Duration.ofSeconds(30);

    private final EventLoopGroup group;
    private final Transport transport;
    private final Queue<Channel> open = new ConcurrentLinkedQueue<>();
    private final AtomicInteger dropped = new AtomicInteger();
    private volatile boolean closing;

    IdleClients(int threads) {
        this.transport = Transport.best();
        this.group = transport.newGroup(threads, new DefaultThreadFactory("idle-client", true));
    }

    /**
     * Opens {@code count} sessions to {@code target}, source addresses taken round-robin from
     * {@code sources}; {@code tls} null means plaintext, else STARTTLS with that client context
     * (host name {@code tlsHost} checked).
     */
    Result open(InetSocketAddress target, int count, List<InetAddress> sources, SslContext tls, String tlsHost,
                int inFlight, Duration deadline) throws InterruptedException {
        Semaphore permits = new Semaphore(inFlight);
        AtomicInteger established = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        AtomicReference<String> firstFailure = new AtomicReference<>();
        long started = System.nanoTime();
        long end = started + deadline.toNanos();
        int launched = 0;
        for (int i = 0; i < count; i++) {
            long left = end - System.nanoTime();
            if (left <= 0 || !permits.tryAcquire(left, TimeUnit.NANOSECONDS)) {
                break;
            }
            launched++;
            Session session = new Session(tls, tlsHost, target.getPort(), failure -> {
                (failure == null ? established : failed).incrementAndGet();
                if (failure != null) {
                    firstFailure.compareAndSet(null, failure);
                }
                permits.release();
            });
            ChannelFuture connect = new Bootstrap()
                    .group(group)
                    .channel(transport.socketChannel())
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) SETUP_TIMEOUT.toMillis())
                    .handler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast("lines", new LineBasedFrameDecoder(1024));
                            ch.pipeline().addLast("session", session);
                        }
                    })
                    .connect(target, new InetSocketAddress(sources.get(i % sources.size()), 0));
            connect.addListener(f -> {
                if (!f.isSuccess()) {
                    session.finish("connect: " + f.cause());
                }
            });
        }
        // Every launched set-up ends (success, failure or its own timeout) and returns its permit.
        long left = Math.max(0, end - System.nanoTime()) + SETUP_TIMEOUT.toNanos();
        if (permits.tryAcquire(inFlight, left, TimeUnit.NANOSECONDS)) {
            permits.release(inFlight);
        }
        int notLaunched = count - launched;
        if (notLaunched > 0) {
            firstFailure.compareAndSet(null, notLaunched + " not started before the deadline");
        }
        return new Result(count, established.get(), failed.get() + notLaunched, System.nanoTime() - started,
                firstFailure.get());
    }

    /** Established sessions that the server (not we) closed. */
    int dropped() {
        return dropped.get();
    }

    int openCount() {
        return open.size();
    }

    /** Closes every session and waits, bounded, for the closes to complete. */
    void closeAll(Duration timeout) {
        closing = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        Channel ch;
        List<ChannelFuture> closes = new java.util.ArrayList<>();
        while ((ch = open.poll()) != null) {
            closes.add(ch.close());
        }
        for (ChannelFuture f : closes) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !f.awaitUninterruptibly(left, TimeUnit.NANOSECONDS)) {
                break;
            }
        }
    }

    @Override
    public void close() {
        closeAll(Duration.ofSeconds(30));
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
    }

    private enum Step { BANNER, EHLO, STARTTLS, HANDSHAKE, EHLO_TLS, IDLE, FAILED }

    /** One session's set-up; {@code done} gets null on success, else the reason. */
    private final class Session extends SimpleChannelInboundHandler<ByteBuf> {
        private final SslContext tls;
        private final String tlsHost;
        private final int port;
        private final java.util.function.Consumer<String> done;
        private Step step = Step.BANNER;
        private Channel channel;
        private io.netty.util.concurrent.ScheduledFuture<?> timeout;

        Session(SslContext tls, String tlsHost, int port, java.util.function.Consumer<String> done) {
            this.tls = tls;
            this.tlsHost = tlsHost;
            this.port = port;
            this.done = done;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            channel = ctx.channel();
            timeout = ctx.executor().schedule(() -> finish("timed out in " + step), SETUP_TIMEOUT.toNanos(),
                    TimeUnit.NANOSECONDS);
            ctx.fireChannelActive();
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
            String line = msg.toString(StandardCharsets.US_ASCII);
            if (line.length() > 3 && line.charAt(3) == '-') {
                return; // a continuation line of a multi-line reply
            }
            int code = line.length() >= 3 && Character.isDigit(line.charAt(0)) ? Integer.parseInt(line.substring(0, 3)) : -1;
            switch (step) {
                case BANNER -> expect(ctx, code, 220, line, Step.EHLO, "EHLO idle.bench.invalid\r\n");
                case EHLO -> {
                    if (tls == null) {
                        if (code == 250) {
                            finish(null);
                        } else {
                            finish("EHLO: " + line);
                        }
                    } else {
                        expect(ctx, code, 250, line, Step.STARTTLS, "STARTTLS\r\n");
                    }
                }
                case STARTTLS -> {
                    if (code != 220) {
                        finish("STARTTLS: " + line);
                        return;
                    }
                    step = Step.HANDSHAKE;
                    SslHandler ssl = tls.newHandler(ctx.alloc(), tlsHost, port);
                    ctx.pipeline().addFirst("tls", ssl);
                    ssl.handshakeFuture().addListener(f -> {
                        if (f.isSuccess()) {
                            step = Step.EHLO_TLS;
                            ctx.writeAndFlush(ascii("EHLO idle.bench.invalid\r\n"));
                        } else {
                            finish("TLS handshake: " + f.cause());
                        }
                    });
                }
                case EHLO_TLS -> {
                    if (code == 250) {
                        finish(null);
                    } else {
                        finish("EHLO after STARTTLS: " + line);
                    }
                }
                case IDLE -> { } // e.g. a 421 before the server closes: counted by channelInactive
                default -> finish("unexpected reply in " + step + ": " + line);
            }
        }

        private void expect(ChannelHandlerContext ctx, int code, int wanted, String line, Step next, String command) {
            if (code != wanted) {
                finish(step + ": " + line);
                return;
            }
            step = next;
            ctx.writeAndFlush(ascii(command));
        }

        /** Ends the set-up once: success keeps the channel open and idle, failure closes it. */
        void finish(String failure) {
            if (step == Step.IDLE || step == Step.FAILED) {
                return;
            }
            if (timeout != null) {
                timeout.cancel(false);
            }
            if (failure == null) {
                step = Step.IDLE;
                open.add(channel);
            } else {
                step = Step.FAILED;
                if (channel != null) {
                    channel.close();
                }
            }
            done.accept(failure);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (step == Step.IDLE) {
                if (!closing) {
                    dropped.incrementAndGet();
                }
            } else {
                finish("closed by the server in " + step);
            }
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            finish(cause.toString());
            ctx.close();
        }
    }

    private static ByteBuf ascii(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII);
    }
}
