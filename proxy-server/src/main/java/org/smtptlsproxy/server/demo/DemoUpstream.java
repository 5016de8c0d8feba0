package org.smtptlsproxy.server.demo;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * The demo's stand-in for Exchange Online on 127.0.0.1: STARTTLS, TLS 1.2 and 1.3 only (a TLS 1.0
 * handshake fails, as it does there), MAIL refused before TLS, and every message kept in memory
 * so the demo can show how it arrived. Blocking sockets and a thread per connection: a person
 * trying the demo opens a handful of sessions, and the proxy under test stays the only Netty code.
 */
final class DemoUpstream implements AutoCloseable {

    static final String HOSTNAME = "upstream.demo.invalid";
    /** The messages a person sends by hand are kept too, the oldest dropped first. */
    private static final int KEPT_MESSAGES = 100;
    /** Of each message only the start is kept: enough for the trace header the demo shows. */
    private static final int KEPT_OCTETS = 16 * 1024;

    /** How a message reached the upstream. */
    record Delivery(String tlsProtocol, String tlsCipher, String content) {
    }

    private final ServerSocket server;
    private final SSLContext tls;
    private final List<Delivery> deliveries = new ArrayList<>();
    /** Every delivery counted, also those no longer kept; guarded by {@code deliveries}. */
    private long delivered;
    private final AtomicInteger queueIds = new AtomicInteger();

    private DemoUpstream(ServerSocket server, SSLContext tls) {
        this.server = server;
        this.tls = tls;
    }

    static DemoUpstream start(DemoCertificates certificates) throws IOException, GeneralSecurityException {
        char[] password = "demo".toCharArray();
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(certificates.keyStore(password), password);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(keys.getKeyManagers(), null, null);
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        DemoUpstream upstream = new DemoUpstream(server, tls);
        Thread acceptor = new Thread(upstream::accept, "demo-upstream");
        acceptor.setDaemon(true);
        acceptor.start();
        return upstream;
    }

    int port() {
        return server.getLocalPort();
    }

    /** The newest delivery once more than {@code seen} have arrived; {@code null} after the timeout. */
    Delivery awaitDelivery(long seen, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (deliveries) {
            while (delivered <= seen) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return null;
                }
                deliveries.wait(Math.max(1, left / 1_000_000));
            }
            return deliveries.get(deliveries.size() - 1);
        }
    }

    long delivered() {
        synchronized (deliveries) {
            return delivered;
        }
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket connection = server.accept();
                Thread session = new Thread(() -> serve(connection), "demo-upstream-session");
                session.setDaemon(true);
                session.start();
            } catch (IOException closed) {
                return;
            }
        }
    }

    private void serve(Socket plain) {
        try (Socket closing = plain) {
            closing.setSoTimeout((int) Duration.ofMinutes(5).toMillis());
            Session session = new Session(plain);
            session.run();
        } catch (IOException ended) {
            // the peer went away or the handshake failed (a TLS 1.0 client): nothing to report
        }
    }

    /** One SMTP session; the streams change once, at STARTTLS. */
    private final class Session {
        private Socket socket;
        private InputStream in;
        private OutputStream out;
        private SSLSocket secured;

        Session(Socket plain) throws IOException {
            socket = plain;
            in = plain.getInputStream(); // unbuffered until TLS: no byte after STARTTLS may be read early
            out = new BufferedOutputStream(plain.getOutputStream());
        }

        void run() throws IOException {
            SmtpLines.write(out, "220 " + HOSTNAME + " ESMTP demo upstream (STARTTLS, TLS 1.2+ only)");
            String line;
            while ((line = SmtpLines.read(in)) != null) {
                String verb = (line.length() >= 4 ? line.substring(0, 4) : line).toUpperCase(Locale.ROOT);
                switch (verb) {
                    case "EHLO" -> ehlo();
                    case "HELO" -> SmtpLines.write(out, "250 " + HOSTNAME);
                    case "STAR" -> startTls();
                    case "MAIL" -> SmtpLines.write(out, secured == null
                            ? "530 5.7.0 Must issue a STARTTLS command first" : "250 2.1.0 Sender OK");
                    case "RCPT" -> SmtpLines.write(out, "250 2.1.5 Recipient OK");
                    case "DATA" -> data();
                    case "RSET", "NOOP" -> SmtpLines.write(out, "250 2.0.0 OK");
                    case "QUIT" -> {
                        SmtpLines.write(out, "221 2.0.0 Service closing transmission channel");
                        return;
                    }
                    default -> SmtpLines.write(out, "500 5.3.3 Unrecognized command");
                }
            }
        }

        private void ehlo() throws IOException {
            if (secured == null) {
                SmtpLines.write(out, "250-" + HOSTNAME, "250-PIPELINING", "250-SIZE 157286400", "250-8BITMIME",
                        "250-ENHANCEDSTATUSCODES", "250 STARTTLS");
            } else {
                SmtpLines.write(out, "250-" + HOSTNAME, "250-PIPELINING", "250-SIZE 157286400", "250-8BITMIME",
                        "250 ENHANCEDSTATUSCODES");
            }
        }

        private void startTls() throws IOException {
            if (secured != null) {
                SmtpLines.write(out, "503 5.5.1 TLS already active");
                return;
            }
            SmtpLines.write(out, "220 2.0.0 Ready to start TLS");
            secured = (SSLSocket) tls.getSocketFactory().createSocket(socket, null, socket.getPort(), true);
            secured.setUseClientMode(false);
            secured.setEnabledProtocols(new String[] {"TLSv1.2", "TLSv1.3"});
            secured.startHandshake();
            socket = secured;
            in = new BufferedInputStream(secured.getInputStream());
            out = new BufferedOutputStream(secured.getOutputStream());
        }

        private void data() throws IOException {
            SmtpLines.write(out, "354 Start mail input; end with <CRLF>.<CRLF>");
            StringBuilder content = new StringBuilder();
            String line;
            while ((line = SmtpLines.read(in)) != null && !line.equals(".")) {
                if (content.length() < KEPT_OCTETS) {
                    content.append(line.startsWith(".") ? line.substring(1) : line).append("\r\n");
                }
            }
            if (line == null) {
                throw new IOException("connection closed in DATA");
            }
            Delivery delivery = new Delivery(secured.getSession().getProtocol(), secured.getSession().getCipherSuite(),
                    content.toString());
            synchronized (deliveries) {
                if (deliveries.size() == KEPT_MESSAGES) {
                    deliveries.remove(0);
                }
                deliveries.add(delivery);
                delivered++;
                deliveries.notifyAll();
            }
            SmtpLines.write(out, "250 2.6.0 <" + queueIds.incrementAndGet() + "@" + HOSTNAME + "> Queued mail for delivery");
        }
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException ignored) {
            // closing a listening socket
        }
    }
}
