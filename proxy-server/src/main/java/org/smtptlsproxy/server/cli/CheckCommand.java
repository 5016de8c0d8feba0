package org.smtptlsproxy.server.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import org.smtptlsproxy.config.ConfigException;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.ConfigProblem;
import org.smtptlsproxy.config.DeliveryMode;
import org.smtptlsproxy.config.InboundTls;
import org.smtptlsproxy.config.ListenerConfig;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.server.lifecycle.StartupChecks;
import org.smtptlsproxy.spool.SpoolLayout;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "check", description = "Validates the configuration; prints every problem with its key path and line.")
public final class CheckCommand implements Callable<Integer> {

    @CommandLine.Mixin
    HelpOption help;

    @Mixin
    ConfigOption config;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            ProxyConfig loaded = new ConfigLoader().load(config.file());
            // Beyond what the loader checks: the TLS provider must accept the material and lists.
            StartupChecks.verify(loaded);
            out.println(config.file() + ": OK (" + loaded.listeners().size() + " listener"
                    + (loaded.listeners().size() == 1 ? "" : "s") + ", upstream " + loaded.upstream().address() + ")");
            certificates(loaded, out);
            spool(loaded, out);
            out.flush();
            return 0;
        } catch (ConfigException e) {
            for (ConfigProblem problem : e.problems()) {
                err.println(problem);
            }
            err.flush();
            return 1;
        }
    }

    /** Which listeners spool, where, and what is queued there now (read without the proxy's lock). */
    private static void spool(ProxyConfig config, PrintWriter out) {
        if (!config.spools()) {
            return;
        }
        List<String> spooling = config.listeners().stream()
                .filter(listener -> listener.delivery() == DeliveryMode.SPOOL).map(ListenerConfig::name).toList();
        SpoolLayout layout = new SpoolLayout(config.spool().directory());
        String queued;
        try {
            queued = layout.exists() ? layout.readEnvelopes().size() + " message(s) queued" : "empty, created at start-up";
        } catch (IOException e) {
            queued = "cannot read it: " + e.getMessage();
        }
        out.println("  spool.directory: " + layout.root() + " (delivery: spool on " + String.join(", ", spooling) + "; "
                + queued + ")");
    }

    /** Each certificate a listener serves, so that an administrator sees which file holds what and until when. */
    private static void certificates(ProxyConfig config, PrintWriter out) {
        Instant now = Instant.now();
        for (int i = 0; i < config.listeners().size(); i++) {
            InboundTls tls = config.listeners().get(i).tls();
            String path = "listeners[" + i + "].tls.";
            if (tls.identity() != null) {
                out.println("  " + path + "certificate: " + CertificateDescription.summary(tls.identity().chain().get(0), now));
            }
            if (tls.ecIdentity() != null) {
                out.println("  " + path + "ec_certificate: " + CertificateDescription.summary(tls.ecIdentity().chain().get(0), now));
            }
        }
    }
}
