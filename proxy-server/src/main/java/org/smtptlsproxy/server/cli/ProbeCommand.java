package org.smtptlsproxy.server.cli;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.smtptlsproxy.auth.OAuth2TokenSource;
import org.smtptlsproxy.config.AuthMechanism;
import org.smtptlsproxy.config.ConfigException;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.HostPort;
import org.smtptlsproxy.config.PoolConfig;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.config.TlsProvider;
import org.smtptlsproxy.config.TrustSource;
import org.smtptlsproxy.config.UpstreamAuth;
import org.smtptlsproxy.config.UpstreamConfig;
import org.smtptlsproxy.config.UpstreamTls;
import org.smtptlsproxy.config.UpstreamTlsMode;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.outbound.SetupObserver;
import org.smtptlsproxy.outbound.UpstreamConnector;
import org.smtptlsproxy.outbound.UpstreamFailure;
import org.smtptlsproxy.outbound.UpstreamSession;
import org.smtptlsproxy.runtime.Transport;
import org.smtptlsproxy.smtp.EhloCapabilities;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;
import org.smtptlsproxy.tls.ChainRecordingTrustManager;
import org.smtptlsproxy.tls.TlsContextFactory;
import org.smtptlsproxy.tls.TlsFailures;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Opens one upstream session with the relay's own connector, TLS context and set-up steps, and
 * prints each step: so "probe says OK" means the relay would get as far as MAIL. Exit 0 when it
 * would, 1 when it would not (with the reason the relay would give), 2 on usage errors. With
 * {@code --config} it probes the configured upstream exactly as configured, AUTH included.
 */
@Command(name = "probe", description = "Connects to an upstream as the relay would (EHLO, STARTTLS, TLS 1.2+, "
        + "certificate and name verification) and prints what it found and why a relay would fail.")
public final class ProbeCommand implements Callable<Integer> {

    @CommandLine.Mixin
    HelpOption help;

    @Parameters(index = "0", arity = "0..1", paramLabel = "HOST[:PORT]",
            description = "Upstream host; port 25 by default (465 with --implicit-tls). "
                    + "Optional with --config: the configured upstream.")
    String target;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "Probe as this configuration's relay would: its upstream, trust, server name, hostname, "
                    + "TLS provider and AUTH (the options below override them).")
    Path config;

    @Option(names = "--implicit-tls", description = "TLS from the first byte (port 465 style) instead of STARTTLS.")
    boolean implicitTls;

    @Option(names = "--trust", paramLabel = "PEM", description = "CA bundle to verify against (default: the system's CAs).")
    Path trust;

    @Option(names = "--server-name", paramLabel = "NAME",
            description = "Name to verify the certificate against and send as SNI (default: HOST).")
    String serverName;

    @Option(names = "--ehlo", paramLabel = "NAME", description = "Name to say in EHLO (default: this machine's name).")
    String ehloName;

    @Option(names = "--timeout", paramLabel = "SECONDS",
            description = "Limit for the TCP connect and for each reply (default: 30, or the config's timeouts).")
    Integer timeoutSeconds;

    @Option(names = "--tls-provider", paramLabel = "PROVIDER",
            description = "auto, openssl (BoringSSL) or jdk, as tls_provider in the config (default: auto, or the config's).")
    String provider;

    @Option(names = "--explain", paramLabel = "REPLY",
            description = "Explain a reply from Exchange Online (as a sender's queue or the log shows it, e.g. "
                    + "\"550 5.7.64 TenantAttribution; Relay Access Denied\") and what to change; connects nowhere.")
    String explain;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (explain != null) {
            return explainReply(out, explain);
        }
        ProxyConfig configured = null;
        if (config != null) {
            try {
                configured = new ConfigLoader().load(config);
            } catch (ConfigException e) {
                PrintWriter err = spec.commandLine().getErr();
                err.println("smtp-tls-proxy: invalid configuration " + config + ":");
                e.problems().forEach(problem -> err.println("  " + problem));
                err.flush();
                return 1;
            }
        } else if (target == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "HOST[:PORT] is required without --config");
        }
        UpstreamConfig upstream = upstreamConfig(configured);
        TlsContextFactory tls = TlsContextFactory.forProvider(tlsProvider(configured));
        ChainRecordingTrustManager trustManager;
        try {
            trustManager = ChainRecordingTrustManager.forTrust(upstream.tls().trust());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot build the trust store: " + e.getMessage(), e);
        }
        UpstreamAuth auth = upstream.auth();
        out.printf("probe %s (%s, %s, %s, trust %s%s)%n", upstream.address(),
                upstream.tls().mode() == UpstreamTlsMode.IMPLICIT ? "implicit TLS" : "STARTTLS",
                "TLSv1.3".equals(upstream.tls().minProtocol()) ? "TLS 1.3" : "TLS 1.2+", tls.providerName(),
                upstream.tls().trust().isSystem() ? "system CAs" : upstream.tls().trust().bundle(),
                auth.mechanism() == AuthMechanism.NONE ? "" : ", AUTH " + auth.mechanism().name() + " as " + auth.username());
        if (upstream.tls().clientIdentity() != null) {
            printClientCertificate(out, upstream.tls().clientIdentity().chain().get(0));
        }
        Transport transport = Transport.best();
        EventLoopGroup group = transport.newGroup(1, new DefaultThreadFactory("probe", true));
        ExecutorService background = Executors.newFixedThreadPool(2, new DefaultThreadFactory("probe-work", true));
        try {
            OAuth2TokenSource tokens = auth.mechanism() == AuthMechanism.XOAUTH2
                    ? new OAuth2TokenSource(auth.oauth2(), background) : null;
            String ehlo = ehloName != null ? ehloName : configured != null ? configured.hostname() : HostPort.localHostName();
            UpstreamConnector connector = new UpstreamConnector(upstream, tls.clientContext(upstream.tls(), trustManager),
                    ehlo, new ProxyMetrics(new SimpleMeterRegistry()), transport, background, tokens);
            Report report = new Report(out, trustManager);
            Future<UpstreamSession> opened = connector.open(group.next(), report);
            // Per target: connect, then banner, EHLO, STARTTLS, handshake, EHLO and AUTH, each bounded.
            long limitSeconds = (1 + upstream.fallbackHosts().size())
                    * (upstream.connectTimeout().toSeconds() + 7 * upstream.commandTimeout().toSeconds()) + 5;
            if (!opened.await(limitSeconds, TimeUnit.SECONDS)) {
                out.println("FAILED: no answer within " + limitSeconds + " s");
                return 1;
            }
            if (opened.isSuccess()) {
                opened.getNow().quit();
                out.printf("OK: a relay through %s would work%n", opened.getNow().target());
                return 0;
            }
            UpstreamFailure failure = opened.cause() instanceof UpstreamFailure.UpstreamException e
                    ? e.failure() : UpstreamFailure.of(opened.cause());
            if (report.failures.size() > 1) {
                report.failures.forEach(f -> out.printf("attempt failed (%s): %s%n", f.outcome().label(), f.reason()));
            }
            if (trustManager.failure() != null) {
                printChain(out, trustManager.chain());
                out.println("verification: FAILED: " + TlsFailures.reason(trustManager.failure()));
            }
            out.printf("FAILED (%s): %s%n", failure.outcome().label(), failure.reason());
            printExplanation(out, UpstreamReplyReason.quotedIn(failure.toReply()));
            return 1;
        } finally {
            out.flush();
            background.shutdownNow();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    /**
     * Without a config: the host given, STARTTLS (or implicit TLS), the system's CAs or --trust, no
     * AUTH. With one: its upstream as configured, fallback hosts and AUTH included, unless HOST
     * names another; the options given override the config's values.
     */
    private UpstreamConfig upstreamConfig(ProxyConfig configured) {
        if (timeoutSeconds != null && timeoutSeconds < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--timeout must be at least 1 second");
        }
        UpstreamConfig base = configured != null ? configured.upstream() : null;
        UpstreamTlsMode mode = implicitTls ? UpstreamTlsMode.IMPLICIT
                : base != null ? base.tls().mode() : UpstreamTlsMode.STARTTLS;
        List<HostPort> fallbacks = base != null && target == null ? base.fallbackHosts() : List.of();
        HostPort address;
        if (target == null) {
            address = base.address();
        } else {
            try {
                address = HostPort.parse(target, mode == UpstreamTlsMode.IMPLICIT ? 465 : 25);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "HOST[:PORT] " + e.getMessage());
            }
        }
        TrustSource anchors = base != null ? base.tls().trust() : TrustSource.SYSTEM;
        if (trust != null) {
            try {
                anchors = TrustSource.fromPemBundle(trust);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--trust " + trust + ": " + e.getMessage());
            }
        }
        String name = serverName != null ? serverName : base != null && target == null ? base.tls().serverName() : null;
        UpstreamTls tls = base == null
                ? new UpstreamTls(mode, "TLSv1.2", List.of(), true, name, anchors, null)
                : new UpstreamTls(mode, base.tls().minProtocol(), base.tls().ciphers(), base.tls().verifyHostname(), name,
                        anchors, base.tls().clientIdentity());
        Duration connect = timeoutSeconds != null ? Duration.ofSeconds(timeoutSeconds)
                : base != null ? base.connectTimeout() : Duration.ofSeconds(30);
        Duration command = timeoutSeconds != null ? Duration.ofSeconds(timeoutSeconds)
                : base != null ? base.commandTimeout() : Duration.ofSeconds(30);
        return new UpstreamConfig(address, tls, base != null ? base.auth() : UpstreamAuth.NONE, fallbacks, connect, command,
                new PoolConfig(0, command));
    }

    private TlsProvider tlsProvider(ProxyConfig configured) {
        if (provider == null) {
            return configured != null ? configured.tlsProvider() : TlsProvider.AUTO;
        }
        try {
            return TlsProvider.valueOf(provider.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--tls-provider must be auto, openssl or jdk, not '" + provider + "'");
        }
    }

    /** {@code --explain}: a pasted reply, classified as the relay's metrics and log would. */
    private int explainReply(PrintWriter out, String reply) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^\\s*([2-5]\\d\\d)[ -]?(.*)$", java.util.regex.Pattern.DOTALL)
                .matcher(reply);
        if (!m.matches()) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--explain needs a reply starting with its three-digit code, e.g. \"550 5.7.64 TenantAttribution\"");
        }
        UpstreamReplyReason reason = UpstreamReplyReason.quotedIn(SmtpReply.of(Integer.parseInt(m.group(1)), m.group(2).strip()));
        out.println("reason: " + reason.label());
        if (reason == UpstreamReplyReason.NONE) {
            out.println("a success or intermediate reply: nothing to change");
        } else if (reason == UpstreamReplyReason.OTHER) {
            out.println("not one of Exchange Online's well-known replies; its code class says "
                    + (m.group(1).startsWith("4") ? "temporary (the sender retries)" : "permanent (the sender bounces it)"));
        } else {
            printExplanation(out, reason);
        }
        out.flush();
        return 0;
    }

    /** Plain words for an Exchange Online reason; nothing for a reply that is not one. */
    static void printExplanation(PrintWriter out, UpstreamReplyReason reason) {
        if (reason.meaning().isEmpty()) {
            return;
        }
        out.println("what it means (" + reason.label() + "): " + reason.meaning());
        out.println("what to change: " + reason.remedy());
    }

    /**
     * A certificate-based inbound connector in Exchange Online matches the sending server's
     * certificate by name (TlsSenderCertificateName): say which names this one offers.
     */
    static void printClientCertificate(PrintWriter out, X509Certificate certificate) {
        out.println("client certificate: " + certificate.getSubjectX500Principal().getName()
                + ", valid until " + certificate.getNotAfter().toInstant());
        List<String> names = CertificateDescription.connectorNames(certificate);
        out.println("Exchange Online matches a certificate-based connector (TlsSenderCertificateName) against: "
                + (names.isEmpty() ? "(no name: the certificate has neither a CN nor a DNS subjectAltName)" : String.join(", ", names)));
    }

    static void printChain(PrintWriter out, List<X509Certificate> chain) {
        out.println("certificate chain presented (" + chain.size() + "):");
        for (int i = 0; i < chain.size(); i++) {
            List<String> lines = CertificateDescription.lines(chain.get(i), Instant.now());
            for (int j = 0; j < lines.size(); j++) {
                out.println((j == 0 ? "  [" + i + "] " : "      ") + lines.get(j));
            }
        }
    }

    /** Prints each step as the connector takes it (on the probe's event loop). */
    private static final class Report implements SetupObserver {

        private final PrintWriter out;
        private final ChainRecordingTrustManager trustManager;
        private boolean tlsShown;
        /** Every failed target or address; printed when there was more than one. */
        final List<UpstreamFailure> failures = new CopyOnWriteArrayList<>();

        Report(PrintWriter out, ChainRecordingTrustManager trustManager) {
            this.out = out;
            this.trustManager = trustManager;
        }

        @Override
        public void connected(InetSocketAddress address) {
            out.println("connected to " + address.getAddress().getHostAddress() + " port " + address.getPort());
        }

        @Override
        public void banner(SmtpReply banner) {
            out.println("banner: " + banner.oneLine());
        }

        @Override
        public void ehlo(UpstreamSession session, EhloCapabilities capabilities) {
            if (session.isTls() && !tlsShown) {
                tlsEstablished(session); // implicit TLS: the handshake preceded the banner
            }
            out.println((session.isTls() ? "EHLO in TLS: " : "EHLO: ") + capabilities.describe());
        }

        @Override
        public void tlsEstablished(UpstreamSession session) {
            tlsShown = true;
            out.println("TLS: " + session.tlsProtocol() + ", " + session.tlsCipher() + ", verified for " + session.serverName());
            printChain(out, trustManager.chain());
        }

        @Override
        public void authenticated(String mechanism, SmtpReply reply) {
            out.println("AUTH " + mechanism + ": accepted (" + reply.oneLine() + ")");
        }

        @Override
        public void attemptFailed(UpstreamFailure failure) {
            failures.add(failure);
        }
    }
}
