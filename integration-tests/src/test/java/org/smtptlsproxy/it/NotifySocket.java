package org.smtptlsproxy.it;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** What systemd would be: a Unix datagram socket that collects sd_notify messages. */
final class NotifySocket implements AutoCloseable {

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final BlockingQueue<String> messages = new LinkedBlockingQueue<>();
    private final List<String> seen = new ArrayList<>();
    private final Channel channel;

    /** @param address a file path, or an abstract name starting with a NUL byte */
    NotifySocket(String address) throws InterruptedException {
        channel = new Bootstrap().group(group).channel(EpollDomainDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DomainDatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DomainDatagramPacket packet) {
                        messages.add(packet.content().toString(StandardCharsets.UTF_8));
                    }
                })
                .bind(new DomainSocketAddress(address)).sync().channel();
    }

    /** The next message holding {@code line} as one of its lines; earlier ones are skipped (and kept in {@link #seen}). */
    String await(String line, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            String message = left <= 0 ? null : messages.poll(left, TimeUnit.NANOSECONDS);
            if (message == null) {
                throw new AssertionError("no " + line + " within " + timeout + "; received: " + seen);
            }
            seen.add(message);
            if (message.lines().anyMatch(line::equals)) {
                return message;
            }
        }
    }

    /** The next message, or null when none comes within {@code timeout}. */
    String poll(Duration timeout) throws InterruptedException {
        String message = messages.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (message != null) {
            seen.add(message);
        }
        return message;
    }

    void clear() {
        messages.clear();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
