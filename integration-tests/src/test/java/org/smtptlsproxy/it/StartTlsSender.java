package org.smtptlsproxy.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * A sender that does EHLO, STARTTLS, a real handshake with the protocols and suites it is given,
 * EHLO inside TLS and QUIT, through the JDK's TLS. Senders made from one {@link #trusting}
 * context share its client session cache, so the second of them offers to resume.
 */
final class StartTlsSender {

    /** What one connection met: the certificate served, the protocol and suite. */
    record Handshake(X509Certificate leaf, String protocol, String cipher) {

        String keyAlgorithm() {
            return leaf.getPublicKey().getAlgorithm();
        }
    }

    private StartTlsSender() {
    }

    /** A client context trusting {@code anchors}; its session cache is what a resuming sender keeps. */
    static SSLContext trusting(X509Certificate... anchors) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        for (int i = 0; i < anchors.length; i++) {
            store.setCertificateEntry("anchor" + i, anchors[i]);
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    /** One session: STARTTLS with {@code protocol} and, unless empty, only {@code ciphers}. */
    static Handshake startTls(SSLContext context, InetSocketAddress address, String protocol, String... ciphers)
            throws IOException {
        try (Socket plain = new Socket()) {
            plain.connect(address, 5000);
            plain.setSoTimeout(10_000);
            BufferedReader in = new BufferedReader(new InputStreamReader(plain.getInputStream(), StandardCharsets.US_ASCII));
            OutputStream out = plain.getOutputStream();
            expect(in, "220");
            send(out, "EHLO sender.example");
            expect(in, "250");
            send(out, "STARTTLS");
            expect(in, "220");
            try (SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain,
                    address.getHostString(), address.getPort(), true)) {
                tls.setEnabledProtocols(new String[] {protocol});
                if (ciphers.length > 0) {
                    tls.setEnabledCipherSuites(ciphers);
                }
                tls.startHandshake();
                BufferedReader tlsIn = new BufferedReader(new InputStreamReader(tls.getInputStream(), StandardCharsets.US_ASCII));
                OutputStream tlsOut = tls.getOutputStream();
                // Reading a reply also reads a TLS 1.3 NewSessionTicket, which arrives after the handshake.
                send(tlsOut, "EHLO sender.example");
                expect(tlsIn, "250");
                send(tlsOut, "QUIT");
                expect(tlsIn, "221");
                return new Handshake((X509Certificate) tls.getSession().getPeerCertificates()[0],
                        tls.getSession().getProtocol(), tls.getSession().getCipherSuite());
            }
        }
    }

    private static void send(OutputStream out, String line) throws IOException {
        out.write((line + "\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    /** Reads a whole (multi-line) reply and checks its code. */
    private static void expect(BufferedReader in, String code) throws IOException {
        String line;
        do {
            line = in.readLine();
            if (line == null || !line.startsWith(code)) {
                throw new IOException("expected " + code + ", got " + line);
            }
        } while (line.length() > 3 && line.charAt(3) == '-');
    }

    static List<String> lines(String metrics, String prefix) {
        return metrics.lines().filter(l -> l.startsWith(prefix)).toList();
    }
}
