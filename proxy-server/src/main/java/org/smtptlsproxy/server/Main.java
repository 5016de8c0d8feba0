package org.smtptlsproxy.server;

import java.io.PrintWriter;
import org.smtptlsproxy.server.cli.RootCommand;
import org.smtptlsproxy.tls.JdkLegacyProtocols;
import picocli.CommandLine;

/** Entry point of {@code smtp-tls-proxy.jar}. */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit code (0 ok, 1 failure, 2 usage error). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** The same, with the command's output and error streams given (tests capture them). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        // Must precede any TLS use in this JVM: legacy senders need TLS 1.0/1.1 on the JDK provider,
        // and no client may renegotiate (BoringSSL servers never do; the JDK needs telling).
        JdkLegacyProtocols.enable();
        System.setProperty("jdk.tls.rejectClientInitiatedRenegotiation", "true");
        CommandLine commandLine = RootCommand.commandLine();
        commandLine.setOut(out);
        commandLine.setErr(err);
        return commandLine.execute(args);
    }
}
