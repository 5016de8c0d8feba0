package org.smtptlsproxy.server.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.smtptlsproxy.server.demo.Demo;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", description = "Shows the whole path on this machine: a TLS 1.0 sender, the proxy, "
        + "a TLS 1.2-only upstream; then keeps running for you to try (Ctrl-C stops it).")
public final class DemoCommand implements Callable<Integer> {

    @CommandLine.Mixin
    HelpOption help;

    @Option(names = "--exit", hidden = true, description = "Stop after showing the path (for tests).")
    boolean exitAfterShowing;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Demo demo = Demo.start(out);
        // Ctrl-C and SIGTERM end the JVM through its shutdown hooks: the hook itself closes the
        // demo (deleting its folder and private key) before the JVM may halt. A countdown alone
        // would leave the deletion racing the halt in this thread.
        Thread cleanUp = new Thread(demo::close, "demo-clean-up");
        Runtime.getRuntime().addShutdownHook(cleanUp);
        try {
            boolean relayed = demo.sendLegacyMessage();
            demo.printMetrics();
            if (exitAfterShowing) {
                return relayed ? 0 : 1;
            }
            demo.printTryItYourself();
            new CountDownLatch(1).await(); // until the JVM is told to stop
            return 0;
        } finally {
            demo.close();
            try {
                Runtime.getRuntime().removeShutdownHook(cleanUp);
            } catch (IllegalStateException shuttingDown) {
                // the hook has run or is running: it closed the demo
            }
        }
    }
}
