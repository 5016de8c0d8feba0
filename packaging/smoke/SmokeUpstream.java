import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * The smallest Exchange-like upstream for the packaging smoke tests, runnable from source
 * ({@code java SmokeUpstream.java PORT KEYSTORE.p12 PASSWORD MAILDIR}) with nothing but a JDK:
 * STARTTLS with TLS 1.2+ only, EHLO, MAIL, RCPT, DATA; each accepted message is written to
 * MAILDIR with the TLS protocol it arrived over on its first line (LF line ends, for grep). Loopback only, one session at
 * a time: it exists to prove that a message went through an installed proxy, nothing more.
 */
public final class SmokeUpstream {

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        char[] password = args[2].toCharArray();
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(Path.of(args[1]))) {
            keys.load(in, password);
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, password);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(kmf.getKeyManagers(), null, null);
        Path maildir = Files.createDirectories(Path.of(args[3]));
        try (ServerSocket server = new ServerSocket(port, 50, InetAddress.getLoopbackAddress())) {
            System.out.println("smoke upstream on 127.0.0.1:" + port);
            int count = 0;
            while (true) {
                try (Socket socket = server.accept()) {
                    socket.setSoTimeout(30_000);
                    count = session(socket, tls, maildir, count);
                } catch (IOException e) {
                    System.out.println("session ended: " + e);
                }
            }
        }
    }

    private static int session(Socket plain, SSLContext tls, Path maildir, int count) throws IOException {
        Socket socket = plain;
        BufferedReader in = reader(socket);
        OutputStream out = socket.getOutputStream();
        reply(out, "220 smoke-upstream ESMTP");
        String protocol = "none";
        String line;
        while ((line = in.readLine()) != null) {
            String verb = line.split(" ", 2)[0].toUpperCase();
            switch (verb) {
                case "EHLO" -> reply(out, "250-smoke-upstream\r\n250-PIPELINING\r\n250-SIZE 36700160\r\n"
                        + (socket == plain ? "250-STARTTLS\r\n" : "") + "250 ENHANCEDSTATUSCODES");
                case "STARTTLS" -> {
                    reply(out, "220 2.0.0 go ahead");
                    SSLSocket secure = (SSLSocket) tls.getSocketFactory().createSocket(plain, "localhost", plain.getPort(), true);
                    secure.setUseClientMode(false);
                    secure.setEnabledProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
                    secure.startHandshake();
                    protocol = secure.getSession().getProtocol();
                    socket = secure;
                    in = reader(socket);
                    out = socket.getOutputStream();
                }
                case "MAIL", "RSET", "NOOP" -> reply(out, socket == plain && verb.equals("MAIL")
                        ? "530 5.7.0 Must issue a STARTTLS command first" : "250 2.0.0 OK");
                case "RCPT" -> reply(out, "250 2.1.5 OK");
                case "DATA" -> {
                    reply(out, "354 go ahead");
                    StringBuilder message = new StringBuilder("X-Smoke-Upstream-TLS: " + protocol + "\n");
                    String data;
                    while ((data = in.readLine()) != null && !data.equals(".")) {
                        message.append(data.startsWith(".") ? data.substring(1) : data).append('\n');
                    }
                    count++;
                    Files.writeString(maildir.resolve("message-" + count + ".eml"), message, StandardCharsets.UTF_8,
                            StandardOpenOption.CREATE_NEW);
                    reply(out, "250 2.6.0 <smoke-" + count + "@smoke-upstream> Queued mail for delivery");
                }
                case "QUIT" -> {
                    reply(out, "221 2.0.0 bye");
                    return count;
                }
                default -> reply(out, "500 5.5.1 unknown command");
            }
        }
        return count;
    }

    private static BufferedReader reader(Socket socket) throws IOException {
        return new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.ISO_8859_1));
    }

    private static void reply(OutputStream out, String text) throws IOException {
        out.write((text + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
    }
}
