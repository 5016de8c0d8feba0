package org.smtptlsproxy.server.cli;

import io.netty.handler.ssl.OpenSsl;
import java.util.concurrent.Callable;
import org.smtptlsproxy.config.TlsProvider;
import org.smtptlsproxy.runtime.Transport;
import org.smtptlsproxy.server.ProxyVersion;
import org.smtptlsproxy.tls.TlsContextFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(name = "version", description = "Prints the version, the Netty version and the TLS provider in use.")
public final class VersionCommand implements Callable<Integer> {

    @CommandLine.Mixin
    HelpOption help;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        for (String line : lines()) {
            spec.commandLine().getOut().println(line);
        }
        spec.commandLine().getOut().flush();
        return 0;
    }

    static String[] lines() {
        String provider = OpenSsl.isAvailable()
                ? "TLS provider: " + TlsContextFactory.forProvider(TlsProvider.AUTO).providerName()
                + " (netty-tcnative, tls_provider auto)"
                : "TLS provider: JDK " + System.getProperty("java.version") + " (BoringSSL unavailable: "
                + OpenSsl.unavailabilityCause() + ")";
        return new String[] {
            "smtp-tls-proxy " + ProxyVersion.version(),
            "Netty " + ProxyVersion.nettyVersion() + " (transport " + Transport.best().name() + ")",
            provider,
            "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"
        };
    }

    /** For {@code --version}. */
    public static final class Provider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return lines();
        }
    }
}
