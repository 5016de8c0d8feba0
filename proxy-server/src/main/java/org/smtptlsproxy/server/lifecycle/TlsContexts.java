package org.smtptlsproxy.server.lifecycle;

import java.util.ArrayList;
import java.util.List;
import org.smtptlsproxy.config.ConfigException;
import org.smtptlsproxy.config.ConfigProblem;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.config.ListenerConfig;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.tls.TlsContextFactory;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * Builds every TLS context of a config once, to find what only the TLS provider can judge
 * (an unusable cipher list, a key type it refuses), reported like any other config problem.
 */
public final class TlsContexts {

    private TlsContexts() {
    }

    public static void verify(ProxyConfig config) throws ConfigException {
        List<ConfigProblem> problems = new ArrayList<>();
        TlsContextFactory factory;
        try {
            factory = TlsContextFactory.forProvider(config.tlsProvider());
        } catch (IllegalStateException e) {
            throw new ConfigException(List.of(new ConfigProblem("tls_provider", 0, e.getMessage())));
        }
        for (int i = 0; i < config.listeners().size(); i++) {
            ListenerConfig listener = config.listeners().get(i);
            if (listener.tls().mode() == InboundTlsMode.NONE) {
                continue;
            }
            try {
                factory.serverContext(listener.tls());
            } catch (Exception e) {
                problems.add(new ConfigProblem("listeners[" + i + "].tls", 0,
                        "the " + factory.providerName() + " TLS provider refused this setup: " + TlsFailures.reason(e)));
            }
        }
        try {
            factory.clientContext(config.upstream().tls());
        } catch (Exception e) {
            problems.add(new ConfigProblem("upstream.tls", 0,
                    "the " + factory.providerName() + " TLS provider refused this setup: " + TlsFailures.reason(e)));
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }
}
