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
 * What the loader cannot judge, checked before `check` says OK and before `run` binds anything:
 * every TLS context is built once (the provider may refuse a cipher list or key type), and
 * features this version does not have are refused instead of failing at the first message.
 */
public final class StartupChecks {

    private StartupChecks() {
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
