package org.smtptlsproxy.server.demo;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * An old sender as the demo plays it: STARTTLS with TLS 1.0 only, then one message. It verifies
 * the proxy's certificate against the demo CA, as a configured sender would. The JDK allows TLS
 * 1.0 here because {@code Main} re-enables it for the proxy's JDK provider before any TLS use.
 */
final class LegacySender {

    /** What the sender saw: the TLS it got and the reply to its end of data. */
    record Outcome(String tlsProtocol, String tlsCipher, String reply) {
        boolean accepted() {
            return reply.startsWith("250");
        }
    }

    private LegacySender() {
    }

    static Outcome send(InetSocketAddress proxy, DemoCertificates certificates, String from, String to, String message)
            throws IOException, GeneralSecurityException {
        try (Socket plain = new Socket()) {
            plain.connect(proxy, (int) Duration.ofSeconds(10).toMillis());
            plain.setSoTimeout((int) Duration.ofSeconds(60).toMillis());
            InputStream in = plain.getInputStream();
            OutputStream out = plain.getOutputStream();
            expect(in, "220");
            SmtpLines.write(out, "EHLO legacy-printer.local");
            expect(in, "250");
            SmtpLines.write(out, "STARTTLS");
            expect(in, "220");
            try (SSLSocket tls = handshake(plain, certificates)) {
                in = new BufferedInputStream(tls.getInputStream());
                out = new BufferedOutputStream(tls.getOutputStream());
                SmtpLines.write(out, "EHLO legacy-printer.local");
                expect(in, "250");
                SmtpLines.write(out, "MAIL FROM:<" + from + ">");
                expect(in, "250");
                SmtpLines.write(out, "RCPT TO:<" + to + ">");
                expect(in, "250");
                SmtpLines.write(out, "DATA");
                expect(in, "354");
                StringBuilder data = new StringBuilder();
                for (String line : message.split("\r\n", -1)) {
                    data.append(line.startsWith(".") ? "." + line : line).append("\r\n");
                }
                out.write(data.append(".\r\n").toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                out.flush();
                String reply = reply(in);
                SmtpLines.write(out, "QUIT");
                return new Outcome(tls.getSession().getProtocol(), tls.getSession().getCipherSuite(), reply);
            }
        }
    }

    private static SSLSocket handshake(Socket plain, DemoCertificates certificates)
            throws IOException, GeneralSecurityException {
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(certificates.trustStore());
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, "localhost", plain.getPort(), true);
        tls.setEnabledProtocols(new String[] {"TLSv1"});
        SSLParameters parameters = tls.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS"); // the name is checked, as it should be
        tls.setSSLParameters(parameters);
        tls.startHandshake();
        return tls;
    }

    /** The last line of a (multi-line) reply. */
    private static String reply(InputStream in) throws IOException {
        String line;
        do {
            line = SmtpLines.read(in);
            if (line == null) {
                throw new IOException("the proxy closed the connection");
            }
        } while (line.length() > 3 && line.charAt(3) == '-');
        return line;
    }

    private static void expect(InputStream in, String code) throws IOException {
        String reply = reply(in);
        if (!reply.startsWith(code)) {
            throw new IOException("the proxy answered " + reply);
        }
    }
}
