package org.smtptlsproxy.server.lifecycle;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sd_notify protocol without libsystemd: newline-separated {@code KEY=VALUE} lines in one
 * datagram to the Unix socket named by {@code NOTIFY_SOCKET} (a path, or an abstract name written
 * {@code @name}). Java has no Unix datagram sockets, so Netty's epoll transport sends them. Where
 * the variable is unset (not started by systemd as {@code Type=notify}) every method does nothing.
 *
 * <p>Sending never blocks the caller: the datagram is written on the notifier's own event loop,
 * and a failure (systemd gone, socket removed) is logged at DEBUG, never thrown.
 */
public final class SystemdNotifier implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SystemdNotifier.class);

    private static final SystemdNotifier DISABLED = new SystemdNotifier(null, null, null);

    private final EventLoopGroup group;
    private final Channel channel;
    private final DomainSocketAddress target;

    private SystemdNotifier(EventLoopGroup group, Channel channel, DomainSocketAddress target) {
        this.group = group;
        this.channel = channel;
        this.target = target;
    }

    /** From the process environment: a notifier that sends, or one that does nothing (one log line says why). */
    public static SystemdNotifier fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    public static SystemdNotifier fromEnvironment(Map<String, String> environment) {
        String socket = environment.get("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) {
            LOG.debug("NOTIFY_SOCKET is not set: no systemd notifications");
            return DISABLED;
        }
        if (!socket.startsWith("/") && !socket.startsWith("@")) {
            LOG.warn("NOTIFY_SOCKET={} is neither a path nor an abstract socket name: no systemd notifications", socket);
            return DISABLED;
        }
        if (!Epoll.isAvailable()) {
            // Under Type=notify systemd waits for READY=1 and gives up after TimeoutStartSec: say why.
            LOG.warn("NOTIFY_SOCKET is set but the native epoll transport is unavailable ({}): no systemd notifications;"
                    + " use Type=simple in the unit", Epoll.unavailabilityCause().toString());
            return DISABLED;
        }
        // An abstract socket's name starts with a NUL byte, which systemd writes as '@'.
        String address = socket.startsWith("@") ? "\0" + socket.substring(1) : socket;
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("sd-notify", true),
                EpollIoHandler.newFactory());
        try {
            Channel channel = new Bootstrap()
                    .group(group)
                    .channel(EpollDomainDatagramChannel.class)
                    // Unbound and unconnected: every datagram names its destination (sendto).
                    .option(ChannelOption.DATAGRAM_CHANNEL_ACTIVE_ON_REGISTRATION, true)
                    .handler(new ChannelInboundHandlerAdapter())
                    .register().sync().channel();
            LOG.debug("systemd notifications go to {}", socket);
            return new SystemdNotifier(group, channel, new DomainSocketAddress(address));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            return DISABLED;
        } catch (RuntimeException e) {
            LOG.warn("cannot open a socket for NOTIFY_SOCKET={}: {}; no systemd notifications", socket, e.toString());
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            return DISABLED;
        }
    }

    public boolean enabled() {
        return channel != null;
    }

    /** Every listener and the metrics endpoint are bound: systemd may start what depends on us. */
    public void ready(String status) {
        send("READY=1\nSTATUS=" + status);
    }

    /**
     * A reload starts. {@code MONOTONIC_USEC} is CLOCK_MONOTONIC, which is what HotSpot's
     * {@link System#nanoTime()} reads on Linux; systemd 253+ wants it with {@code RELOADING=1}.
     */
    public void reloading() {
        send("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + System.nanoTime() / 1000);
    }

    public void stopping(String status) {
        send("STOPPING=1\nSTATUS=" + status);
    }

    public void status(String status) {
        send("STATUS=" + status);
    }

    /** Only when the service is demonstrably alive: see {@link SystemdWatchdog}. */
    public void watchdog(String status) {
        send("WATCHDOG=1\nSTATUS=" + status);
    }

    void send(String message) {
        if (channel == null) {
            return;
        }
        byte[] bytes = message.getBytes(StandardCharsets.UTF_8);
        channel.writeAndFlush(new DomainDatagramPacket(Unpooled.wrappedBuffer(bytes), target)).addListener(future -> {
            if (!future.isSuccess()) {
                LOG.debug("systemd notification not delivered: {}", future.cause().toString());
            }
        });
    }

    /** Waits briefly for what was sent (the last STATUS/STOPPING may be written just before exit). */
    @Override
    public void close() {
        if (channel == null) {
            return;
        }
        channel.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(2, TimeUnit.SECONDS);
    }
}
