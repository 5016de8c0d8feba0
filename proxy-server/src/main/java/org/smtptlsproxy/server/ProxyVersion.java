package org.smtptlsproxy.server;

import io.netty.util.Version;
import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The build's version and the Netty it runs on. */
public final class ProxyVersion {

    private ProxyVersion() {
    }

    public static String version() {
        Properties properties = new Properties();
        try (InputStream in = ProxyVersion.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                properties.load(in);
            }
        } catch (IOException e) {
            return "unknown";
        }
        return properties.getProperty("version", "unknown");
    }

    public static String nettyVersion() {
        Version handler = Version.identify().get("netty-handler");
        return handler == null ? "unknown" : handler.artifactVersion();
    }
}
