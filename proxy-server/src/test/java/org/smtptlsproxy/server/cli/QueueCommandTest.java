package org.smtptlsproxy.server.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.config.BounceMode;
import org.smtptlsproxy.server.Main;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.spool.AttemptResult;
import org.smtptlsproxy.spool.DeliveryStatusNotification;
import org.smtptlsproxy.spool.MessageDraft;
import org.smtptlsproxy.spool.RetrySchedule;
import org.smtptlsproxy.spool.SpoolEnvelope;
import org.smtptlsproxy.spool.SpoolFiles;
import org.smtptlsproxy.spool.SpoolLayout;
import org.smtptlsproxy.spool.SpoolMetrics;
import org.smtptlsproxy.spool.SpoolRecipient;
import org.smtptlsproxy.spool.SpoolScheduler;
import org.smtptlsproxy.spool.SpoolSettings;
import org.smtptlsproxy.spool.SpoolStore;
import org.smtptlsproxy.spool.SpoolWriter;

/** {@code queue} against a real spool directory, with and without a running owner. */
@Timeout(60)
class QueueCommandTest {

    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    private Run queue(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] full = new String[args.length + 3];
        full[0] = "queue";
        System.arraycopy(args, 0, full, 1, args.length);
        full[args.length + 1] = "--directory";
        full[args.length + 2] = dir.toString();
        int exit = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), full);
        return new Run(exit, out.toString(), err.toString());
    }

    private SpoolStore open() throws Exception {
        return SpoolStore.open(new SpoolSettings(dir, 1 << 30, 1000, true, 2), SpoolFiles.disk(), Clock.systemUTC(),
                SpoolMetrics.none());
    }

    private static SpoolEnvelope commit(SpoolStore store, String sender, String recipient) throws Exception {
        SpoolWriter writer = store.open();
        writer.write("Subject: Scan to email\r\nMessage-ID: <7@mfp>\r\n\r\nSECRET BODY\r\n".getBytes(StandardCharsets.US_ASCII));
        return writer.commit(new MessageDraft("printers", "s42", "client=192.0.2.7", sender, "SIZE=60",
                List.of(SpoolRecipient.pending(recipient, "NOTIFY=FAILURE")))).get(10, TimeUnit.SECONDS);
    }

    @Test
    void listAndShowReadTheSpool() throws Exception {
        SpoolEnvelope first;
        try (SpoolStore store = open()) {
            assertEquals("The spool is empty.\n", queue("list").out());
            first = commit(store, "scanner@example.com", "alice@example.com");
            commit(store, "", "bob@example.com");
        }
        Run list = queue("list");
        assertEquals(0, list.exit(), list.err());
        assertTrue(list.out().contains(first.id().value()), list.out());
        assertTrue(list.out().contains("scanner@example.com"), list.out());
        assertTrue(list.out().contains("<>"), list.out());
        assertTrue(list.out().contains("2 messages, 120 bytes"), list.out());

        Run show = queue("show", first.id().value());
        assertEquals(0, show.exit(), show.err());
        assertTrue(show.out().contains("sender:       <scanner@example.com> SIZE=60"), show.out());
        assertTrue(show.out().contains("recipient:    <alice@example.com> NOTIFY=FAILURE pending"), show.out());
        assertTrue(show.out().contains("Subject: Scan to email\r\nMessage-ID: <7@mfp>"), show.out());
        assertFalse(show.out().contains("SECRET BODY"), "headers only");
    }

    @Test
    void showPrintsAHeadersOnlyMessageWithoutTheEnvelopeStoredAfterIt() throws Exception {
        SpoolEnvelope envelope;
        try (SpoolStore store = open()) {
            SpoolWriter writer = store.open();
            writer.write("Subject: no body, no blank line\r\n".getBytes(StandardCharsets.US_ASCII));
            envelope = writer.commit(new MessageDraft("printers", "s43", "client=192.0.2.7", "a@example.com", "",
                    List.of(SpoolRecipient.pending("b@example.com", "")))).get(10, TimeUnit.SECONDS);
        }
        Run show = queue("show", envelope.id().value());
        assertEquals(0, show.exit(), show.err());
        assertTrue(show.out().endsWith("\n\nSubject: no body, no blank line\r\n"), show.out());
    }

    @Test
    void mistakesAreClearErrors() throws Exception {
        try (SpoolStore store = open()) {
            commit(store, "a@example.com", "b@example.com");
        }
        Run badId = queue("show", "../../etc/passwd");
        assertEquals(2, badId.exit());
        assertTrue(badId.err().contains("is not a queue id"), badId.err());
        Run missing = queue("delete", "0000000000000");
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("no message 0000000000000 in the spool"), missing.err());
        Run neither = queue("retry");
        assertEquals(2, neither.exit());
        StringWriter err = new StringWriter();
        int exit = Main.run(new PrintWriter(new StringWriter()), new PrintWriter(err, true), "queue", "list",
                "--directory", dir.resolve("nowhere").toString());
        assertEquals(1, exit);
        assertTrue(err.toString().contains("is not a spool directory"), err.toString());
    }

    @Test
    void theEmptyFolderThePackagesCreateIsAnEmptySpoolNotAnError() throws Exception {
        Path installed = Files.createDirectory(dir.resolve("installed"));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(new PrintWriter(out), new PrintWriter(err, true), "queue", "list",
                "--directory", installed.toString());
        assertEquals(0, exit, err.toString());
        assertEquals("The spool is empty.\n", out.toString());
        err = new StringWriter();
        exit = Main.run(new PrintWriter(new StringWriter()), new PrintWriter(err, true), "queue", "show", "0000000000000",
                "--directory", installed.toString());
        assertEquals(1, exit);
        assertTrue(err.toString().contains("holds no message: nothing has been spooled there yet"), err.toString());
        try (var entries = Files.list(installed)) {
            assertEquals(0, entries.count(), "reading never creates anything (it may run as root)");
        }
    }

    @Test
    void withoutARunningProxyRetryAndDeleteApplyDirectly() throws Exception {
        SpoolEnvelope later;
        SpoolEnvelope unwanted;
        try (SpoolStore store = open()) {
            later = commit(store, "a@example.com", "b@example.com");
            store.update(later.withNextAttempt(Instant.now().plus(Duration.ofHours(1))));
            unwanted = commit(store, "a@example.com", "c@example.com");
        }
        Run retry = queue("retry", later.id().value());
        assertEquals(0, retry.exit(), retry.err());
        Run delete = queue("delete", unwanted.id().value());
        assertEquals(0, delete.exit(), delete.err());
        SpoolLayout layout = new SpoolLayout(dir);
        assertFalse(layout.readEnvelope(later.id()).orElseThrow().nextAttempt().isAfter(Instant.now()));
        assertTrue(layout.readEnvelope(unwanted.id()).isEmpty());
        assertTrue(Files.exists(dir.resolve("deleted").resolve(unwanted.id() + ".msg")));
    }

    @Test
    void whileTheProxyRunsRequestsGoThroughItsScheduler() throws Exception {
        ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor();
        AtomicInteger attempts = new AtomicInteger();
        try (SpoolStore store = open()) {
            SpoolScheduler scheduler = new SpoolScheduler(store, message -> {
                attempts.incrementAndGet();
                return CompletableFuture.completedFuture(
                        AttemptResult.allPending(message.envelope(), SmtpReply.of(451, "4.4.3 try later")));
            }, new RetrySchedule(Duration.ofHours(1), Duration.ofHours(2), () -> 0.5), Duration.ofDays(5), BounceMode.DSN,
                    new DeliveryStatusNotification("relay.example.net"), SpoolMetrics.none(), Clock.systemUTC(),
                    executor, 10);
            scheduler.start(Duration.ofMillis(100));
            SpoolEnvelope keep = commit(store, "a@example.com", "b@example.com");
            SpoolEnvelope unwanted = commit(store, "a@example.com", "c@example.com");
            waitFor(() -> attempts.get() == 2);

            Run delete = queue("delete", unwanted.id().value());
            assertEquals(0, delete.exit(), delete.err());
            assertTrue(delete.out().contains("moved to"), delete.out());
            assertEquals(List.of(keep.id()), List.copyOf(store.ids()));

            Run retry = queue("retry", "--all");
            assertEquals(0, retry.exit(), retry.err());
            assertTrue(retry.out().contains("running proxy retries every message"), retry.out());
            waitFor(() -> attempts.get() == 3);
            Thread.sleep(300);
            assertEquals(3, attempts.get(), "the deleted message is never sent again");
            scheduler.close();
        } finally {
            executor.shutdownNow();
        }
    }

    private static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out");
            Thread.sleep(20);
        }
    }
}
