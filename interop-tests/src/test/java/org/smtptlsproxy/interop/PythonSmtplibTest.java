package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * An application using Python's standard smtplib, as line-of-business scripts do: STARTTLS with
 * certificate verification and AUTH, implicit TLS, BODY=8BITMIME with an 8-bit message.
 */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(120)
class PythonSmtplibTest {

    private static final Pattern DATA_REPLY = Pattern.compile("DATA-REPLY 250 2\\.0\\.0 Ok: queued as ([0-9A-F]+)");
    private static final Pattern TLS = Pattern.compile("(?m)^TLS (TLSv1\\.[0-3]|TLSv1)$");

    private static InteropEnvironment env;
    private static Path script;

    @BeforeAll
    static void prepare(InteropEnvironment environment) throws Exception {
        Tools.PYTHON3.require();
        env = environment;
        env.proxy();
        Path dir = env.directory("python");
        script = dir.resolve("smtplib_send.py");
        try (InputStream in = PythonSmtplibTest.class.getResourceAsStream("/interop/smtplib_send.py")) {
            Files.copy(in, script);
        }
    }

    @ParameterizedTest(name = "{0} listener, {1}, AUTH {2}")
    @CsvSource({"auth, starttls, " + ProxyUnderTest.AUTH_USER, "smtps, ssl, -", "starttls, starttls, -"})
    void applicationMessageIsRelayedUnchanged(String listener, String mode, String user) throws Exception {
        String token = TestMessages.token("python-" + listener);
        byte[] message = TestMessages.eightBit(token, "app@legacy.test", UpstreamPostfix.USER);
        Path file = Files.write(env.directory("python").resolve(token + ".eml"), message);
        Exec.Result result = Exec.run(Duration.ofSeconds(60), List.of(Tools.PYTHON3.require(), script.toString(),
                "127.0.0.1", String.valueOf(env.proxy().port(listener)), mode, env.caPem().toString(), user,
                ProxyUnderTest.AUTH_PASSWORD, "app@legacy.test", UpstreamPostfix.USER, file.toString()));
        Matcher reply = DATA_REPLY.matcher(result.output());
        assertTrue(result.succeeded() && reply.find(), result.describe());
        Matcher tls = TLS.matcher(result.output());
        assertTrue(tls.find(), result.describe());
        env.upstream().assertQueueIdIsOurs(reply.group(1));
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, user.equals("-") ? "ESMTPS" : "ESMTPSA",
                tls.group(1));
    }
}
