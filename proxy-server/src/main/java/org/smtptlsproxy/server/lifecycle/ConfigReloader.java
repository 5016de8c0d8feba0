package org.smtptlsproxy.server.lifecycle;

import java.nio.file.Path;
import java.util.List;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.ConfigException;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.ConfigProblem;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.server.logging.LogStyle;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * SIGHUP: re-reads the config file with its certificates, keys, trust bundles and users file, and
 * applies it to new connections. A config that `check` would refuse is refused here too: the
 * proxy keeps running on the previous one and logs every problem.
 */
public final class ConfigReloader {

    private static final Logger LOG = LoggerFactory.getLogger(ConfigReloader.class);

    private final Path file;
    private final ProxyServer server;

    public ConfigReloader(Path file, ProxyServer server) {
        this.file = file;
        this.server = server;
    }

    /**
     * @return true when the new config is in force, false when it was refused (and why is logged);
     *         either way counted in {@code smtp_proxy_config_reloads_total{outcome}}
     */
    public synchronized boolean reload() {
        boolean inForce = tryReload();
        server.runtime().metrics().configReloaded(inForce);
        return inForce;
    }

    private boolean tryReload() {
        ProxyConfig next;
        try {
            next = new ConfigLoader().load(file);
            StartupChecks.verify(next);
        } catch (ConfigException e) {
            LOG.warn("reload of {} refused, still running on the previous configuration:", file);
            for (ConfigProblem problem : e.problems()) {
                LOG.warn("  {}", problem);
            }
            return false;
        }
        try {
            List<String> needRestart = server.reload(next);
            needRestart.forEach(line -> LOG.warn("reload: {}", line));
        } catch (SSLException e) {
            LOG.warn("reload of {} refused, still running on the previous configuration: TLS setup failed: {}", file,
                    TlsFailures.reason(e));
            return false;
        } catch (RuntimeException e) {
            // Runs on the signal's thread: nobody else would hear of it.
            LOG.error("reload of {} failed, still running on the previous configuration", file, e);
            return false;
        }
        LogStyle.current().useConfigured(next.logging().format());
        LOG.info("reloaded {}: new connections and upstream sessions use it; sessions in flight keep theirs", file);
        return true;
    }
}
