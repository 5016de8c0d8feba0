package org.smtptlsproxy.server.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.smtptlsproxy.config.ConfigException;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.ConfigProblem;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.spool.CorruptSpoolFileException;
import org.smtptlsproxy.spool.SpoolAge;
import org.smtptlsproxy.spool.SpoolControl;
import org.smtptlsproxy.spool.SpoolEnvelope;
import org.smtptlsproxy.spool.SpoolFiles;
import org.smtptlsproxy.spool.SpoolId;
import org.smtptlsproxy.spool.SpoolLayout;
import org.smtptlsproxy.spool.SpoolLockedException;
import org.smtptlsproxy.spool.SpoolMetrics;
import org.smtptlsproxy.spool.SpoolRecipient;
import org.smtptlsproxy.spool.SpoolSettings;
import org.smtptlsproxy.spool.SpoolStore;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code queue list|show|retry|delete}: the spool as an operator sees it, safe while the proxy runs.
 * Reading needs no lock (envelopes are replaced by rename, so a reader sees a whole one). Changes
 * go to the process that owns the spool as requests in {@code control/}, applied within a tick;
 * when no process owns it, the command takes the lock and applies them itself.
 */
@Command(name = "queue", description = "Lists, shows, retries or deletes messages in the spool (delivery: spool).",
        subcommands = {QueueCommand.ListMessages.class, QueueCommand.Show.class, QueueCommand.Retry.class,
                QueueCommand.Delete.class})
public final class QueueCommand implements Runnable {

    @CommandLine.Mixin
    HelpOption help;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a queue command is required: list, show, retry or delete");
    }

    /** The spool directory: from {@code --directory}, else from the configuration's {@code spool.directory}. */
    static final class SpoolOptions {

        @Mixin
        ConfigOption config;

        @Option(names = {"-d", "--directory"}, paramLabel = "DIR",
                description = "Spool directory (default: spool.directory of the configuration)")
        Path directory;

        /** The spool's layout; null after printing why there is none. */
        SpoolLayout layout(PrintWriter err) {
            Path dir = directory;
            if (dir == null) {
                ProxyConfig loaded;
                try {
                    loaded = new ConfigLoader().load(config.file());
                } catch (ConfigException e) {
                    for (ConfigProblem problem : e.problems()) {
                        err.println(problem);
                    }
                    err.flush();
                    return null;
                }
                if (!loaded.spool().configured()) {
                    err.println("smtp-tls-proxy: " + config.file() + " has no spool.directory; no listener spools");
                    err.flush();
                    return null;
                }
                dir = loaded.spool().directory();
            }
            SpoolLayout layout = new SpoolLayout(dir);
            if (!layout.exists() && isEmptyDirectory(dir)) {
                return layout; // installed, not used yet: the proxy makes queue/ at its first start
            }
            if (!layout.exists()) {
                err.println("smtp-tls-proxy: " + dir + " is not a spool directory (no queue/ in it)");
                err.flush();
                return null;
            }
            return layout;
        }
    }

    private static boolean isEmptyDirectory(Path dir) {
        try (java.util.stream.Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    /** Base of the subcommands: output streams and the spool. */
    abstract static class Sub implements Callable<Integer> {

        @CommandLine.Mixin
        HelpOption help;

        @Mixin
        SpoolOptions options;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        PrintWriter out() {
            return spec.commandLine().getOut();
        }

        PrintWriter err() {
            return spec.commandLine().getErr();
        }

        int fail(String message) {
            err().println("smtp-tls-proxy: " + message);
            err().flush();
            return 1;
        }

        SpoolId id(String text) {
            SpoolId id = SpoolId.parseOrNull(text);
            if (id == null) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "'" + text + "' is not a queue id (13 characters, as in 'queued as ID')");
            }
            return id;
        }

        @Override
        public Integer call() throws IOException {
            SpoolLayout layout = options.layout(err());
            if (layout == null) {
                return 1;
            }
            int exit = layout.exists() ? run(layout) : nothingSpooledYet(layout);
            out().flush();
            err().flush();
            return exit;
        }

        abstract int run(SpoolLayout layout) throws IOException;

        /** The directory exists and is empty: no proxy has spooled there yet. */
        int nothingSpooledYet(SpoolLayout layout) {
            return fail(layout.root() + " holds no message: nothing has been spooled there yet");
        }
    }

    @Command(name = "list", description = "One line per message: id, age, size, sender, recipients pending, attempts, last reply.")
    static final class ListMessages extends Sub {

        @Override
        int nothingSpooledYet(SpoolLayout layout) {
            out().println("The spool is empty.");
            out().flush();
            return 0;
        }

        @Override
        int run(SpoolLayout layout) throws IOException {
            List<SpoolEnvelope> envelopes = layout.readEnvelopes();
            if (envelopes.isEmpty()) {
                out().println("The spool is empty.");
                return 0;
            }
            Instant now = Instant.now();
            out().printf("%-13s %7s %9s %-32s %7s %8s  %s%n", "ID", "AGE", "SIZE", "SENDER", "PENDING", "ATTEMPTS",
                    "LAST REPLY");
            long bytes = 0;
            for (SpoolEnvelope e : envelopes) {
                bytes += e.contentSize();
                out().printf("%-13s %7s %9d %-32s %3d/%-3d %8d  %s%n", e.id(), SpoolAge.between(e.arrival(), now), e.contentSize(),
                        e.hasNullSender() ? "<>" : e.sender(), e.pendingCount(), e.recipients().size(), e.attempts(),
                        e.lastReply() == null ? "-" : e.lastReply());
            }
            out().println(envelopes.size() + " message" + (envelopes.size() == 1 ? "" : "s") + ", " + bytes + " bytes");
            return 0;
        }
    }

    @Command(name = "show", description = "The envelope with every recipient's state, and the message's headers.")
    static final class Show extends Sub {

        private static final int MAX_HEADER_BYTES = 64 * 1024;

        @Parameters(index = "0", paramLabel = "ID")
        String id;

        @Override
        int run(SpoolLayout layout) throws IOException {
            SpoolId spoolId = id(id);
            Optional<SpoolEnvelope> found;
            try {
                found = layout.readEnvelope(spoolId);
            } catch (CorruptSpoolFileException e) {
                return fail(e.getMessage() + " (the proxy moves it to corrupt/ at its next start)");
            }
            if (found.isEmpty()) {
                return fail("no message " + spoolId + " in the spool (delivered, deleted or never queued)");
            }
            SpoolEnvelope e = found.get();
            PrintWriter out = out();
            out.println("id:           " + e.id());
            out.println("arrival:      " + e.arrival() + " (" + SpoolAge.between(e.arrival(), Instant.now()) + " ago)");
            out.println("listener:     " + e.listener());
            out.println("session:      " + e.sessionId());
            out.println("client:       " + e.clientFacts());
            out.println("sender:       <" + e.sender() + ">" + (e.senderParameters().isEmpty() ? "" : " " + e.senderParameters()));
            out.println("size:         " + e.contentSize() + " bytes");
            out.println("attempts:     " + e.attempts());
            out.println("next attempt: " + e.nextAttempt());
            out.println("last reply:   " + (e.lastReply() == null ? "-" : e.lastReply()));
            for (SpoolRecipient r : e.recipients()) {
                out.println("recipient:    <" + r.address() + ">" + (r.parameters().isEmpty() ? "" : " " + r.parameters())
                        + " " + r.state().name().toLowerCase(java.util.Locale.ROOT)
                        + (r.lastReply() == null ? "" : ": " + r.lastReply()));
            }
            out.println();
            try (InputStream in = layout.openContent(e)) {
                byte[] head = in.readNBytes(MAX_HEADER_BYTES);
                if (!layout.holds(spoolId)) {
                    // Delivered while we read: its file may already hold another message's octets.
                    throw new java.nio.file.NoSuchFileException(spoolId.value());
                }
                String text = new String(head, StandardCharsets.UTF_8);
                int end = text.indexOf("\r\n\r\n");
                out.print(end < 0 ? text : text.substring(0, end + 2));
                if (end < 0 && head.length == MAX_HEADER_BYTES) {
                    out.println("[headers cut at " + MAX_HEADER_BYTES + " bytes]");
                }
            } catch (java.nio.file.NoSuchFileException gone) {
                out.println("[the content is gone: the message was just delivered or deleted]");
            }
            return 0;
        }
    }

    @Command(name = "retry", description = "Attempts delivery now instead of at the next retry time.")
    static final class Retry extends Sub {

        @Parameters(index = "0", paramLabel = "ID", arity = "0..1")
        String id;

        @Option(names = "--all", description = "Every message in the spool.")
        boolean all;

        @Override
        int run(SpoolLayout layout) throws IOException {
            if (all == (id != null)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "give an ID or --all");
            }
            SpoolId target = all ? null : id(id);
            if (target != null && !exists(layout, target)) {
                return fail("no message " + target + " in the spool");
            }
            try (SpoolStore store = openOwned(layout)) {
                int count = 0;
                for (SpoolEnvelope e : store.envelopes()) {
                    if (target == null || e.id().equals(target)) {
                        store.update(e.withNextAttempt(Instant.now()));
                        count++;
                    }
                }
                out().println(count + " message" + (count == 1 ? "" : "s") + " due now; the proxy sends "
                        + (count == 1 ? "it" : "them") + " when it next runs");
                return 0;
            } catch (SpoolLockedException running) {
                new SpoolControl(layout).requestRetry(target);
                out().println("Requested: the running proxy retries " + (target == null ? "every message" : target)
                        + " within seconds.");
                return 0;
            }
        }
    }

    @Command(name = "delete", description = "Removes a message from the queue (it is moved to deleted/, never sent).")
    static final class Delete extends Sub {

        private static final Duration WAIT = Duration.ofSeconds(10);

        @Parameters(index = "0", paramLabel = "ID")
        String id;

        @Override
        int run(SpoolLayout layout) throws IOException {
            SpoolId target = id(id);
            if (!exists(layout, target)) {
                return fail("no message " + target + " in the spool");
            }
            try (SpoolStore store = openOwned(layout)) {
                if (!store.moveToDeleted(target)) {
                    return fail("no message " + target + " in the spool");
                }
                out().println(target + " moved to " + layout.root().resolve("deleted"));
                return 0;
            } catch (SpoolLockedException running) {
                SpoolControl control = new SpoolControl(layout);
                control.requestDelete(target);
                long deadline = System.nanoTime() + WAIT.toNanos();
                while (control.pending(SpoolControl.Action.DELETE, target) && System.nanoTime() < deadline) {
                    sleep();
                }
                if (control.pending(SpoolControl.Action.DELETE, target)) {
                    out().println("Requested: the running proxy deletes " + target + " at its next tick (it has not yet).");
                } else if (exists(layout, target)) {
                    out().println("Requested: " + target + " is being delivered right now; it is moved to deleted/ "
                            + "when that attempt ends (recipients it reaches in it are not recalled).");
                } else {
                    out().println(target + " moved to " + layout.root().resolve("deleted"));
                }
                return 0;
            }
        }

        private static void sleep() {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static boolean exists(SpoolLayout layout, SpoolId id) throws IOException {
        try {
            return layout.readEnvelope(id).isPresent();
        } catch (CorruptSpoolFileException e) {
            return true; // there, if damaged: the owner moves it aside, the operator is not told "no such message"
        }
    }

    /** The spool with its lock, when no proxy runs on it. */
    private static SpoolStore openOwned(SpoolLayout layout) throws IOException {
        // Bounds do not matter here: nothing is added.
        return SpoolStore.open(new SpoolSettings(layout.root(), Long.MAX_VALUE, Integer.MAX_VALUE, false, 1),
                SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none());
    }
}
