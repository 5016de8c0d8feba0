package org.smtptlsproxy.server.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --config FILE}, shared by run and check. */
public final class ConfigOption {

    public static final String DEFAULT = "/etc/smtp-tls-proxy/config.yaml";

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", defaultValue = DEFAULT,
            description = "Configuration file (default: ${DEFAULT-VALUE})")
    Path file;

    public Path file() {
        return file;
    }
}
