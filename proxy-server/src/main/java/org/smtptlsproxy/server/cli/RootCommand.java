package org.smtptlsproxy.server.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

@Command(name = "smtp-tls-proxy",
        mixinStandardHelpOptions = true,
        versionProvider = VersionCommand.Provider.class,
        description = "Relays SMTP from legacy senders (plaintext, TLS 1.0/1.1) to Exchange Online or any "
                + "upstream over STARTTLS with TLS 1.2+.",
        subcommands = {RunCommand.class, CheckCommand.class, ProbeCommand.class, DemoCommand.class, QueueCommand.class, VersionCommand.class,
                HashPasswordCommand.class,
                CommandLine.HelpCommand.class})
public final class RootCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required: run, check, probe, demo, queue, version or hash-password");
    }

    /**
     * The configured command line: usage errors exit 2, an unexpected failure prints one line
     * (no stack trace unless SMTP_TLS_PROXY_DEBUG is set) and exits 1.
     */
    public static CommandLine commandLine() {
        CommandLine commandLine = new CommandLine(new RootCommand());
        commandLine.setExecutionExceptionHandler((e, cmd, parsed) -> {
            PrintWriter err = cmd.getErr();
            err.println("smtp-tls-proxy: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            if (System.getenv("SMTP_TLS_PROXY_DEBUG") != null) {
                e.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        return commandLine;
    }
}
