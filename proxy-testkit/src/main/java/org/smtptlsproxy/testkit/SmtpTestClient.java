package org.smtptlsproxy.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * A blocking SMTP client over plain sockets and the JDK's TLS, playing legacy senders. Whether
 * TLS 1.0/1.1 can be used depends on the calling JVM's {@code jdk.tls.disabledAlgorithms}.
 */
public final class SmtpTestClient implements AutoCloseable {

    /** An SMTP reply. */
    public record Reply(int code, List<String> lines) {

        public Reply {
            lines = List.copyOf(lines);
        }

        public String text() {
            return String.join(" ", lines);
        }

        public boolean isPositive() {
            return code >= 200 && code < 400;
        }

        @Override
        public String toString() {
            return code + " " + text();
        }
    }

    /**
     * @param trustAnchor null trusts any certificate (only for tests that do not look at it)
     * @param sniHost     null sends no SNI
     */
    public record TlsOptions(List<String> protocols, X509Certificate trustAnchor, String sniHost) {

        public TlsOptions {
            protocols = List.copyOf(protocols);
        }

        public static TlsOptions trusting(X509Certificate anchor, String... protocols) {
            return new TlsOptions(List.of(protocols), anchor, null);
        }
    }

    /** A command got a reply other than the one the conversation needs. */
    public static final class UnexpectedReplyException extends IOException {
        private final Reply reply;

        UnexpectedReplyException(String command, Reply reply) {
            super(command + " got " + reply);
            this.reply = reply;
        }

        public Reply reply() {
            return reply;
        }
    }

    private final Duration timeout;
    private Socket socket;
    private InputStream in;
    private OutputStream out;
    private final byte[] buffer = new byte[8192];
    private int position;
    private int limit;
    private List<String> capabilities = List.of();

    public SmtpTestClient() {
        this(Duration.ofSeconds(30));
    }

    public SmtpTestClient(Duration timeout) {
        this.timeout = timeout;
    }

    /** Connects and returns the banner. */
    public Reply connect(String host, int port) throws IOException {
        Socket plain = new Socket();
        plain.connect(new InetSocketAddress(host, port), (int) timeout.toMillis());
        use(plain);
        return readReply();
    }

    /** Connects with TLS from the first byte (port 465 style) and returns the banner. */
    public Reply connectImplicitTls(String host, int port, TlsOptions options) throws IOException {
        return connectImplicitTls(host, port, new byte[0], options);
    }

    /**
     * Connects as a load balancer would: {@code proxyHeader} (a PROXY protocol v1 or v2 header)
     * first, then the banner is read.
     */
    public Reply connectBehindProxy(String host, int port, byte[] proxyHeader) throws IOException {
        Socket plain = new Socket();
        plain.connect(new InetSocketAddress(host, port), (int) timeout.toMillis());
        plain.getOutputStream().write(proxyHeader);
        use(plain);
        return readReply();
    }

    /** The same for TLS from the first byte: the header, then the handshake, then the banner. */
    public Reply connectImplicitTls(String host, int port, byte[] proxyHeader, TlsOptions options) throws IOException {
        Socket plain = new Socket();
        plain.connect(new InetSocketAddress(host, port), (int) timeout.toMillis());
        plain.getOutputStream().write(proxyHeader);
        use(handshake(plain, host, port, options));
        return readReply();
    }

    public Reply ehlo(String name) throws IOException {
        Reply reply = command("EHLO " + name);
        if (reply.code() == 250) {
            capabilities = reply.lines().subList(1, reply.lines().size());
        }
        return reply;
    }

    /** The extensions of the last positive EHLO reply. */
    public List<String> capabilities() {
        return capabilities;
    }

    /** STARTTLS, a 220, then the handshake. */
    public void startTls(TlsOptions options) throws IOException {
        Reply reply = command("STARTTLS");
        if (reply.code() != 220) {
            throw new UnexpectedReplyException("STARTTLS", reply);
        }
        upgradeToTls(options);
    }

    /** The handshake alone, for a STARTTLS that was written raw (injection tests). */
    public void upgradeToTls(TlsOptions options) throws IOException {
        if (position < limit) {
            throw new IOException("the server sent " + (limit - position) + " bytes after its 220 to STARTTLS");
        }
        InetSocketAddress remote = (InetSocketAddress) socket.getRemoteSocketAddress();
        use(handshake(socket, remote.getHostString(), remote.getPort(), options));
    }

    public String tlsProtocol() {
        return socket instanceof SSLSocket ssl ? ssl.getSession().getProtocol() : null;
    }

    public String tlsCipher() {
        return socket instanceof SSLSocket ssl ? ssl.getSession().getCipherSuite() : null;
    }

    /** The certificate the server presented (leaf), or null before TLS. */
    public X509Certificate serverCertificate() throws IOException {
        return socket instanceof SSLSocket ssl ? (X509Certificate) ssl.getSession().getPeerCertificates()[0] : null;
    }

    public Reply command(String line) throws IOException {
        writeRaw(line + "\r\n");
        return readReply();
    }

    public void writeRaw(String text) throws IOException {
        writeRaw(text.getBytes(StandardCharsets.UTF_8));
    }

    public void writeRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /**
     * MAIL, RCPT for each recipient, DATA, the dot-stuffed message and the terminator. Returns the
     * reply to the end of data; throws {@link UnexpectedReplyException} when MAIL, every RCPT, or
     * DATA is refused.
     */
    public Reply sendMessage(String from, List<String> recipients, byte[] message) throws IOException {
        expectPositive("MAIL", command("MAIL FROM:<" + from + ">"));
        boolean anyAccepted = false;
        Reply lastRefusal = null;
        for (String recipient : recipients) {
            Reply reply = command("RCPT TO:<" + recipient + ">");
            if (reply.isPositive()) {
                anyAccepted = true;
            } else {
                lastRefusal = reply;
            }
        }
        if (!anyAccepted) {
            throw new UnexpectedReplyException("RCPT", lastRefusal);
        }
        Reply data = command("DATA");
        if (data.code() != 354) {
            throw new UnexpectedReplyException("DATA", data);
        }
        writeDotStuffed(message);
        return readReply();
    }

    /** Dot-stuffs and sends {@code message}, adds a final CRLF if missing, then {@code .CRLF}. */
    public void writeDotStuffed(byte[] message) throws IOException {
        byte[] chunk = new byte[64 * 1024 + 8];
        int length = 0;
        boolean lineStart = true;
        for (byte b : message) {
            if (length >= 64 * 1024) {
                out.write(chunk, 0, length);
                length = 0;
            }
            if (lineStart && b == '.') {
                chunk[length++] = '.';
            }
            chunk[length++] = b;
            lineStart = b == '\n';
        }
        if (message.length > 0 && message[message.length - 1] != '\n') {
            chunk[length++] = '\r';
            chunk[length++] = '\n';
        }
        chunk[length++] = '.';
        chunk[length++] = '\r';
        chunk[length++] = '\n';
        out.write(chunk, 0, length);
        out.flush();
    }

    private static void expectPositive(String command, Reply reply) throws UnexpectedReplyException {
        if (!reply.isPositive()) {
            throw new UnexpectedReplyException(command, reply);
        }
    }

    public Reply quit() throws IOException {
        return command("QUIT");
    }

    /** Reads one (possibly multi-line) reply. */
    public Reply readReply() throws IOException {
        List<String> lines = new ArrayList<>();
        while (true) {
            String line = readLine();
            if (line == null) {
                throw new IOException("connection closed by the server" + (lines.isEmpty() ? "" : " in the middle of a reply"));
            }
            if (line.length() < 3) {
                throw new IOException("malformed reply line: " + line);
            }
            int code = Integer.parseInt(line.substring(0, 3));
            boolean last = line.length() == 3 || line.charAt(3) == ' ';
            lines.add(line.length() > 4 ? line.substring(4) : "");
            if (last) {
                return new Reply(code, lines);
            }
        }
    }

    /** True when the server has closed the connection (reads end of stream within the timeout). */
    /** True when reply bytes have arrived and can be read without waiting (plaintext sockets). */
    public boolean hasInput() throws IOException {
        return position < limit || in.available() > 0;
    }

    public boolean isClosedByServer() throws IOException {
        try {
            return position >= limit && fill() < 0;
        } catch (IOException e) {
            return true;
        }
    }

    private String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream(128);
        while (true) {
            if (position >= limit && fill() < 0) {
                return line.size() == 0 ? null : line.toString(StandardCharsets.UTF_8);
            }
            byte b = buffer[position++];
            if (b == '\n') {
                byte[] bytes = line.toByteArray();
                int length = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, length, StandardCharsets.UTF_8);
            }
            line.write(b);
        }
    }

    private int fill() throws IOException {
        int n = in.read(buffer, 0, buffer.length);
        position = 0;
        limit = Math.max(n, 0);
        return n;
    }

    private void use(Socket s) throws IOException {
        socket = s;
        socket.setSoTimeout((int) timeout.toMillis());
        in = socket.getInputStream();
        out = socket.getOutputStream();
        position = 0;
        limit = 0;
    }

    private SSLSocket handshake(Socket plain, String host, int port, TlsOptions options) throws IOException {
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trustManagers(options.trustAnchor()), null);
            SSLSocket ssl = (SSLSocket) context.getSocketFactory().createSocket(plain, host, port, true);
            ssl.setEnabledProtocols(options.protocols().toArray(String[]::new));
            SSLParameters parameters = ssl.getSSLParameters();
            parameters.setServerNames(options.sniHost() == null ? List.of() : List.of(new SNIHostName(options.sniHost())));
            ssl.setSSLParameters(parameters);
            ssl.setSoTimeout((int) timeout.toMillis());
            ssl.startHandshake();
            return ssl;
        } catch (GeneralSecurityException e) {
            throw new IOException("TLS set-up failed: " + e.getMessage(), e);
        }
    }

    private static TrustManager[] trustManagers(X509Certificate anchor) throws GeneralSecurityException, IOException {
        if (anchor == null) {
            return new TrustManager[] {new X509TrustManager() {
                @Override
                public void checkClientTrusted(X509Certificate[] chain, String authType) {
                }

                @Override
                public void checkServerTrusted(X509Certificate[] chain, String authType) {
                }

                @Override
                public X509Certificate[] getAcceptedIssuers() {
                    return new X509Certificate[0];
                }
            }};
        }
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        store.setCertificateEntry("anchor", anchor);
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);
        return factory.getTrustManagers();
    }

    @Override
    public void close() {
        try {
            if (socket != null) {
                socket.close();
            }
        } catch (IOException ignored) {
            // closing is best effort
        }
    }
}
