package org.smtptlsproxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.testkit.KeyFormat;
import org.smtptlsproxy.testkit.KeyType;
import org.smtptlsproxy.testkit.TestPki;

class ConfigLoaderTest {

    @TempDir
    static Path dir;
    static TestPki rsaPki;
    static TestPki ecPki;

    @BeforeAll
    static void certificates() throws Exception {
        rsaPki = TestPki.create("Test RSA CA", KeyType.RSA);
        ecPki = TestPki.create("Test EC CA", KeyType.EC);
        TestPki.Identity rsa = rsaPki.issue("relay.example", "relay.example");
        rsa.writePem(dir, "rsa-pkcs8", KeyFormat.PKCS8);
        rsa.writePem(dir, "rsa-pkcs1", KeyFormat.PKCS1);
        ecPki.issue("relay.example", "relay.example").writePem(dir, "ec-sec1", KeyFormat.SEC1);
        rsaPki.issueExpired("old.example", "old.example").writePem(dir, "expired", KeyFormat.PKCS8);
        rsaPki.writeCaPem(dir.resolve("ca.pem"));
        Files.writeString(dir.resolve("password"), "s3cret\n");
        Files.writeString(dir.resolve("users"), "# devices\nscanner:$2b$10$abcdefghijklmnopqrstuu5ZzMvPzXdXoTQtz3AfZUmPLBRqCa\n");
    }

    private static ProxyConfig load(String yaml) throws ConfigException {
        return new ConfigLoader(Map.of("UPSTREAM_HOST", "contoso-com.mail.protection.outlook.com")).load(yaml, dir);
    }

    private static List<String> problems(String yaml) {
        ConfigException e = assertThrows(ConfigException.class, () -> load(yaml));
        return e.problems().stream().map(ConfigProblem::toString).toList();
    }

    private static final String MINIMAL = """
            listeners:
              - address: 127.0.0.1:2525
            upstream:
              host: contoso-com.mail.protection.outlook.com
            """;

    @Test
    void minimalConfigGetsTheDocumentedDefaults() throws Exception {
        ProxyConfig config = load(MINIMAL);
        ListenerConfig listener = config.listeners().get(0);
        assertEquals("listener0", listener.name());
        assertEquals(InboundTlsMode.NONE, listener.tls().mode());
        assertEquals(List.of("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"), listener.tls().protocols());
        assertEquals(Cidr.LOOPBACK, listener.allowedClients());
        assertFalse(listener.requireTls());
        UpstreamConfig upstream = config.upstream();
        assertEquals(new HostPort("contoso-com.mail.protection.outlook.com", 25), upstream.address());
        assertEquals(UpstreamTlsMode.STARTTLS, upstream.tls().mode());
        assertEquals("TLSv1.2", upstream.tls().minProtocol());
        assertTrue(upstream.tls().verifyHostname());
        assertTrue(upstream.tls().trust().isSystem());
        assertEquals(AuthMechanism.NONE, upstream.auth().mechanism());
        assertEquals(Duration.ofSeconds(30), upstream.connectTimeout());
        assertEquals(Duration.ofMinutes(5), upstream.commandTimeout());
        assertEquals(100, upstream.pool().maxIdle());
        assertEquals(36_700_160, config.limits().maxMessageSize().bytes());
        assertEquals(500, config.limits().maxRecipients());
        assertEquals(BareNewlines.REJECT, config.limits().bareNewlines());
        assertTrue(config.receivedHeader());
        assertEquals(new HostPort("127.0.0.1", 9465), config.metrics().address());
        assertEquals(TlsProvider.AUTO, config.tlsProvider());
        assertEquals(LogFormat.TEXT, config.logging().format());
    }

    @Test
    void loggingFormatIsTextOrJson() throws Exception {
        assertEquals(LogFormat.JSON, load(MINIMAL + "logging:\n  format: json\n").logging().format());
        List<String> problems = problems(MINIMAL + "logging:\n  format: xml\n  colour: true\n");
        assertTrue(problems.stream().anyMatch(p -> p.matches("logging\\.format \\(line \\d+\\): 'xml' is not one of text, json")),
                problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.startsWith("logging.colour (line ")), problems.toString());
    }

    @Test
    void durationsAreWrittenAsTheConfigWritesThem() {
        assertEquals("30s", Durations.format(Duration.ofSeconds(30)));
        assertEquals("5m", Durations.format(Duration.ofMinutes(5)));
        assertEquals("90s", Durations.format(Duration.ofSeconds(90)));
        assertEquals("1500ms", Durations.format(Duration.ofMillis(1500)));
        assertEquals("2h", Durations.format(Duration.ofHours(2)));
        assertEquals("0s", Durations.format(Duration.ZERO));
        for (String text : List.of("500ms", "30s", "5m", "1h")) {
            assertEquals(text, Durations.format(Durations.parse(text)));
        }
    }

    @Test
    void fullConfigBinds() throws Exception {
        ProxyConfig config = load("""
                hostname: relay.example.internal
                tls_provider: jdk
                listeners:
                  - name: smtp
                    address: "[::1]:2525"
                    tls:
                      mode: starttls
                      certificate: rsa-pkcs1.pem
                      key: rsa-pkcs1.key
                      protocols: [TLSv1.2, TLSv1.3]
                    require_tls: true
                    allowed_clients: [10.0.0.0/8, "::1/128"]
                    allowed_senders: ["@contoso.example", scanner@contoso.example]
                    auth:
                      required: true
                      users_file: users
                  - name: smtps
                    address: 0.0.0.0:465
                    tls:
                      mode: implicit
                      certificate: ec-sec1.pem
                      key: ec-sec1.key
                upstream:
                  host: ${UPSTREAM_HOST}
                  port: 587
                  tls:
                    mode: starttls
                    min_protocol: TLSv1.3
                    server_name: mail.example.com
                    trust: ca.pem
                  auth:
                    mechanism: login
                    username: relay@contoso.example
                    password_file: password
                  fallback_hosts: [backup.example.com, "10.1.1.1:2525"]
                  connect_timeout: 500ms
                limits:
                  max_message_size: 512KB
                  bare_newlines: normalize
                received_header: false
                metrics:
                  address: 0.0.0.0:9100
                """);
        assertEquals("relay.example.internal", config.hostname());
        ListenerConfig smtp = config.listeners().get(0);
        assertEquals(new HostPort("::1", 2525), smtp.address());
        assertEquals("RSA", smtp.tls().identity().key().getAlgorithm());
        assertTrue(smtp.requireTls());
        assertTrue(smtp.allowedClients().get(0).contains(InetAddress.getByName("10.20.30.40")));
        assertEquals("$2b$", smtp.auth().users().get("scanner").substring(0, 4));
        assertEquals("EC", config.listeners().get(1).tls().identity().key().getAlgorithm());
        assertEquals("contoso-com.mail.protection.outlook.com", config.upstream().address().host());
        assertEquals("TLSv1.3", config.upstream().tls().minProtocol());
        assertEquals(1, config.upstream().tls().trust().certificates().size());
        assertEquals("s3cret", config.upstream().auth().password().value());
        assertEquals("******", config.upstream().auth().password().toString());
        assertEquals(List.of(new HostPort("backup.example.com", 25), new HostPort("10.1.1.1", 2525)),
                config.upstream().fallbackHosts());
        assertEquals(Duration.ofMillis(500), config.upstream().connectTimeout());
        assertEquals(524_288, config.limits().maxMessageSize().bytes());
        assertEquals(BareNewlines.NORMALIZE, config.limits().bareNewlines());
        assertFalse(config.receivedHeader());
    }

    @Test
    void everyProblemIsReportedWithItsPathAndLine() {
        List<String> problems = problems("""
                listeners:
                  - address: 127.0.0.1:2525
                    tls:
                      mode: starttls
                      certificate: nowhere.pem
                      key: rsa-pkcs8.key
                    alowed_clients: [10.0.0.0/8]
                upstream:
                  host: contoso-com.mail.protection.outlook.com
                  tls:
                    mode: none
                    min_protocol: TLSv1
                limits:
                  max_message_size: lots
                  idle_timeout: 5 minutes
                """);
        assertTrue(problems.contains("listeners[0].tls.certificate (line 5): file not found: " + dir.resolve("nowhere.pem")), problems.toString());
        assertTrue(problems.contains("listeners[0].alowed_clients (line 7): unknown key; did you mean 'allowed_clients'?"), problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.startsWith("upstream.tls.mode (line 11): there is no plaintext mode")), problems.toString());
        assertTrue(problems.contains("upstream.tls.min_protocol (line 12): TLSv1 is below the TLSv1.2 minimum"), problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.startsWith("limits.max_message_size (line 14): 'lots' is not a size")), problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.startsWith("limits.idle_timeout (line 15): '5 minutes' is not a duration")), problems.toString());
    }

    @Test
    void missingRequiredKeysPointAtTheirBlock() {
        List<String> problems = problems("""
                listeners:
                  - name: lan
                    tls:
                      mode: starttls
                upstream:
                  port: 25
                """);
        assertTrue(problems.contains("listeners[0].address (line 2): required"), problems.toString());
        assertTrue(problems.contains("listeners[0].tls.certificate (line 4): required"), problems.toString());
        assertTrue(problems.contains("upstream.host (line 6): required"), problems.toString());
    }

    @Test
    void keyThatDoesNotBelongToTheCertificateIsRefused() {
        List<String> problems = problems(MINIMAL.replace("  - address: 127.0.0.1:2525", """
                  - address: 127.0.0.1:2525
                    tls:
                      mode: implicit
                      certificate: rsa-pkcs8.pem
                      key: ec-sec1.key"""));
        assertEquals(1, problems.size(), problems.toString());
        assertTrue(problems.get(0).contains("this key does not belong to the certificate"), problems.toString());
    }

    @Test
    void aListenerTakesAnRsaAndAnEcdsaCertificate() throws Exception {
        ProxyConfig config = load(MINIMAL.replace("  - address: 127.0.0.1:2525", """
                  - address: 127.0.0.1:2525
                    tls:
                      mode: starttls
                      certificate: rsa-pkcs1.pem
                      key: rsa-pkcs1.key
                      ec_certificate: ec-sec1.pem
                      ec_key: ec-sec1.key
                      session_cache_size: 1000
                      session_timeout: 10m"""));
        InboundTls tls = config.listeners().get(0).tls();
        assertEquals("RSA", tls.identity().key().getAlgorithm());
        assertEquals("EC", tls.ecIdentity().key().getAlgorithm());
        assertEquals(List.of(tls.identity(), tls.ecIdentity()), tls.identities());
        assertEquals(1000, tls.sessionCacheSize());
        assertEquals(Duration.ofMinutes(10), tls.sessionTimeout());
        InboundTls single = load(MINIMAL.replace("  - address: 127.0.0.1:2525", """
                  - address: 127.0.0.1:2525
                    tls:
                      mode: starttls
                      certificate: ec-sec1.pem
                      key: ec-sec1.key""")).listeners().get(0).tls();
        assertNull(single.ecIdentity());
        assertEquals(InboundTls.DEFAULT_SESSION_CACHE_SIZE, single.sessionCacheSize());
        assertEquals(Duration.ofHours(1), single.sessionTimeout());
    }

    @Test
    void theCertificatePairsMustHoldTheKeyTypesTheirNamesSay() {
        List<String> swapped = problems(MINIMAL.replace("  - address: 127.0.0.1:2525", """
                  - address: 127.0.0.1:2525
                    tls:
                      mode: starttls
                      certificate: ec-sec1.pem
                      key: ec-sec1.key
                      ec_certificate: rsa-pkcs8.pem
                      ec_key: rsa-pkcs8.key"""));
        assertTrue(swapped.stream().anyMatch(p -> p.matches(
                "listeners\\[0]\\.tls\\.ec_key \\(line 8\\): an ECDSA key is expected here, this is RSA .*")), swapped.toString());
        assertTrue(swapped.stream().anyMatch(p -> p.matches(
                "listeners\\[0]\\.tls\\.key \\(line 6\\): with ec_certificate set, certificate and key must be the RSA pair, this key is EC")),
                swapped.toString());
        List<String> half = problems(MINIMAL.replace("  - address: 127.0.0.1:2525", """
                  - address: 127.0.0.1:2525
                    tls:
                      mode: starttls
                      certificate: rsa-pkcs8.pem
                      key: rsa-pkcs8.key
                      ec_certificate: ec-sec1.pem
                      session_cache_size: 0
                      session_timeout: 25h"""));
        assertTrue(half.stream().anyMatch(p -> p.startsWith("listeners[0].tls.ec_key (line ") && p.endsWith("required")), half.toString());
        assertTrue(half.stream().anyMatch(p -> p.startsWith("listeners[0].tls.session_cache_size (line 8): must be at least 1")),
                half.toString());
        assertTrue(half.stream().anyMatch(p -> p.startsWith("listeners[0].tls.session_timeout (line 9): between 1s and 24h")),
                half.toString());
    }

    @Test
    void expiredCertificateIsRefused() {
        List<String> problems = problems(MINIMAL.replace("  - address: 127.0.0.1:2525", """
                  - address: 127.0.0.1:2525
                    tls:
                      mode: starttls
                      certificate: expired.pem
                      key: expired.key"""));
        assertTrue(problems.get(0).contains("certificate expired on"), problems.toString());
    }

    @Test
    void undefinedEnvironmentVariableIsNamed() {
        List<String> problems = problems(MINIMAL.replace("contoso-com.mail.protection.outlook.com", "${NOT_SET_ANYWHERE}"));
        assertTrue(problems.stream().anyMatch(p -> p.contains("environment variable NOT_SET_ANYWHERE is not set")), problems.toString());
    }

    @Test
    void yamlSyntaxErrorHasALine() {
        List<String> problems = problems("listeners:\n  - address: [oops\nupstream: {host: x}\n");
        assertEquals(1, problems.size());
        assertTrue(problems.get(0).startsWith("(yaml) (line "), problems.toString());
    }

    @Test
    void oauthTokenEndpointMustBeHttpsUnlessLoopback() throws Exception {
        Files.writeString(dir.resolve("client-secret"), "abc");
        String xoauth = MINIMAL + """
                  auth:
                    mechanism: xoauth2
                    username: relay@contoso.example
                    oauth2:
                      token_endpoint: ENDPOINT
                      client_id: 00000000-0000-0000-0000-000000000000
                      client_secret_file: client-secret
                """;
        assertTrue(problems(xoauth.replace("ENDPOINT", "http://login.example.com/token")).get(0).contains("must be an https:// URL"));
        assertEquals("127.0.0.1", load(xoauth.replace("ENDPOINT", "http://127.0.0.1:8080/token"))
                .upstream().auth().oauth2().tokenEndpoint().getHost());
    }

    @Test
    void valueTypes() throws Exception {
        assertEquals(36_700_160, DataSize.parse("35MB").bytes());
        assertEquals(512 * 1024, DataSize.parse("512kb").bytes());
        assertEquals(Duration.ofMinutes(5), Durations.parse("5m"));
        assertEquals(new HostPort("2001:db8::1", 25), HostPort.parse("[2001:db8::1]:25", -1));
        assertEquals("[2001:db8::1]:25", new HostPort("2001:db8::1", 25).toString());
        assertThrows(IllegalArgumentException.class, () -> HostPort.parse("2001:db8::1:25", -1));
        Cidr lan = Cidr.parse("10.0.0.0/8");
        assertTrue(lan.contains(InetAddress.getByName("::ffff:10.1.2.3")), "IPv4-mapped IPv6");
        assertFalse(lan.contains(InetAddress.getByName("11.0.0.1")));
        assertTrue(Cidr.parse("192.168.1.77/24").contains(InetAddress.getByName("192.168.1.1")), "host bits masked");
        assertNull(new ConfigLoader(Map.of()).load(MINIMAL, dir).listeners().get(0).auth());
    }
}
