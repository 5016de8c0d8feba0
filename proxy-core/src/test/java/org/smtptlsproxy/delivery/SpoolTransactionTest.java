package org.smtptlsproxy.delivery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.spool.SpoolFiles;
import org.smtptlsproxy.spool.SpoolId;
import org.smtptlsproxy.spool.SpoolMetrics;
import org.smtptlsproxy.spool.SpoolSettings;
import org.smtptlsproxy.spool.SpoolStore;

/**
 * A spooling transaction does its file work on the spool's I/O threads, never on the event loop,
 * and a disk that falls behind holds the sender back instead of filling memory.
 */
@Timeout(30)
class SpoolTransactionTest {

    @TempDir
    Path dir;

    private final EventLoop loop = new DefaultEventLoop();
    private SpoolStore store;

    @BeforeEach
    void open() throws Exception {
        store = SpoolStore.open(new SpoolSettings(dir, 64L << 20, 100, true, 2), SpoolFiles.disk(), Clock.systemUTC(),
                SpoolMetrics.none());
    }

    @AfterEach
    void close() throws Exception {
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        store.close();
    }

    private <T> T onLoop(Callable<T> step) throws Exception {
        return loop.submit(step).get(10, TimeUnit.SECONDS);
    }

    private SpoolTransaction begin(java.util.concurrent.Executor io) throws Exception {
        SpoolTransaction txn = new SpoolTransaction(store, "printers",
                new TransactionFacts("s1", null, "mfp.example", null, null, false), loop, io);
        onLoop(() -> {
            txn.mail(MailPath.parse("FROM:<scanner@example.com>", "FROM:").orElseThrow());
            return txn.rcpt(MailPath.parse("TO:<alice@example.com>", "TO:").orElseThrow());
        });
        return txn;
    }

    @Test
    void aDiskThatFallsBehindStopsTheSenderAndWakesItOnceTheWritesCatchUp() throws Exception {
        CountDownLatch diskStalled = new CountDownLatch(1);
        ExecutorService oneThread = Executors.newSingleThreadExecutor();
        oneThread.execute(() -> { // the one I/O thread is busy: nothing is written meanwhile
            try {
                diskStalled.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            SpoolTransaction txn = begin(oneThread);
            Future<SmtpReply> data = onLoop(txn::data);
            CountDownLatch woken = new CountDownLatch(1);
            byte[] line = "..a line that starts with a dot, stuffed by the sender\r\n".getBytes(StandardCharsets.US_ASCII);
            int lines = (SpoolTransaction.HIGH_WATER / line.length) + 10;
            boolean writableAfter = onLoop(() -> {
                txn.onWritable(woken::countDown);
                for (int i = 0; i < lines; i++) {
                    txn.content(Unpooled.copiedBuffer(line));
                }
                return txn.isWritable();
            });
            assertFalse(writableAfter, "past the high-water mark the session must stop reading");
            assertFalse(data.isDone(), "even the file is opened off the event loop: the stalled I/O thread has not run it");
            diskStalled.countDown();
            assertTrue(woken.await(10, TimeUnit.SECONDS), "the session is woken once the writes catch up");
            assertEquals(354, data.get(10, TimeUnit.SECONDS).code());
            SmtpReply reply = onLoop(() -> txn.endOfData(Unpooled.EMPTY_BUFFER)).get(10, TimeUnit.SECONDS);
            assertEquals(250, reply.code(), reply.toString());
            String line0 = reply.oneLine();
            SpoolId id = new SpoolId(line0.substring(line0.lastIndexOf(' ') + 1));
            byte[] expected = new byte[(line.length - 1) * lines];
            for (int i = 0; i < lines; i++) {
                System.arraycopy(line, 1, expected, i * (line.length - 1), line.length - 1);
            }
            try (InputStream in = store.openContent(id)) {
                assertArrayEquals(expected, in.readAllBytes(), "every chunk, in order, dot-unstuffed");
            }
        } finally {
            diskStalled.countDown();
            oneThread.shutdownNow();
        }
    }

    @Test
    void spoolThreadsGoneMeansA451NotAHang() throws Exception {
        ExecutorService stopped = Executors.newSingleThreadExecutor();
        stopped.shutdown();
        SpoolTransaction txn = begin(stopped);
        SmtpReply data = onLoop(txn::data).get(10, TimeUnit.SECONDS);
        assertEquals(451, data.code(), data.toString());
        onLoop(() -> {
            txn.content(Unpooled.copiedBuffer(new byte[10]));
            return null;
        });
        assertEquals(451, onLoop(() -> txn.endOfData(Unpooled.EMPTY_BUFFER)).get(10, TimeUnit.SECONDS).code());
        assertEquals(0, store.depth());
        assertTrue(Arrays.asList(dir.resolve("tmp").toFile().list()).isEmpty());
    }
}
