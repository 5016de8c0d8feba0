package org.smtptlsproxy.server.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.ConfigException;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.ConfigProblem;
import org.smtptlsproxy.config.Durations;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.server.lifecycle.ConfigReloader;
import org.smtptlsproxy.server.lifecycle.ProxyServer;
import org.smtptlsproxy.server.lifecycle.Signals;
import org.smtptlsproxy.server.lifecycle.StartupChecks;
import org.smtptlsproxy.server.lifecycle.SystemdNotifier;
import org.smtptlsproxy.server.lifecycle.SystemdWatchdog;
import org.smtptlsproxy.server.logging.LogStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "run", description = "Runs the proxy.")
public final class RunCommand implements Callable<Integer> {

    @CommandLine.Mixin
    HelpOption help;

    @Mixin
    ConfigOption config;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws InterruptedException {
        PrintWriter err = spec.commandLine().getErr();
        ProxyConfig loaded;
        try {
            loaded = new ConfigLoader().load(config.file());
            StartupChecks.verify(loaded);
        } catch (ConfigException e) {
            err.println("smtp-tls-proxy: invalid configuration " + config.file() + ":");
            for (ConfigProblem problem : e.problems()) {
                err.println("  " + problem);
            }
            err.flush();
            return 1;
        }
        LogStyle.current().useConfigured(loaded.logging().format());
        ProxyServer server;
        try {
            server = ProxyServer.start(loaded);
        } catch (ProxyServer.StartupException e) {
            err.println("smtp-tls-proxy: " + e.getMessage());
            err.flush();
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        // systemd Type=notify: silent unless NOTIFY_SOCKET is set.
        SystemdNotifier systemd = SystemdNotifier.fromEnvironment();
        Supplier<String> status = () -> SystemdWatchdog.liveCounts(server.registry(),
                server.runtime().isDraining() ? "draining" : "serving");
        ConfigReloader reloader = new ConfigReloader(config.file(), server);
        Signals.onReload(() -> {
            systemd.reloading();
            reloader.reload();
            systemd.ready(status.get()); // refused or not, the proxy is serving again
        });
        Signals.onTerminate(signal -> {
            Duration drainTimeout = server.runtime().config().drainTimeout(); // a reload may have changed it
            systemd.stopping("draining for up to " + Durations.format(drainTimeout) + " after " + signal);
            LoggerFactory.getLogger(RunCommand.class).info("{}: draining for up to {}", signal,
                    Durations.format(drainTimeout));
            server.drainAndClose(drainTimeout);
            stopped.countDown();
        });
        // Any other way out of the JVM still closes the listeners.
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "shutdown"));
        systemd.ready(status.get());
        SystemdWatchdog watchdog = SystemdWatchdog.start(systemd, System.getenv(), server.runtime()::allEventLoops, status);
        stopped.await();
        if (watchdog != null) {
            watchdog.close();
        }
        systemd.close();
        return 0;
    }
}
