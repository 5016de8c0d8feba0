package org.smtptlsproxy.outbound;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.smtp.SmtpRequestEncoder;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.smtptlsproxy.auth.OAuth2TokenSource;
import org.smtptlsproxy.config.AuthMechanism;
import org.smtptlsproxy.config.Durations;
import org.smtptlsproxy.config.HostPort;
import org.smtptlsproxy.config.UpstreamConfig;
import org.smtptlsproxy.config.UpstreamTlsMode;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.outbound.UpstreamFailure.Outcome;
import org.smtptlsproxy.runtime.Flushes;
import org.smtptlsproxy.runtime.Transport;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * Opens verified upstream sessions: the configured host (each of its addresses in turn), then the
 * fallback hosts. Failover is safe because nothing of a message has been sent before a session is
 * ready. The connection is bootstrapped on the inbound channel's event loop, so a whole relay
 * lives on one thread.
 */
public final class UpstreamConnector {

    private final UpstreamConfig config;
    private final SslContext sslContext;
    private final String ehloName;
    private final ProxyMetrics metrics;
    private final Transport transport;
    private final Executor resolver;
    private final OAuth2TokenSource tokens;

    /**
     * @param resolver runs blocking DNS look-ups, never an event loop
     */
    public UpstreamConnector(UpstreamConfig config, SslContext sslContext, String ehloName, ProxyMetrics metrics,
                             Transport transport, Executor resolver) {
        this(config, sslContext, ehloName, metrics, transport, resolver, null);
    }

    /**
     * @param tokens the access tokens for {@code auth.mechanism: xoauth2} (one source for all sessions), else null
     */
    public UpstreamConnector(UpstreamConfig config, SslContext sslContext, String ehloName, ProxyMetrics metrics,
                             Transport transport, Executor resolver, OAuth2TokenSource tokens) {
        if (config.auth().mechanism() == AuthMechanism.XOAUTH2 && tokens == null) {
            throw new IllegalArgumentException("xoauth2 needs an OAuth2TokenSource");
        }
        this.config = config;
        this.sslContext = sslContext;
        this.ehloName = ehloName;
        this.metrics = metrics;
        this.transport = transport;
        this.resolver = resolver;
        this.tokens = tokens;
    }

    /** A ready session (after TLS and the second EHLO), or a failure carrying the best reason. */
    public Future<UpstreamSession> open(EventLoop loop) {
        return open(loop, SetupObserver.NONE);
    }

    /** The same, reporting each step to {@code observer} (on {@code loop}). */
    public Future<UpstreamSession> open(EventLoop loop, SetupObserver observer) {
        Promise<UpstreamSession> result = loop.newPromise();
        List<HostPort> targets = new ArrayList<>();
        targets.add(config.address());
        targets.addAll(config.fallbackHosts());
        new Attempt(loop, targets, observer, result).nextTarget();
        return result;
    }

    /** One walk through the targets for one MAIL. */
    private final class Attempt {

        private final EventLoop loop;
        private final List<HostPort> targets;
        private final SetupObserver observer;
        private final Promise<UpstreamSession> result;
        private int targetIndex = -1;
        private HostPort target;
        private List<InetAddress> addresses = List.of();
        private int addressIndex;
        private UpstreamFailure firstFailure;
        private int failures;

        Attempt(EventLoop loop, List<HostPort> targets, SetupObserver observer, Promise<UpstreamSession> result) {
            this.loop = loop;
            this.targets = targets;
            this.observer = observer;
            this.result = result;
        }

        void nextTarget() {
            targetIndex++;
            if (targetIndex >= targets.size()) {
                giveUp();
                return;
            }
            target = targets.get(targetIndex);
            addressIndex = 0;
            byte[] literal = NetUtil.createByteArrayFromIpAddressString(target.host());
            if (literal != null) {
                try {
                    addresses = List.of(InetAddress.getByAddress(literal));
                } catch (UnknownHostException impossible) {
                    throw new IllegalStateException(impossible);
                }
                nextAddress();
                return;
            }
            String host = target.host();
            resolver.execute(() -> {
                List<InetAddress> resolved;
                try {
                    resolved = Arrays.asList(InetAddress.getAllByName(host));
                } catch (UnknownHostException e) {
                    resolved = List.of();
                }
                List<InetAddress> found = resolved;
                loop.execute(() -> {
                    addresses = found;
                    if (found.isEmpty()) {
                        record(new UpstreamFailure(Outcome.CONNECT_FAILED, "cannot resolve upstream host " + host));
                        nextTarget();
                    } else {
                        nextAddress();
                    }
                });
            });
        }

        void nextAddress() {
            if (addressIndex >= addresses.size()) {
                nextTarget();
                return;
            }
            InetSocketAddress address = new InetSocketAddress(addresses.get(addressIndex++), target.port());
            String serverName = config.tls().serverName() != null ? config.tls().serverName() : target.host();
            UpstreamSession session = new UpstreamSession(target, serverName, config.commandTimeout(), metrics);
            ChannelFuture connect = bootstrap(session, serverName).connect(address);
            connect.addListener(f -> {
                if (!f.isSuccess()) {
                    String why = f.cause() instanceof ConnectTimeoutException
                            ? "timed out after " + Durations.format(config.connectTimeout())
                            : TlsFailures.reason(f.cause());
                    record(new UpstreamFailure(Outcome.CONNECT_FAILED,
                            "cannot connect to upstream " + describe(address) + ": " + why));
                    nextAddress();
                    return;
                }
                observer.connected(address);
                Promise<UpstreamSession> ready = loop.newPromise();
                UpstreamSetup.run(session, sslContext, ehloName, config.auth(), tokens, observer, ready).addListener(s -> {
                    if (s.isSuccess()) {
                        metrics.upstreamSession("ok");
                        result.trySuccess(session);
                    } else {
                        record(UpstreamFailure.of(s.cause()));
                        nextAddress();
                    }
                });
            });
        }

        private Bootstrap bootstrap(UpstreamSession session, String serverName) {
            boolean implicit = config.tls().mode() == UpstreamTlsMode.IMPLICIT;
            return new Bootstrap()
                    .group(loop)
                    .channel(transport.socketChannel())
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, config.connectTimeout().toMillis()))
                    .option(ChannelOption.TCP_NODELAY, true)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            if (implicit) {
                                SslHandler ssl = sslContext.newHandler(ch.alloc(), serverName, target.port());
                                ssl.setHandshakeTimeout(config.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
                                ch.pipeline().addLast(UpstreamHandlerNames.TLS, ssl);
                            }
                            ch.pipeline()
                                    // Below TLS, so that one flush wraps MAIL, RCPT and the like into one record.
                                    .addLast(UpstreamHandlerNames.FLUSH, Flushes.consolidating())
                                    .addLast(UpstreamHandlerNames.DECODER, new SmtpReplyDecoder(UpstreamSession.MAX_REPLY_LINE))
                                    .addLast(UpstreamHandlerNames.ENCODER, new SmtpRequestEncoder())
                                    .addLast(UpstreamHandlerNames.SESSION, session);
                        }
                    });
        }

        private void record(UpstreamFailure failure) {
            metrics.upstreamSession(failure.outcome().label());
            observer.attemptFailed(failure);
            failures++;
            // The primary's reason is what an administrator needs; but "connection refused" on one
            // address must not hide a certificate problem found on the next.
            if (firstFailure == null || (firstFailure.outcome() == Outcome.CONNECT_FAILED
                    && failure.outcome() != Outcome.CONNECT_FAILED)) {
                firstFailure = failure;
            }
        }

        private void giveUp() {
            UpstreamFailure failure = firstFailure;
            if (failures > 1) {
                failure = new UpstreamFailure(failure.outcome(),
                        failure.reason() + " (" + (failures - 1) + " other attempt" + (failures > 2 ? "s" : "") + " failed too)");
            }
            result.tryFailure(failure.asException());
        }

        private String describe(InetSocketAddress address) {
            String ip = address.getAddress().getHostAddress();
            return target.host().equals(ip) ? target.toString() : target + " (" + ip + ")";
        }
    }
}
