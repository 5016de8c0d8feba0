package org.smtptlsproxy.server.cli;

import picocli.CommandLine.Option;

/**
 * {@code -h, --help} for a subcommand: administrators type {@code COMMAND --help} far more often
 * than {@code help COMMAND}. Only help, not picocli's standard {@code --version}: the version
 * belongs to the root command and {@code version}.
 */
public final class HelpOption {

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean requested;
}
