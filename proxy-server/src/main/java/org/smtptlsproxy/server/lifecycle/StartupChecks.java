package org.smtptlsproxy.server.lifecycle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
        spool(config, problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }

    /** The spool directory must be one the proxy can create files in (it is created when missing). */
    private static void spool(ProxyConfig config, List<ConfigProblem> problems) {
        if (!config.spools()) {
            return;
        }
        String unwritable = unwritable(config.spool().directory());
        if (unwritable != null) {
            problems.add(new ConfigProblem("spool.directory", 0, unwritable));
        }
    }

    /** Why the proxy could not keep messages in {@code directory}; null when it can. */
    static String unwritable(Path directory) {
        Path existing = directory;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null || !Files.isDirectory(existing)) {
            return "cannot create " + directory + ": " + existing + " is not a directory";
        }
        if (!existing.equals(directory)) {
            return Files.isWritable(existing) ? null
                    : "cannot create " + directory + ": " + existing + " is not writable by this user";
        }
        try {
            Path probe = Files.createTempFile(directory, ".check", ".tmp");
            Files.delete(probe);
            return null;
        } catch (IOException e) {
            return directory + " is not writable by this user: " + e.getMessage();
        }
    }
}
