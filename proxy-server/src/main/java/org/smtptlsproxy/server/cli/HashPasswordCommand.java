package org.smtptlsproxy.server.cli;

import java.io.IOException;
import java.util.concurrent.Callable;
import org.smtptlsproxy.auth.PasswordHashes;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "hash-password", description = "Prints a users_file line (user:hash). A person at a terminal is asked twice on the "
        + "terminal, not echoed, even with output redirected (hash-password USER >> users); a script "
        + "gives one line on standard input.")
public final class HashPasswordCommand implements Callable<Integer> {

    @CommandLine.Mixin
    HelpOption help;

    @Parameters(index = "0", paramLabel = "USER", description = "The user name the device will log in with.")
    String user;

    @Option(names = "--algorithm", defaultValue = "bcrypt", description = "bcrypt (default) or pbkdf2")
    String algorithm;

    @Option(names = "--cost", defaultValue = "12", description = "bcrypt cost (default ${DEFAULT-VALUE})")
    int cost;

    @Option(names = "--iterations", defaultValue = "600000", description = "PBKDF2 iterations (default ${DEFAULT-VALUE})")
    int iterations;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (user.isEmpty() || user.contains(":")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "USER must not be empty or contain ':'");
        }
        if (!algorithm.equals("bcrypt") && !algorithm.equals("pbkdf2")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--algorithm must be bcrypt or pbkdf2");
        }
        if (cost < 4 || cost > 31 || iterations < 10_000) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--cost must be 4-31 and --iterations at least 10000");
        }
        String password;
        try {
            char[] typed = PasswordPrompt.read();
            password = typed == null ? "" : new String(typed);
        } catch (PasswordPrompt.Refused e) {
            return fail(e.getMessage());
        }
        if (password.isEmpty()) {
            return fail("no password given");
        }
        String hash = algorithm.equals("bcrypt") ? PasswordHashes.bcrypt(password, cost) : PasswordHashes.pbkdf2(password, iterations);
        spec.commandLine().getOut().println(user + ":" + hash);
        spec.commandLine().getOut().flush();
        return 0;
    }

    private int fail(String message) {
        spec.commandLine().getErr().println("smtp-tls-proxy: " + message);
        spec.commandLine().getErr().flush();
        return 1;
    }
}
