package org.smtptlsproxy.config;

import java.io.IOException;
import java.io.StringReader;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;

/**
 * Reads the YAML configuration into validated records, reporting every problem at once with its
 * key path and line. Files named in the config (certificates, keys, trust bundles, secrets, users)
 * are read and checked here, so the rest of the program never sees an unverified path or a raw
 * secret. Relative paths are relative to the config file's directory.
 */
public final class ConfigLoader {

    static final List<String> INBOUND_PROTOCOLS = List.of("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3");
    private static final int MAX_CONFIG_BYTES = 1 << 20;
    private static final int MAX_SESSION_CACHE_SIZE = 1_000_000;
    private static final Duration MAX_SESSION_TIMEOUT = Duration.ofHours(24);

    private final Map<String, String> environment;

    public ConfigLoader() {
        this(System.getenv());
    }

    public ConfigLoader(Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
    }

    public ProxyConfig load(Path file) throws ConfigException {
        String text;
        try {
            if (Files.size(file) > MAX_CONFIG_BYTES) {
                throw single("(file)", "larger than 1 MiB; is this the right file?");
            }
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw single("(file)", "configuration file not found: " + file);
        } catch (IOException e) {
            throw single("(file)", "cannot read " + file + ": " + e.getMessage());
        }
        Path parent = file.toAbsolutePath().getParent();
        return load(text, parent == null ? Path.of(".") : parent);
    }

    public ProxyConfig load(String yaml, Path baseDirectory) throws ConfigException {
        Node root;
        try {
            LoaderOptions options = new LoaderOptions();
            options.setMaxAliasesForCollections(10); // no billion laughs
            options.setAllowDuplicateKeys(true);     // duplicates are reported with their line instead
            options.setCodePointLimit(MAX_CONFIG_BYTES);
            root = new Yaml(options).compose(new StringReader(yaml));
        } catch (MarkedYAMLException e) {
            int line = e.getProblemMark() == null ? 0 : e.getProblemMark().getLine() + 1;
            throw new ConfigException(List.of(new ConfigProblem("(yaml)", line, "not valid YAML: " + e.getProblem())));
        } catch (YAMLException e) {
            throw single("(yaml)", "not valid YAML: " + e.getMessage());
        }
        if (root == null) {
            throw single("(file)", "the configuration is empty");
        }
        List<ConfigProblem> problems = new ArrayList<>();
        Binder binder = new Binder(problems, baseDirectory, environment);
        ProxyConfig config = binder.bind(YamlSection.of(root, "", problems, environment));
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return config;
    }

    private static ConfigException single(String path, String message) {
        return new ConfigException(List.of(new ConfigProblem(path, 0, message)));
    }

    /** One binding pass; collects problems instead of stopping at the first. */
    private static final class Binder {

        private final List<ConfigProblem> problems;
        private final Path baseDirectory;
        private final Map<String, String> environment;

        Binder(List<ConfigProblem> problems, Path baseDirectory, Map<String, String> environment) {
            this.problems = problems;
            this.baseDirectory = baseDirectory;
            this.environment = environment;
        }

        ProxyConfig bind(YamlSection root) {
            String hostname = root.string("hostname", null);
            if (hostname == null) {
                hostname = HostPort.localHostName();
            } else if (!HostPort.isHostName(hostname)) {
                root.problem("hostname", "'" + hostname + "' is not a valid host name");
            }
            TlsProvider provider = root.enumeration("tls_provider", TlsProvider.AUTO, TlsProvider.class);
            SpoolConfig spool = spool(root.section("spool"));
            List<ListenerConfig> listeners = listeners(root, spool);
            UpstreamConfig upstream = upstream(root);
            Limits limits = limits(root.section("limits"));
            boolean receivedHeader = root.bool("received_header", true);
            Duration drainTimeout = root.duration("drain_timeout", Duration.ofSeconds(30));
            YamlSection metricsSection = root.section("metrics");
            HostPort metricsAddress = metricsSection.parsed("address", new HostPort("127.0.0.1", 9465),
                    text -> HostPort.parse(text, -1));
            metricsSection.finish();
            YamlSection loggingSection = root.section("logging");
            LogFormat logFormat = loggingSection.enumeration("format", LogFormat.TEXT, LogFormat.class);
            loggingSection.finish();
            root.finish();
            return new ProxyConfig(hostname, provider, listeners, upstream, limits, receivedHeader, drainTimeout,
                    new MetricsConfig(metricsAddress), new LoggingConfig(logFormat), spool);
        }

        private List<ListenerConfig> listeners(YamlSection root, SpoolConfig spool) {
            if (!root.has("listeners")) {
                root.missing("listeners");
                return List.of();
            }
            List<Node> items = root.list("listeners");
            if (items.isEmpty()) {
                root.problem("listeners", "at least one listener is required");
            }
            List<ListenerConfig> listeners = new ArrayList<>();
            Map<String, Integer> names = new HashMap<>();
            Set<String> addresses = new HashSet<>();
            for (int i = 0; i < items.size(); i++) {
                YamlSection section = YamlSection.of(items.get(i), "listeners[" + i + "]", problems, environment);
                ListenerConfig listener = listener(section, i, spool);
                if (names.putIfAbsent(listener.name(), i) != null) {
                    section.problem("name", "'" + listener.name() + "' is already the name of listeners[" + names.get(listener.name()) + "]");
                }
                // Port 0 (any free port, for tests and the demo) cannot collide.
                if (listener.address() != null && listener.address().port() != 0
                        && !addresses.add(listener.address().toString())) {
                    section.problem("address", listener.address() + " is used by another listener");
                }
                listeners.add(listener);
            }
            return listeners;
        }

        private ListenerConfig listener(YamlSection s, int index, SpoolConfig spool) {
            String name = s.string("name", "listener" + index);
            HostPort address = null;
            if (!s.has("address")) {
                s.missing("address");
            } else {
                address = s.parsed("address", null, text -> HostPort.parse(text, -1));
            }
            InboundTls tls = inboundTls(s.section("tls"), s.has("tls"));
            boolean requireTls = s.bool("require_tls", false);
            if (requireTls && tls.mode() == InboundTlsMode.NONE) {
                s.problem("require_tls", "require_tls needs tls.mode starttls or implicit");
            }
            boolean proxyProtocol = s.bool("proxy_protocol", false);
            List<Cidr> trustedProxies = cidrs(s, "trusted_proxies", List.of());
            if (proxyProtocol && trustedProxies.isEmpty()) {
                s.problem("trusted_proxies", "required when proxy_protocol is true (the load balancers' addresses)");
            }
            List<Cidr> allowedClients = cidrs(s, "allowed_clients", Cidr.LOOPBACK);
            List<String> allowedSenders = senders(s);
            InboundAuth auth = s.has("auth") ? inboundAuth(s.section("auth")) : null;
            DeliveryMode delivery = s.enumeration("delivery", DeliveryMode.CUT_THROUGH, DeliveryMode.class);
            if (delivery == DeliveryMode.SPOOL && !spool.configured()) {
                s.problem("delivery", "delivery: spool needs spool.directory (where messages are kept until delivered)");
            }
            s.finish();
            return new ListenerConfig(name, address, tls, requireTls, proxyProtocol, trustedProxies, allowedClients,
                    allowedSenders, auth, delivery);
        }

        private InboundTls inboundTls(YamlSection s, boolean present) {
            InboundTlsMode mode = InboundTlsMode.NONE;
            if (present) {
                if (!s.has("mode")) {
                    s.missing("mode");
                }
                mode = s.enumeration("mode", InboundTlsMode.NONE, InboundTlsMode.class);
            }
            List<String> protocols = s.strings("protocols");
            if (protocols == null) {
                protocols = INBOUND_PROTOCOLS;
            } else {
                for (String protocol : protocols) {
                    if (!INBOUND_PROTOCOLS.contains(protocol)) {
                        s.problem("protocols", "'" + protocol + "' is not one of " + String.join(", ", INBOUND_PROTOCOLS));
                    }
                }
                if (protocols.isEmpty()) {
                    s.problem("protocols", "at least one protocol is required");
                }
            }
            List<String> ciphers = s.strings("ciphers");
            int sessionCacheSize = s.integer("session_cache_size", InboundTls.DEFAULT_SESSION_CACHE_SIZE, 1);
            if (sessionCacheSize > MAX_SESSION_CACHE_SIZE) {
                s.problem("session_cache_size", "at most " + MAX_SESSION_CACHE_SIZE + " sessions");
            }
            Duration sessionTimeout = s.duration("session_timeout", InboundTls.DEFAULT_SESSION_TIMEOUT);
            if (sessionTimeout.compareTo(MAX_SESSION_TIMEOUT) > 0 || sessionTimeout.toSeconds() < 1) {
                // RFC 5246 F.1.4: a session ID lives at most 24 hours; a ticket no longer than that either.
                s.problem("session_timeout", "between 1s and 24h");
            }
            TlsIdentity identity = null;
            TlsIdentity ecIdentity = null;
            if (mode == InboundTlsMode.NONE) {
                for (String key : List.of("certificate", "key", "ec_certificate", "ec_key")) {
                    if (s.has(key)) {
                        s.problem(key, "not used when mode is none");
                    }
                }
            } else {
                identity = identity(s, "certificate", "key", true);
                ecIdentity = identity(s, "ec_certificate", "ec_key", false);
                if (ecIdentity != null && !"EC".equals(ecIdentity.key().getAlgorithm())) {
                    s.problem("ec_key", "an ECDSA key is expected here, this is " + ecIdentity.key().getAlgorithm()
                            + " (put the RSA certificate and key in certificate and key)");
                }
                if (ecIdentity != null && identity != null && !"RSA".equals(identity.key().getAlgorithm())) {
                    s.problem("key", "with ec_certificate set, certificate and key must be the RSA pair, this key is "
                            + identity.key().getAlgorithm());
                }
            }
            s.finish();
            return new InboundTls(mode, identity, ecIdentity, protocols, ciphers == null ? List.of() : ciphers,
                    sessionCacheSize, sessionTimeout);
        }

        /** Reads and cross-checks a certificate chain and its key; null if either is absent or bad. */
        private TlsIdentity identity(YamlSection s, String certificateKey, String keyKey, boolean required) {
            boolean hasCertificate = s.has(certificateKey);
            boolean hasKey = s.has(keyKey);
            if (!required && !hasCertificate && !hasKey) {
                return null;
            }
            if (!hasCertificate) {
                s.missing(certificateKey);
            }
            if (!hasKey) {
                s.missing(keyKey);
            }
            Path certificateFile = hasCertificate ? file(s, certificateKey) : null;
            Path keyFile = hasKey ? file(s, keyKey) : null;
            List<X509Certificate> chain = null;
            PrivateKey key = null;
            if (certificateFile != null) {
                try {
                    chain = PemReader.certificates(certificateFile);
                    X509Certificate leaf = chain.get(0);
                    Date now = new Date();
                    if (leaf.getNotAfter().before(now)) {
                        s.problem(certificateKey, "certificate expired on "
                                + leaf.getNotAfter().toInstant().atOffset(ZoneOffset.UTC).toLocalDate());
                    } else if (leaf.getNotBefore().after(now)) {
                        s.problem(certificateKey, "certificate is not valid before "
                                + leaf.getNotBefore().toInstant().atOffset(ZoneOffset.UTC).toLocalDate());
                    }
                } catch (IllegalArgumentException e) {
                    s.problem(certificateKey, e.getMessage());
                }
            }
            if (keyFile != null) {
                try {
                    key = PemReader.privateKey(keyFile);
                } catch (IllegalArgumentException e) {
                    s.problem(keyKey, e.getMessage());
                }
            }
            if (chain == null || key == null) {
                return null;
            }
            if (!PemReader.matches(key, chain.get(0))) {
                s.problem(keyKey, "this key does not belong to the certificate in " + certificateFile.getFileName());
                return null;
            }
            return new TlsIdentity(certificateFile, keyFile, chain, key);
        }

        /** A readable file named by {@code key}, relative to the config's directory; null if not. */
        private Path file(YamlSection s, String key) {
            String name = s.string(key, null);
            if (name == null) {
                return null;
            }
            Path path = baseDirectory.resolve(name).normalize();
            if (!Files.exists(path)) {
                s.problem(key, "file not found: " + path);
                return null;
            }
            if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
                s.problem(key, "not a readable file: " + path);
                return null;
            }
            return path;
        }

        private Secret secret(YamlSection s, String key) {
            if (!s.has(key)) {
                s.missing(key);
                return null;
            }
            Path path = file(s, key);
            if (path == null) {
                return null;
            }
            try {
                String value = Files.readString(path, StandardCharsets.UTF_8).stripTrailing();
                if (value.isEmpty()) {
                    s.problem(key, "the secret file " + path + " is empty");
                    return null;
                }
                return new Secret(value);
            } catch (IOException e) {
                s.problem(key, "cannot read " + path + ": " + e.getMessage());
                return null;
            }
        }

        private List<Cidr> cidrs(YamlSection s, String key, List<Cidr> defaults) {
            List<String> values = s.strings(key);
            if (values == null) {
                return defaults;
            }
            List<Cidr> cidrs = new ArrayList<>();
            for (int i = 0; i < values.size(); i++) {
                try {
                    cidrs.add(Cidr.parse(values.get(i)));
                } catch (IllegalArgumentException e) {
                    problems.add(new ConfigProblem(s.path(key) + "[" + i + "]", s.lineOf(key), e.getMessage()));
                }
            }
            return cidrs;
        }

        private List<String> senders(YamlSection s) {
            List<String> values = s.strings("allowed_senders");
            if (values == null) {
                return List.of();
            }
            for (String sender : values) {
                int at = sender.indexOf('@');
                if (at < 0 || at != sender.lastIndexOf('@') || at == sender.length() - 1 || sender.contains(" ")) {
                    s.problem("allowed_senders", "'" + sender + "' is neither an address (user@domain) nor a domain (@domain)");
                }
            }
            return values;
        }

        private InboundAuth inboundAuth(YamlSection s) {
            boolean required = s.bool("required", false);
            boolean allowPlaintext = s.bool("allow_plaintext", false);
            Map<String, String> users = new LinkedHashMap<>();
            Path usersFile = null;
            if (!s.has("users_file")) {
                s.missing("users_file");
            } else {
                usersFile = file(s, "users_file");
                if (usersFile != null) {
                    readUsers(s, usersFile, users);
                }
            }
            s.finish();
            return new InboundAuth(required, allowPlaintext, usersFile, users);
        }

        private void readUsers(YamlSection s, Path file, Map<String, String> users) {
            List<String> lines;
            try {
                lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                s.problem("users_file", "cannot read " + file + ": " + e.getMessage());
                return;
            }
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                int colon = line.indexOf(':');
                String where = file.getFileName() + ":" + (i + 1) + ": ";
                if (colon <= 0) {
                    s.problem("users_file", where + "expected user:hash");
                    continue;
                }
                String user = line.substring(0, colon);
                String hash = line.substring(colon + 1);
                if (!(hash.startsWith("$2a$") || hash.startsWith("$2b$") || hash.startsWith("$2y$")
                        || hash.startsWith("$pbkdf2-sha256$"))) {
                    s.problem("users_file", where + "the hash of user '" + user
                            + "' is neither bcrypt ($2a$, $2b$, $2y$) nor $pbkdf2-sha256$ (make one with hash-password)");
                    continue;
                }
                if (users.put(user, hash) != null) {
                    s.problem("users_file", where + "user '" + user + "' appears twice");
                }
            }
        }

        private UpstreamConfig upstream(YamlSection root) {
            if (!root.has("upstream")) {
                root.missing("upstream");
                root.section("upstream");
                return null;
            }
            YamlSection s = root.section("upstream");
            String host = s.requiredString("host");
            if (host != null && !HostPort.isHostName(host) && !IpLiterals.isIpv6(host)) {
                s.problem("host", "'" + host + "' is not a valid host name or address");
            }
            int port = s.integer("port", 25, 1);
            if (port > 65535) {
                s.problem("port", "must be at most 65535");
            }
            UpstreamTls tls = upstreamTls(s.section("tls"));
            UpstreamAuth auth = upstreamAuth(s.section("auth"));
            List<HostPort> fallbacks = new ArrayList<>();
            List<String> fallbackTexts = s.strings("fallback_hosts");
            if (fallbackTexts != null) {
                for (int i = 0; i < fallbackTexts.size(); i++) {
                    try {
                        fallbacks.add(HostPort.parse(fallbackTexts.get(i), 25));
                    } catch (IllegalArgumentException e) {
                        problems.add(new ConfigProblem(s.path("fallback_hosts") + "[" + i + "]", s.lineOf("fallback_hosts"),
                                e.getMessage()));
                    }
                }
            }
            Duration connectTimeout = s.duration("connect_timeout", Duration.ofSeconds(30));
            Duration commandTimeout = s.duration("command_timeout", Duration.ofMinutes(5));
            YamlSection poolSection = s.section("pool");
            PoolConfig pool = new PoolConfig(poolSection.integer("max_idle", 100, 0),
                    poolSection.duration("idle_timeout", Duration.ofSeconds(60)));
            poolSection.finish();
            s.finish();
            return new UpstreamConfig(host == null ? null : new HostPort(host, Math.min(port, 65535)), tls, auth,
                    fallbacks, connectTimeout, commandTimeout, pool);
        }

        private UpstreamTls upstreamTls(YamlSection s) {
            UpstreamTlsMode mode = UpstreamTlsMode.STARTTLS;
            String modeText = s.string("mode", null);
            if (modeText != null) {
                switch (modeText.strip().toLowerCase(java.util.Locale.ROOT)) {
                    case "starttls" -> mode = UpstreamTlsMode.STARTTLS;
                    case "implicit" -> mode = UpstreamTlsMode.IMPLICIT;
                    case "none", "plaintext", "off", "false" ->
                            s.problem("mode", "there is no plaintext mode: the upstream is always reached over TLS 1.2+ (starttls or implicit)");
                    default -> s.problem("mode", "'" + modeText + "' is not one of starttls, implicit");
                }
            }
            String minProtocol = s.string("min_protocol", "TLSv1.2");
            switch (minProtocol) {
                case "TLSv1.2", "TLSv1.3" -> { }
                case "TLSv1", "TLSv1.1", "SSLv3", "SSLv2" -> {
                    s.problem("min_protocol", minProtocol + " is below the TLSv1.2 minimum");
                    minProtocol = "TLSv1.2";
                }
                default -> {
                    s.problem("min_protocol", "'" + minProtocol + "' is not one of TLSv1.2, TLSv1.3");
                    minProtocol = "TLSv1.2";
                }
            }
            List<String> ciphers = s.strings("ciphers");
            boolean verifyHostname = s.bool("verify_hostname", true);
            String serverName = s.string("server_name", null);
            if (serverName != null && !HostPort.isHostName(serverName) && !IpLiterals.isIpv6(serverName)) {
                s.problem("server_name", "'" + serverName + "' is not a valid host name");
            }
            TrustSource trust = trust(s, "trust");
            TlsIdentity clientIdentity = identity(s, "client_certificate", "client_key", false);
            s.finish();
            return new UpstreamTls(mode, minProtocol, ciphers == null ? List.of() : ciphers, verifyHostname, serverName,
                    trust, clientIdentity);
        }

        private TrustSource trust(YamlSection s, String key) {
            String value = s.string(key, "system");
            if (value.equals("system")) {
                return TrustSource.SYSTEM;
            }
            Path bundle = file(s, key);
            if (bundle == null) {
                return TrustSource.SYSTEM;
            }
            try {
                return TrustSource.fromPemBundle(bundle);
            } catch (IllegalArgumentException e) {
                s.problem(key, e.getMessage());
                return TrustSource.SYSTEM;
            }
        }

        private UpstreamAuth upstreamAuth(YamlSection s) {
            AuthMechanism mechanism = s.enumeration("mechanism", AuthMechanism.NONE, AuthMechanism.class);
            String username = s.string("username", null);
            boolean hasPasswordFile = s.has("password_file");
            boolean hasOauth2 = s.has("oauth2");
            YamlSection oauthSection = s.section("oauth2");
            UpstreamAuth auth = UpstreamAuth.NONE;
            switch (mechanism) {
                case NONE -> {
                    if (username != null || hasPasswordFile || hasOauth2) {
                        s.problem("mechanism", "username, password_file or oauth2 are set but mechanism is none");
                    }
                    oauthSection.finish();
                }
                case PLAIN, LOGIN -> {
                    if (username == null) {
                        s.missing("username");
                    }
                    Secret password = secret(s, "password_file");
                    oauthSection.finish();
                    auth = new UpstreamAuth(mechanism, username, password, null);
                }
                case XOAUTH2 -> {
                    if (username == null) {
                        s.missing("username");
                    }
                    if (!hasOauth2) {
                        s.missing("oauth2");
                    }
                    auth = new UpstreamAuth(mechanism, username, null, oauth2(oauthSection));
                }
                default -> throw new IllegalStateException();
            }
            s.finish();
            return auth;
        }

        private OAuth2Config oauth2(YamlSection s) {
            URI endpoint = null;
            String endpointText = s.requiredString("token_endpoint");
            if (endpointText != null) {
                try {
                    endpoint = new URI(endpointText);
                    boolean https = "https".equalsIgnoreCase(endpoint.getScheme());
                    boolean loopbackHttp = "http".equalsIgnoreCase(endpoint.getScheme()) && isLoopback(endpoint.getHost());
                    if (!https && !loopbackHttp) {
                        s.problem("token_endpoint", "must be an https:// URL (plain http only on a loopback address)");
                    }
                } catch (URISyntaxException e) {
                    s.problem("token_endpoint", "'" + endpointText + "' is not a URL");
                }
            }
            String clientId = s.requiredString("client_id");
            Secret clientSecret = secret(s, "client_secret_file");
            String scope = s.string("scope", "https://outlook.office365.com/.default");
            TrustSource trust = trust(s, "trust");
            s.finish();
            return new OAuth2Config(endpoint, clientId, clientSecret, scope, trust);
        }

        private static boolean isLoopback(String host) {
            if (host == null) {
                return false;
            }
            if (host.equals("localhost")) {
                return true;
            }
            String literal = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
            try {
                return (IpLiterals.isIpv4(literal) || IpLiterals.isIpv6(literal)) && IpLiterals.parse(literal).isLoopbackAddress();
            } catch (IllegalArgumentException e) {
                return false;
            }
        }

        private SpoolConfig spool(YamlSection s) {
            Path directory = null;
            String name = s.string("directory", null);
            if (name != null) {
                if (name.isBlank()) {
                    s.problem("directory", "must not be empty");
                } else {
                    directory = baseDirectory.resolve(name).normalize();
                    if (Files.exists(directory) && !Files.isDirectory(directory)) {
                        s.problem("directory", "not a directory: " + directory);
                    }
                }
            }
            DataSize maxSize = s.size("max_size", SpoolConfig.DEFAULT_MAX_SIZE);
            if (maxSize.bytes() < 1 << 20) {
                s.problem("max_size", "must be at least 1MB");
            }
            int maxMessages = s.integer("max_messages", SpoolConfig.DEFAULT_MAX_MESSAGES, 1);
            Duration maxAge = s.duration("max_age", SpoolConfig.DEFAULT_MAX_AGE);
            if (maxAge.compareTo(Duration.ofMinutes(1)) < 0) {
                s.problem("max_age", "must be at least 1m");
            }
            BounceMode bounce = s.enumeration("bounce", BounceMode.DSN, BounceMode.class);
            YamlSection retry = s.section("retry");
            Duration first = retry.duration("first", SpoolConfig.DEFAULT_RETRY_FIRST);
            Duration max = retry.duration("max", SpoolConfig.DEFAULT_RETRY_MAX);
            if (first.compareTo(Duration.ofSeconds(1)) < 0) {
                retry.problem("first", "must be at least 1s");
            }
            if (max.compareTo(first) < 0) {
                retry.problem("max", "must not be shorter than retry.first (" + Durations.format(first) + ")");
            }
            retry.finish();
            s.finish();
            return new SpoolConfig(directory, maxSize, maxMessages, maxAge, bounce, first, max);
        }

        private Limits limits(YamlSection s) {
            Limits limits = new Limits(
                    s.size("max_message_size", DataSize.parse("35MB")),
                    s.integer("max_recipients", 500, 1),
                    s.integer("max_connections", 10_000, 1),
                    s.integer("max_connections_per_client", 100, 1),
                    s.duration("idle_timeout", Duration.ofMinutes(5)),
                    s.enumeration("bare_newlines", BareNewlines.REJECT, BareNewlines.class),
                    s.integer("auth_failures_per_client", 10, 1),
                    s.duration("auth_failure_window", Duration.ofMinutes(10)));
            s.finish();
            return limits;
        }
    }
}
