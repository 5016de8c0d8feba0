package org.smtptlsproxy.config;

/**
 * Outbound SMTP AUTH. {@code username}, {@code password} and {@code oauth2} are null unless the
 * mechanism needs them.
 */
public record UpstreamAuth(AuthMechanism mechanism, String username, Secret password, OAuth2Config oauth2) {

    public static final UpstreamAuth NONE = new UpstreamAuth(AuthMechanism.NONE, null, null, null);
}
