package org.smtptlsproxy.spool;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.smtptlsproxy.spool.SpoolTesting.content;
import static org.smtptlsproxy.spool.SpoolTesting.draft;
import static org.smtptlsproxy.spool.SpoolTesting.names;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(60)
class SpoolStoreTest {

    @TempDir
    Path dir;

    @Test
    void committedMessageSurvivesReopenWithItsExactOctetsAndEnvelope() throws Exception {
        byte[] body = "Received: from mfp\r\nSubject: scan\r\n\r\n.leading dot kept unstuffed\r\n\u00e9"
                .getBytes(StandardCharsets.UTF_8);
        SpoolEnvelope committed;
        try (SpoolStore store = SpoolTesting.open(dir)) {
            SpoolWriter writer = store.open();
            ByteBuf composite = Unpooled.wrappedBuffer(Unpooled.wrappedBuffer(body, 0, 10),
                    Unpooled.wrappedBuffer(body, 10, body.length - 10));
            writer.write(composite);
            composite.release();
            committed = writer.commit(new MessageDraft("printers", "s9", "client=192.0.2.7", "",
                    "RET=HDRS ENVID=abc", List.of(SpoolRecipient.pending("b\u00fcro@example.com", "NOTIFY=FAILURE"))))
                    .get(10, TimeUnit.SECONDS);
            assertEquals(body.length, committed.contentSize());
        }
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(1, store.recovery().recovered());
            assertEquals(List.of(committed), store.envelopes());
            assertArrayEquals(body, content(store, committed.id()));
            assertEquals(body.length, store.bytes());
        }
    }

    @Test
    void abortedAndUncommittedWritesLeaveNothing() throws Exception {
        try (SpoolStore store = SpoolTesting.open(dir)) {
            SpoolWriter aborted = store.open();
            aborted.write(new byte[100_000]);
            aborted.abort();
            SpoolWriter leftOpen = store.open();
            leftOpen.write(new byte[10]);
            assertEquals(1, names(dir.resolve("tmp")).size());
            leftOpen.close();
            assertEquals(List.of(), names(dir.resolve("tmp")));
            assertEquals(0, store.bytes());
        }
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(0, store.depth());
        }
    }

    @Test
    void aCrashBeforeCommitLeavesATempFileThatRecoveryDeletes() throws Exception {
        Files.createDirectories(dir.resolve("tmp"));
        Files.writeString(dir.resolve("tmp").resolve("0000000000000.msg"), "half a message");
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(1, store.recovery().tempFilesDeleted());
            assertEquals(0, store.depth());
        }
    }

    @Test
    void damagedTrailerTruncatedFileForeignSidecarAndStrayFilesAreMovedAsideAndReportedNotDropped() throws Exception {
        SpoolId damaged;
        SpoolId truncated;
        SpoolId mismatched;
        SpoolId good;
        try (SpoolStore store = SpoolTesting.open(dir)) {
            damaged = commit(store, "one").id();
            truncated = commit(store, "two, a little longer").id();
            mismatched = commit(store, "three").id();
            good = commit(store, "four").id();
            store.update(store.envelope(good).orElseThrow().withNextAttempt(Instant.parse("2030-01-01T00:00:00Z")));
        }
        Path queue = dir.resolve("queue");
        Path trailerDamaged = queue.resolve(damaged + ".msg");
        byte[] bytes = Files.readAllBytes(trailerDamaged);
        bytes[bytes.length - 20] ^= 1; // inside the envelope's body
        Files.write(trailerDamaged, bytes);
        Path cut = queue.resolve(truncated + ".msg");
        Files.write(cut, java.util.Arrays.copyOf(Files.readAllBytes(cut), (int) Files.size(cut) - 5));
        Files.copy(queue.resolve(good + ".env"), queue.resolve(mismatched + ".env"));
        Files.writeString(queue.resolve("notes.txt"), "someone's file");
        Files.writeString(queue.resolve(good + ".data"), "the old two-file layout");
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(List.of(good), store.ids());
            assertEquals(Instant.parse("2030-01-01T00:00:00Z"), store.envelope(good).orElseThrow().nextAttempt());
            List<String> reasons = store.recovery().corrupt();
            assertEquals(5, reasons.size(), reasons.toString());
            assertTrue(reasons.contains(good + ".data: not a spool file"), reasons.toString());
            assertTrue(reasons.contains("notes.txt: not a spool file"), reasons.toString());
            assertTrue(reasons.stream().anyMatch(r -> r.startsWith(damaged + ".msg") && r.contains("checksum")),
                    reasons.toString());
            assertTrue(reasons.stream().anyMatch(r -> r.startsWith(truncated + ".msg")), reasons.toString());
            assertTrue(reasons.stream().anyMatch(r -> r.startsWith(mismatched + ".env") && r.contains(good.value())),
                    reasons.toString());
            assertEquals(java.util.stream.Stream.of(damaged + ".msg", truncated + ".msg", mismatched + ".msg",
                    mismatched + ".env", good + ".data", "notes.txt").sorted().toList(), names(dir.resolve("corrupt")));
            assertEquals(List.of(good + ".env", good + ".msg"), names(queue));
        }
    }

    @Test
    void aMessageFileCutInsideItsContentIsNotReadAsAShorterMessage() throws Exception {
        SpoolEnvelope envelope;
        try (SpoolStore store = SpoolTesting.open(dir)) {
            envelope = commit(store, "0123456789");
            Path file = dir.resolve("queue").resolve(envelope.id() + ".msg");
            try (var channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
                channel.truncate(4);
            }
            IOException failure = assertThrows(IOException.class, () -> content(store, envelope.id()));
            assertTrue(failure.getMessage().contains("ends 6 bytes before its content does"), failure.getMessage());
        }
    }

    @Test
    void envelopeUpdateIsAtomicAndSurvivesReopen() throws Exception {
        SpoolEnvelope updated;
        try (SpoolStore store = SpoolTesting.open(dir)) {
            SpoolEnvelope envelope = commit(store, "x");
            updated = envelope.withRecipients(List.of(envelope.recipients().get(0)
                    .with(RecipientState.PENDING, "451 4.7.500 Server busy")))
                    .afterAttempt(Instant.parse("2030-01-01T00:00:00Z"), "451 4.7.500 Server busy");
            store.update(updated);
            assertEquals(List.of(), names(dir.resolve("tmp")));
        }
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(List.of(updated), store.envelopes());
        }
    }

    @Test
    void removeKeepsTheFileForReuseAndMoveToDeletedTakesTheSidecarAlong() throws Exception {
        try (SpoolStore store = SpoolTesting.open(dir)) {
            SpoolEnvelope done = commit(store, "done");
            store.update(done.withNextAttempt(Instant.parse("2030-01-01T00:00:00Z")));
            SpoolEnvelope unwanted = commit(store, "unwanted");
            store.update(unwanted.withNextAttempt(Instant.parse("2030-01-01T00:00:00Z")));
            SpoolId plain = commit(store, "never changed").id();
            store.remove(done.id());
            assertTrue(store.moveToDeleted(unwanted.id()));
            assertTrue(store.moveToDeleted(plain));
            assertEquals(0, store.depth());
            assertEquals(0, store.bytes());
            assertEquals(Optional.empty(), store.oldestArrival());
            assertEquals(List.of(), names(dir.resolve("queue")));
            assertEquals(List.of(done.id() + ".msg"), names(dir.resolve("free")));
            assertEquals(java.util.stream.Stream.of(plain + ".msg", unwanted.id() + ".env", unwanted.id() + ".msg")
                    .sorted().toList(), names(dir.resolve("deleted")));
        }
    }

    @Test
    void aReaderOutsideTheStoreKnowsWhenWhatItReadMayBeAnotherMessage() throws Exception {
        // `queue show` reads a live spool: the message it opened can be delivered and its file
        // overwritten by the next message before it reads. SpoolLayout.holds tells it afterwards.
        try (SpoolStore store = SpoolStore.open(SpoolTesting.settings(dir).withGroupCommit(false), SpoolFiles.disk(),
                Clock.systemUTC(), SpoolMetrics.none())) {
            SpoolEnvelope shown = commit(store, "the shown message");
            SpoolLayout reader = new SpoolLayout(dir);
            try (java.io.InputStream opened = reader.openContent(shown)) {
                assertTrue(reader.holds(shown.id()));
                store.remove(shown.id());
                SpoolEnvelope next = commit(store, "a different one!!");
                assertEquals(List.of(), names(dir.resolve("free")), "the next message took the delivered file");
                assertEquals("a different one!!", new String(opened.readAllBytes(), StandardCharsets.US_ASCII),
                        "the opened file now holds the next message");
                assertFalse(reader.holds(shown.id()), "which holds() reveals");
                assertTrue(reader.holds(next.id()));
            }
        }
    }

    @Test
    void boundsRefuseBeforeDataAndDuringIt() throws Exception {
        SpoolSettings small = new SpoolSettings(dir, 1000, 2, true, 2);
        try (SpoolStore store = SpoolStore.open(small, SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none())) {
            assertFalse(store.hasRoomFor(1001));
            assertTrue(store.hasRoomFor(500));
            SpoolWriter big = store.open();
            assertThrows(SpoolFullException.class, () -> big.write(new byte[1001]));
            assertEquals(List.of(), names(dir.resolve("tmp")));
            commit(store, "a");
            commit(store, "b");
            assertFalse(store.hasRoomFor(0));
            assertTrue(assertThrows(SpoolFullException.class, store::open).getMessage().contains("max_messages"));
        }
    }

    @Test
    void aSecondOwnerIsRefused() throws Exception {
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertThrows(SpoolLockedException.class, () -> SpoolTesting.open(dir));
        }
    }

    @Test
    void idsAreUniqueAndSortInCommitOrder() throws Exception {
        List<SpoolId> ids = new ArrayList<>();
        try (SpoolStore store = SpoolTesting.open(dir)) {
            for (int i = 0; i < 50; i++) {
                ids.add(commit(store, "m" + i).id());
            }
        }
        try (SpoolStore store = SpoolTesting.open(dir)) {
            SpoolId next = commit(store, "after restart").id();
            assertTrue(next.compareTo(ids.get(ids.size() - 1)) > 0);
        }
        assertEquals(ids.stream().sorted().distinct().toList(), ids);
    }

    @Test
    void concurrentWritersShareBatchesAndAllComplete() throws Exception {
        try (SpoolStore store = SpoolTesting.open(dir)) {
            List<CompletableFuture<SpoolEnvelope>> futures = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                Thread writer = new Thread(() -> {
                    for (int i = 0; i < 20; i++) {
                        try {
                            SpoolWriter w = store.open();
                            w.write(("t" + thread + " m" + i).getBytes(StandardCharsets.US_ASCII));
                            CompletableFuture<SpoolEnvelope> f = w.commit(draft());
                            synchronized (futures) {
                                futures.add(f);
                            }
                        } catch (IOException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                });
                threads.add(writer);
                writer.start();
            }
            for (Thread thread : threads) {
                thread.join(30_000);
            }
            CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
            assertEquals(160, store.depth());
        }
    }

    @Test
    void aFailedCommitReportsTheCauseAndLeavesNoFile() throws Exception {
        // Step 1 is recovery's directory fsync; 2 creates the message file, 3 writes the content,
        // 4 appends the envelope, 5 fsyncs the file.
        FaultySpoolFiles files = new FaultySpoolFiles(5, false);
        try (SpoolStore store = SpoolStore.open(SpoolTesting.settings(dir).withGroupCommit(false), files,
                Clock.systemUTC(), SpoolMetrics.none())) {
            SpoolWriter writer = store.open();
            writer.write(new byte[] {1, 2, 3});
            CompletableFuture<SpoolEnvelope> commit = writer.commit(draft());
            ExecutionException failure = assertThrows(ExecutionException.class, () -> commit.get(10, TimeUnit.SECONDS));
            assertEquals("injected failure at step 5 (fsync)", failure.getCause().getMessage());
            assertEquals(List.of(), names(dir.resolve("tmp")));
            assertEquals(List.of(), names(dir.resolve("queue")));
            assertEquals(0, store.bytes());
            assertTrue(store.hasRoomFor(0));
        }
    }

    @ParameterizedTest(name = "group commit {0}")
    @ValueSource(booleans = {true, false})
    void aDeliveredMessagesFileIsReusedAndAShorterMessageInItReadsBackExactly(boolean group) throws Exception {
        byte[] longer = new byte[20_000];
        java.util.Arrays.fill(longer, (byte) 'L');
        List<byte[]> shorter = List.of("a batch".getBytes(StandardCharsets.US_ASCII),
                "Subject: short\r\n\r\nreused\r\n".getBytes(StandardCharsets.US_ASCII));
        SpoolSettings settings = SpoolTesting.settings(dir).withGroupCommit(group);
        List<SpoolEnvelope> written = new ArrayList<>();
        try (SpoolStore store = SpoolStore.open(settings, SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none())) {
            SpoolEnvelope first = commit(store, longer);
            Object delivered = fileKey(dir.resolve("queue").resolve(first.id() + ".msg"));
            store.remove(first.id());
            assertEquals(List.of(first.id() + ".msg"), names(dir.resolve("free")));
            // The file may be overwritten only once an fsync of queue/ made the removal durable: at
            // once without group commit, with group commit once the removal's or the next batch's
            // fsync is done, so the second message after the removal reuses it at the latest.
            List<Object> files = new ArrayList<>();
            for (byte[] content : shorter) {
                int freeBefore = names(dir.resolve("free")).size();
                SpoolWriter writer = store.open();
                writer.write(content);
                boolean reused = names(dir.resolve("tmp")).isEmpty();
                if (!written.isEmpty()) {
                    assertEquals(freeBefore > 0, reused, "a file freed before the last batch is ready");
                }
                SpoolEnvelope envelope = writer.commit(draft()).get(10, TimeUnit.SECONDS);
                // A reused file is overwritten where it lies; its commit renames it from free/ to queue/.
                assertEquals(reused ? freeBefore - 1 : freeBefore, names(dir.resolve("free")).size());
                written.add(envelope);
                Path file = dir.resolve("queue").resolve(envelope.id() + ".msg");
                files.add(fileKey(file));
                assertArrayEquals(content, content(store, envelope.id()));
                assertEquals(content.length + MessageFile.trailer(envelope).length, Files.size(file),
                        "what the longer message left past the trailer is cut off");
            }
            assertTrue(files.contains(delivered), "the delivered message's file was not reused");
            assertEquals(List.of(), names(dir.resolve("free")));
            assertEquals(List.of(), names(dir.resolve("tmp")));
        }
        try (SpoolStore store = SpoolStore.open(settings, SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none())) {
            assertEquals(List.of(), store.recovery().corrupt());
            assertEquals(written, store.envelopes());
            for (int i = 0; i < written.size(); i++) {
                assertArrayEquals(shorter.get(i), content(store, written.get(i).id()));
            }
        }
    }

    @Test
    void anAbortedWriterGivesItsReusedFileBackAndAFreeFileNeverOutlivesARestart() throws Exception {
        SpoolSettings settings = SpoolTesting.settings(dir).withGroupCommit(false);
        try (SpoolStore store = SpoolStore.open(settings, SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none())) {
            SpoolId first = commit(store, "first").id();
            store.remove(first);
            SpoolWriter aborted = store.open();
            aborted.write(new byte[] {1, 2, 3});
            assertEquals(List.of(), names(dir.resolve("tmp")));
            aborted.abort();
            assertEquals(List.of(first + ".msg"), names(dir.resolve("free")));
            assertEquals(0, store.bytes());
            SpoolEnvelope next = commit(store, "next");
            assertEquals(List.of(), names(dir.resolve("free")), "the aborted message's file was reused again");
            assertArrayEquals("next".getBytes(StandardCharsets.US_ASCII), content(store, next.id()));
            store.remove(next.id());
        }
        try (SpoolStore store = SpoolStore.open(settings, SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none())) {
            assertEquals(List.of(), names(dir.resolve("free")));
            assertEquals(0, store.depth());
        }
    }

    @Test
    void aChangedEnvelopeIsASidecarThatWinsOverTheTrailerAfterReopen() throws Exception {
        SpoolEnvelope updated;
        try (SpoolStore store = SpoolTesting.open(dir)) {
            SpoolEnvelope envelope = commit(store, "x");
            assertEquals(List.of(envelope.id() + ".msg"), names(dir.resolve("queue")));
            updated = envelope.afterAttempt(Instant.parse("2030-01-01T00:00:00Z"), "451 4.7.500 Server busy");
            store.update(updated);
            assertEquals(List.of(updated.id() + ".env", updated.id() + ".msg"), names(dir.resolve("queue")));
        }
        SpoolLayout layout = new SpoolLayout(dir);
        assertEquals(updated, layout.readEnvelope(updated.id()).orElseThrow());
        assertEquals(List.of(updated), layout.readEnvelopes());
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(List.of(updated), store.envelopes());
            assertArrayEquals("x".getBytes(StandardCharsets.US_ASCII), content(store, updated.id()));
            store.remove(updated.id());
            assertEquals(List.of(), names(dir.resolve("queue")), "the sidecar goes with the message");
        }
    }

    @Test
    void anEnvelopeWithoutItsMessageFileIsAnInterruptedRemovalDeletedAtStart() throws Exception {
        SpoolEnvelope kept;
        SpoolEnvelope removed;
        try (SpoolStore store = SpoolTesting.open(dir)) {
            removed = commit(store, "delivered");
            store.update(removed.withNextAttempt(Instant.parse("2030-01-01T00:00:00Z")));
            kept = commit(store, "still queued");
        }
        // What a crash between the two steps of remove() leaves: the file is gone, the sidecar not.
        Files.move(dir.resolve("queue").resolve(removed.id() + ".msg"),
                dir.resolve("free").resolve(removed.id() + ".msg"));
        assertEquals(Optional.empty(), new SpoolLayout(dir).readEnvelope(removed.id()));
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(1, store.recovery().orphansDeleted());
            assertEquals(List.of(), store.recovery().corrupt());
            assertEquals(List.of(kept), store.envelopes());
            assertEquals(List.of(kept.id() + ".msg"), names(dir.resolve("queue")));
            assertEquals(List.of(), names(dir.resolve("free")));
        }
    }

    @Test
    void oldestArrivalIsTheFirstMessages() throws Exception {
        MutableClock clock = new MutableClock(Instant.parse("2030-01-01T00:00:00Z"));
        try (SpoolStore store = SpoolStore.open(SpoolTesting.settings(dir), SpoolFiles.disk(), clock,
                SpoolMetrics.none())) {
            SpoolEnvelope first = commit(store, "first");
            clock.advance(java.time.Duration.ofMinutes(5));
            commit(store, "second");
            assertEquals(Optional.of(first.arrival()), store.oldestArrival());
            store.remove(first.id());
            assertEquals(Optional.of(Instant.parse("2030-01-01T00:05:00Z")), store.oldestArrival());
        }
    }

    private static Object fileKey(Path file) throws IOException {
        return Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
    }

    private static SpoolEnvelope commit(SpoolStore store, byte[] content) throws Exception {
        SpoolWriter writer = store.open();
        writer.write(content);
        return writer.commit(draft()).get(10, TimeUnit.SECONDS);
    }

    private static SpoolEnvelope commit(SpoolStore store, String text) throws Exception {
        SpoolWriter writer = store.open();
        writer.write(text.getBytes(StandardCharsets.US_ASCII));
        return writer.commit(draft()).get(10, TimeUnit.SECONDS);
    }
}
