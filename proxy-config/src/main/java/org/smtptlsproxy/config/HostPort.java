package org.smtptlsproxy.config;

/** A host (DNS name, IPv4 literal or IPv6 literal without brackets) and a TCP port. */
public record HostPort(String host, int port) {

    /** {@code host:port}, with brackets around an IPv6 literal. */
    @Override
    public String toString() {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }
}
