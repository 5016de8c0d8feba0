package org.smtptlsproxy.testkit;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLSession;

/** The server side of one fake-upstream connection: command lines, STARTTLS, streamed DATA. */
final class FakeUpstreamHandler extends ChannelInboundHandlerAdapter {

    static final String TLS = "tls";

    private enum DataState { LINE_START, MID, CR, DOT, DOT_CR }

    private enum AuthStep { NONE, LOGIN_USER, LOGIN_PASSWORD, XOAUTH2_ERROR }

    private final FakeUpstream server;
    private final FakeUpstream.Builder settings;

    private ByteBuf lines;
    private SSLSession tlsSession;
    private String sniHostName;
    private boolean greeted;
    private boolean authenticated;
    private AuthStep authStep = AuthStep.NONE;
    private String loginUser;
    private String from;
    private final List<String> recipients = new ArrayList<>();

    private boolean inData;
    private boolean stalled;
    private DataState dataState;
    private int pendingDotBytes;
    /** Null where the server does not compute SHA-256. */
    private MessageDigest digest;
    private final CRC32C crc32c = new CRC32C();
    private final CRC32 crc32 = new CRC32();
    private long size;
    private ByteArrayOutputStream stored;

    FakeUpstreamHandler(FakeUpstream server) {
        this.server = server;
        this.settings = server.settings();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        lines = ctx.alloc().buffer(256);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        lines.release();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        SslHandler implicit = ctx.pipeline().get(SslHandler.class);
        if (implicit != null) {
            watchHandshake(implicit);
        }
        if (settings.has(Fault.SILENT)) {
            return;
        }
        if (settings.has(Fault.BANNER_421)) {
            ctx.writeAndFlush(ascii("421 4.3.2 Service not available\r\n")).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        write(ctx, "220 " + settings.hostname() + " Microsoft ESMTP MAIL Service ready");
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        try {
            if (inData) {
                int end = consumeData(ctx, in, in.readerIndex(), in.writerIndex());
                if (end < 0) {
                    return;
                }
                in.readerIndex(end);
            }
            lines.writeBytes(in);
        } finally {
            in.release();
        }
        processLines(ctx);
    }

    private void processLines(ChannelHandlerContext ctx) {
        while (ctx.channel().isActive()) {
            int lf = lines.indexOf(lines.readerIndex(), lines.writerIndex(), (byte) '\n');
            if (lf < 0) {
                break;
            }
            int end = lf > lines.readerIndex() && lines.getByte(lf - 1) == '\r' ? lf - 1 : lf;
            byte[] octets = new byte[end - lines.readerIndex()];
            lines.getBytes(lines.readerIndex(), octets);
            if (authStep == AuthStep.NONE) {
                server.recordOctets(octets);
            }
            String line = lines.toString(lines.readerIndex(), end - lines.readerIndex(), StandardCharsets.UTF_8);
            lines.readerIndex(lf + 1);
            if (!command(ctx, line)) {
                lines.clear(); // STARTTLS: whatever followed in plaintext is not for us
                return;
            }
            if (inData && lines.isReadable()) {
                int dataEnd = consumeData(ctx, lines, lines.readerIndex(), lines.writerIndex());
                if (dataEnd < 0) {
                    lines.clear();
                    return;
                }
                lines.readerIndex(dataEnd);
            }
        }
        lines.discardReadBytes();
    }

    /** Handles one command line; false when the rest of the buffer must be dropped (STARTTLS). */
    private boolean command(ChannelHandlerContext ctx, String line) {
        boolean inTls = tlsSession != null;
        if (authStep != AuthStep.NONE) {
            server.recordCommand("(auth response)", inTls);
            authResponse(ctx, line);
            return true;
        }
        String[] words = line.toUpperCase(Locale.ROOT).split(" ");
        String verb = words[0];
        // Credentials are not kept, even by a fake.
        server.recordCommand(verb.equals("AUTH") ? "AUTH " + (words.length > 1 ? words[1] : "") + " ***" : line, inTls);
        String scripted = inTls || settings.implicitTls() ? server.scripted(verb) : null;
        if (scripted != null && !scripted.startsWith("354")) {
            ctx.writeAndFlush(Unpooled.copiedBuffer(scripted, StandardCharsets.ISO_8859_1));
            return true;
        }
        switch (verb) {
            case "EHLO" -> ehlo(ctx, line);
            case "HELO" -> {
                greeted = true;
                write(ctx, "250 " + settings.hostname() + " Hello");
            }
            case "STARTTLS" -> {
                return startTls(ctx);
            }
            case "AUTH" -> auth(ctx, line);
            case "MAIL" -> mail(ctx, line);
            case "RCPT" -> rcpt(ctx, line);
            case "DATA" -> data(ctx);
            case "RSET" -> {
                if (settings.has(Fault.RSET_421)) {
                    ctx.writeAndFlush(ascii("421 4.4.2 Connection dropped due to timeout\r\n"))
                            .addListener(ChannelFutureListener.CLOSE);
                    return false;
                }
                resetTransaction();
                write(ctx, "250 2.0.0 Resetting");
            }
            case "NOOP" -> write(ctx, "250 2.0.0 OK");
            case "QUIT" -> ctx.writeAndFlush(ascii("221 2.0.0 Service closing transmission channel\r\n"))
                    .addListener(ChannelFutureListener.CLOSE);
            default -> write(ctx, "500 5.3.3 Unrecognized command");
        }
        return true;
    }

    private void ehlo(ChannelHandlerContext ctx, String line) {
        if (settings.has(Fault.EHLO_5XX)) {
            write(ctx, "554 5.7.1 Client host rejected");
            return;
        }
        greeted = true;
        resetTransaction();
        List<String> reply = new ArrayList<>();
        reply.add(settings.hostname() + " Hello [" + line.substring(Math.min(line.length(), 5)) + "]");
        reply.add("SIZE 37748736");
        reply.add("PIPELINING");
        reply.add("ENHANCEDSTATUSCODES");
        reply.add("8BITMIME");
        if (tlsSession == null && !settings.implicitTls() && !settings.has(Fault.NO_STARTTLS)) {
            reply.add("STARTTLS");
        }
        if (tlsSession != null && settings.authUser() != null) {
            reply.add(settings.authToken() != null ? "AUTH XOAUTH2" : "AUTH LOGIN PLAIN");
        }
        reply.add("SMTPUTF8");
        reply.addAll(settings.extraExtensions());
        reply.removeIf(settings::withholds);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < reply.size(); i++) {
            out.append("250").append(i == reply.size() - 1 ? ' ' : '-').append(reply.get(i)).append("\r\n");
        }
        ctx.writeAndFlush(ascii(out.toString()));
    }

    private boolean startTls(ChannelHandlerContext ctx) {
        if (tlsSession != null || settings.implicitTls() || settings.has(Fault.NO_STARTTLS)) {
            write(ctx, "502 5.5.1 Command not implemented");
            return true;
        }
        // TLS goes first, then the 220 (a startTls SslHandler lets exactly that write through).
        SslHandler ssl = new SslHandler(server.sslContext().newEngine(ctx.alloc()), true);
        ctx.pipeline().addFirst(TLS, ssl);
        watchHandshake(ssl);
        String reply = "220 2.0.0 SMTP server ready\r\n";
        if (settings.has(Fault.STARTTLS_INJECTION)) {
            reply += "250 2.0.0 injected\r\n";
        }
        ctx.writeAndFlush(ascii(reply));
        greeted = false;
        resetTransaction();
        return false;
    }

    private void watchHandshake(SslHandler ssl) {
        ssl.handshakeFuture().addListener(f -> {
            if (!f.isSuccess()) {
                return;
            }
            tlsSession = ssl.engine().getSession();
            if (tlsSession instanceof ExtendedSSLSession extended) {
                for (SNIServerName name : extended.getRequestedServerNames()) {
                    if (name instanceof SNIHostName host) {
                        sniHostName = host.getAsciiName();
                    }
                }
            }
        });
    }

    private void auth(ChannelHandlerContext ctx, String line) {
        if (tlsSession == null || settings.authUser() == null) {
            write(ctx, "503 5.5.1 AUTH not available");
            return;
        }
        String[] parts = line.split(" ");
        String mechanism = parts.length > 1 ? parts[1].toUpperCase(Locale.ROOT) : "";
        if (settings.authToken() != null) {
            if (!mechanism.equals("XOAUTH2") || parts.length < 3) {
                write(ctx, "504 5.7.4 Unrecognized authentication type");
                return;
            }
            String expected = "user=" + settings.authUser() + "\u0001auth=Bearer " + settings.authToken() + "\u0001\u0001";
            authenticated = expected.equals(decode(parts[2]));
            if (authenticated) {
                write(ctx, "235 2.7.0 Authentication successful");
            } else {
                authStep = AuthStep.XOAUTH2_ERROR; // the client must answer the error challenge with an empty line
                write(ctx, "334 " + Base64.getEncoder().encodeToString(
                        "{\"status\":\"401\",\"schemes\":\"bearer\"}".getBytes(StandardCharsets.UTF_8)));
            }
        } else if (mechanism.equals("PLAIN") && parts.length > 2) {
            String[] fields = decode(parts[2]).split("\0", -1);
            checkCredentials(ctx, fields.length == 3 ? fields[1] : "", fields.length == 3 ? fields[2] : "");
        } else if (mechanism.equals("LOGIN")) {
            authStep = AuthStep.LOGIN_USER;
            write(ctx, "334 VXNlcm5hbWU6");
        } else {
            write(ctx, "504 5.7.4 Unrecognized authentication type");
        }
    }

    private void authResponse(ChannelHandlerContext ctx, String line) {
        if (authStep == AuthStep.XOAUTH2_ERROR) {
            authStep = AuthStep.NONE;
            write(ctx, "535 5.7.3 Authentication unsuccessful");
        } else if (authStep == AuthStep.LOGIN_USER) {
            loginUser = decode(line);
            authStep = AuthStep.LOGIN_PASSWORD;
            write(ctx, "334 UGFzc3dvcmQ6");
        } else {
            authStep = AuthStep.NONE;
            checkCredentials(ctx, loginUser, decode(line));
        }
    }

    private void checkCredentials(ChannelHandlerContext ctx, String user, String password) {
        authenticated = settings.authUser().equals(user) && settings.authPassword().equals(password);
        write(ctx, authenticated ? "235 2.7.0 Authentication successful" : "535 5.7.3 Authentication unsuccessful");
    }

    private static String decode(String base64) {
        try {
            return new String(Base64.getDecoder().decode(base64.trim()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return "";
        }
    }

    private void mail(ChannelHandlerContext ctx, String line) {
        if (tlsSession == null) {
            write(ctx, "451 5.7.3 Must issue a STARTTLS command first");
            return;
        }
        if (settings.authUser() != null && !authenticated) {
            write(ctx, "530 5.7.57 Client not authenticated to send mail");
            return;
        }
        if (!greeted) {
            write(ctx, "503 5.5.2 Send hello first");
            return;
        }
        if (from != null) {
            write(ctx, "503 5.5.1 Sender already specified");
            return;
        }
        String sender = address(line);
        if (sender == null) {
            write(ctx, "501 5.1.7 Invalid address");
            return;
        }
        from = sender;
        write(ctx, "250 2.1.0 Sender OK");
    }

    private void rcpt(ChannelHandlerContext ctx, String line) {
        if (from == null) {
            write(ctx, "503 5.5.1 Need mail command");
        } else if (settings.has(Fault.RCPT_4XX)) {
            write(ctx, "451 4.4.4 Temporary recipient failure");
        } else if (settings.has(Fault.RCPT_5XX)) {
            write(ctx, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup");
        } else if (address(line) == null) {
            write(ctx, "501 5.1.3 Invalid address");
        } else {
            recipients.add(address(line));
            write(ctx, "250 2.1.5 Recipient OK");
        }
    }

    private void data(ChannelHandlerContext ctx) {
        if (recipients.isEmpty()) {
            write(ctx, "503 5.5.1 Need rcpt command");
            return;
        }
        try {
            digest = settings.sha256() ? MessageDigest.getInstance("SHA-256") : null;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        crc32c.reset();
        crc32.reset();
        inData = true;
        dataState = DataState.LINE_START;
        pendingDotBytes = 0;
        size = 0;
        stored = new ByteArrayOutputStream();
        write(ctx, "354 Start mail input; end with <CRLF>.<CRLF>");
    }

    /**
     * Consumes message data in [from, to); returns the index after the terminator, or -1 when
     * all of it was data (or the connection was dropped on purpose). Jumps from CR to CR with
     * {@code indexOf} (eight octets a step) and hashes the buffer in place: the sink of the
     * benchmarks must cost far less per byte than what it measures.
     */
    private int consumeData(ChannelHandlerContext ctx, ByteBuf buf, int from, int to) {
        int feedFrom = from;
        int i = from;
        while (i < to) {
            if (dataState == DataState.MID) {
                int cr = buf.indexOf(i, to, (byte) '\r');
                if (cr < 0) {
                    break;
                }
                dataState = DataState.CR;
                i = cr + 1;
                continue;
            }
            byte b = buf.getByte(i);
            switch (dataState) {
                case CR -> dataState = b == '\n' ? DataState.LINE_START : b == '\r' ? DataState.CR : DataState.MID;
                case LINE_START -> {
                    if (b == '.') {
                        feed(buf, feedFrom, i); // hold the dot back: it may start the terminator
                        feedFrom = i + 1;
                        pendingDotBytes = 1;
                        dataState = DataState.DOT;
                    } else {
                        dataState = b == '\r' ? DataState.CR : DataState.MID;
                    }
                }
                case DOT -> {
                    if (b == '\r') {
                        feedFrom = i + 1;
                        pendingDotBytes = 2;
                        dataState = DataState.DOT_CR;
                    } else {
                        releasePending();
                        feedFrom = i;
                        dataState = DataState.MID;
                    }
                }
                case DOT_CR -> {
                    if (b == '\n') {
                        pendingDotBytes = 0;
                        endOfData(ctx);
                        return i + 1;
                    }
                    releasePending();
                    feedFrom = i;
                    dataState = b == '\r' ? DataState.CR : DataState.MID;
                }
                default -> throw new IllegalStateException();
            }
            i++;
        }
        feed(buf, feedFrom, to);
        if (settings.has(Fault.STALL_DATA) && !stalled) {
            stalled = true;
            ctx.channel().config().setAutoRead(false);
            ctx.executor().schedule(() -> ctx.channel().config().setAutoRead(true), 3, java.util.concurrent.TimeUnit.SECONDS);
        }
        if (settings.has(Fault.DROP_MID_DATA) && size > 0) {
            inData = false;
            ctx.close();
        }
        return -1;
    }

    private void releasePending() {
        byte[] pending = pendingDotBytes == 2 ? new byte[] {'.', '\r'} : new byte[] {'.'};
        pendingDotBytes = 0;
        feed(pending);
    }

    private void feed(ByteBuf buf, int from, int to) {
        if (to <= from) {
            return;
        }
        int length = to - from;
        if (buf.hasArray()) {
            hash(buf.array(), buf.arrayOffset() + from, length);
        } else {
            ByteBuffer nio = buf.nioBuffer(from, length);
            crc32c.update(nio);
            crc32.update(nio.rewind());
            if (digest != null) {
                digest.update(nio.rewind());
            }
        }
        size += length;
        if (stored != null) {
            if (stored.size() + length > settings.maxStoredBytes()) {
                stored = null;
            } else {
                byte[] copy = new byte[length];
                buf.getBytes(from, copy);
                stored.write(copy, 0, length);
            }
        }
    }

    private void feed(byte[] bytes) {
        hash(bytes, 0, bytes.length);
        size += bytes.length;
        if (stored != null) {
            if (stored.size() + bytes.length > settings.maxStoredBytes()) {
                stored = null;
            } else {
                stored.write(bytes, 0, bytes.length);
            }
        }
    }

    private void hash(byte[] bytes, int offset, int length) {
        crc32c.update(bytes, offset, length);
        crc32.update(bytes, offset, length);
        if (digest != null) {
            digest.update(bytes, offset, length);
        }
    }

    private void endOfData(ChannelHandlerContext ctx) {
        inData = false;
        String scripted = server.scripted("END");
        if (scripted != null) {
            ctx.writeAndFlush(Unpooled.copiedBuffer(scripted, StandardCharsets.ISO_8859_1));
            resetTransaction();
            return;
        }
        if (settings.has(Fault.SILENT_AT_DATA_END)) {
            resetTransaction();
            return;
        }
        if (settings.has(Fault.DATA_END_4XX)) {
            write(ctx, "451 4.7.500 Server busy. Please try again later");
        } else if (settings.has(Fault.DATA_END_5XX)) {
            write(ctx, "554 5.6.0 Message rejected");
        } else {
            String queueId = server.nextQueueId();
            server.recordMessage(new ReceivedMessage(from, recipients, size,
                    digest == null ? null : HexFormat.of().formatHex(digest.digest()), crc32c.getValue() << 32 | crc32.getValue(),
                    stored == null ? null : stored.toByteArray(),
                    tlsSession == null ? null : tlsSession.getProtocol(),
                    tlsSession == null ? null : tlsSession.getCipherSuite(), sniHostName, queueId));
            write(ctx, "250 2.6.0 <" + queueId + "> [InternalId=" + queueId.hashCode() + "] Queued mail for delivery");
        }
        resetTransaction();
    }

    private void resetTransaction() {
        from = null;
        recipients.clear();
    }

    /** The address of {@code MAIL FROM:<a@b> ...}; null unless it is exactly one bracketed path. */
    private static String address(String line) {
        int colon = line.indexOf(':');
        String rest = line.substring(colon + 1).stripLeading();
        int close = rest.indexOf('>');
        if (!rest.startsWith("<") || close < 0) {
            return null;
        }
        String address = rest.substring(1, close);
        return address.indexOf('<') >= 0 || address.indexOf('>') >= 0 ? null : address;
    }

    private static void write(ChannelHandlerContext ctx, String line) {
        ctx.writeAndFlush(ascii(line + "\r\n"));
    }

    private static ByteBuf ascii(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.UTF_8);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
