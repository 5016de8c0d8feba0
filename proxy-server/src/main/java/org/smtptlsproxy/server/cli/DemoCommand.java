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
        try (Demo demo = Demo.start(out)) {
            boolean relayed = demo.sendLegacyMessage();
            demo.printMetrics();
            if (exitAfterShowing) {
                return relayed ? 0 : 1;
            }
            demo.printTryItYourself();
            CountDownLatch interrupted = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(interrupted::countDown, "demo-stop"));
            interrupted.await();
            return 0;
        }
    }
}
