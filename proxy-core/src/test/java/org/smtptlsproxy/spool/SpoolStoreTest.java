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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

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
        Files.writeString(dir.resolve("tmp").resolve("0000000000000.data"), "half a message");
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(1, store.recovery().tempFilesDeleted());
            assertEquals(0, store.depth());
        }
    }

    @Test
    void corruptEnvelopeAndShortContentAreMovedAsideAndReportedNotDropped() throws Exception {
        SpoolId damaged;
        SpoolId shortened;
        SpoolId good;
        try (SpoolStore store = SpoolTesting.open(dir)) {
            damaged = commit(store, "one").id();
            shortened = commit(store, "two").id();
            good = commit(store, "three").id();
        }
        Path envelope = dir.resolve("queue").resolve(damaged + ".env");
        byte[] bytes = Files.readAllBytes(envelope);
        bytes[bytes.length / 2] ^= 1;
        Files.write(envelope, bytes);
        Files.write(dir.resolve("queue").resolve(shortened + ".data"), "tw".getBytes(StandardCharsets.US_ASCII));
        Files.writeString(dir.resolve("queue").resolve("notes.txt"), "someone's file");
        try (SpoolStore store = SpoolTesting.open(dir)) {
            assertEquals(List.of(good), store.ids());
            assertEquals(3, store.recovery().corrupt().size(), store.recovery().corrupt().toString());
            assertTrue(store.recovery().corrupt().get(0).contains("checksum"), store.recovery().corrupt().get(0));
            assertEquals(java.util.stream.Stream.of(damaged + ".env", damaged + ".data", shortened + ".env",
                    shortened + ".data", "notes.txt").sorted().toList(), names(dir.resolve("corrupt")));
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
    void removeAndMoveToDeleted() throws Exception {
        try (SpoolStore store = SpoolTesting.open(dir)) {
            SpoolId done = commit(store, "done").id();
            SpoolId unwanted = commit(store, "unwanted").id();
            store.remove(done);
            assertTrue(store.moveToDeleted(unwanted));
            assertEquals(0, store.depth());
            assertEquals(0, store.bytes());
            assertEquals(List.of(), names(dir.resolve("queue")));
            assertEquals(List.of(unwanted + ".data", unwanted + ".env"), names(dir.resolve("deleted")));
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
        // Step 1 is recovery's directory fsync; 2 creates the data file, 3 writes it, 4 creates the
        // envelope, 5 writes it, 6 fsyncs the data.
        FaultySpoolFiles files = new FaultySpoolFiles(6, false);
        try (SpoolStore store = SpoolStore.open(SpoolTesting.settings(dir).withGroupCommit(false), files,
                Clock.systemUTC(), SpoolMetrics.none())) {
            SpoolWriter writer = store.open();
            writer.write(new byte[] {1, 2, 3});
            CompletableFuture<SpoolEnvelope> commit = writer.commit(draft());
            ExecutionException failure = assertThrows(ExecutionException.class, () -> commit.get(10, TimeUnit.SECONDS));
            assertEquals("injected failure at step 6 (fsync)", failure.getCause().getMessage());
            assertEquals(List.of(), names(dir.resolve("tmp")));
            assertEquals(List.of(), names(dir.resolve("queue")));
            assertEquals(0, store.bytes());
            assertTrue(store.hasRoomFor(0));
        }
    }

    private static SpoolEnvelope commit(SpoolStore store, String text) throws Exception {
        SpoolWriter writer = store.open();
        writer.write(text.getBytes(StandardCharsets.US_ASCII));
        return writer.commit(draft()).get(10, TimeUnit.SECONDS);
    }
}
