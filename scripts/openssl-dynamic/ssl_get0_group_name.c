/*
 * OpenSSL 3.2's SSL_get0_group_name for OpenSSL 3.0 (Debian 12's libssl3), so that netty-tcnative's
 * dynamically linked build, which asks for it, can be measured here. Benchmarks only: see
 * scripts/bench-handshake.sh. Declared by hand so that no libssl-dev is needed.
 */
typedef struct ssl_st SSL;

long SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg);
const char *SSL_group_to_name(SSL *ssl, int id);

#define SSL_CTRL_GET_NEGOTIATED_GROUP 134

const char *SSL_get0_group_name(SSL *ssl) {
    int nid = (int) SSL_ctrl(ssl, SSL_CTRL_GET_NEGOTIATED_GROUP, 0, 0);
    return nid > 0 ? SSL_group_to_name(ssl, nid) : 0;
}
