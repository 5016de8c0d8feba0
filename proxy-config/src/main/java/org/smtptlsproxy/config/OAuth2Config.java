package org.smtptlsproxy.config;

import java.net.URI;

/** OAuth 2.0 client-credentials grant for SASL XOAUTH2 upstream. */
public record OAuth2Config(URI tokenEndpoint, String clientId, Secret clientSecret, String scope, TrustSource trust) {
}
