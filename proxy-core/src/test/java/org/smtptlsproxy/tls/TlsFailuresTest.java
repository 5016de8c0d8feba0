package org.smtptlsproxy.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.net.ConnectException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

class TlsFailuresTest {

    @Test
    void boringSslAlertsBecomeTheAlertsName() {
        SSLHandshakeException failure = new SSLHandshakeException("handshake failed");
        failure.initCause(new IOException("error:1000042e:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION"));
        assertEquals("the peer sent a protocol_version alert (no TLS version in common)", TlsFailures.reason(failure));
        assertEquals("the peer sent a decode_error alert",
                TlsFailures.reason(new SSLHandshakeException("error:10000438:SSL routines:OPENSSL_internal:TLSV1_ALERT_DECODE_ERROR")));
    }

    @Test
    void otherBoringSslReasonsBecomeWords() {
        assertEquals("no shared cipher",
                TlsFailures.reason(new SSLHandshakeException("error:100000b8:SSL routines:OPENSSL_internal:NO_SHARED_CIPHER")));
    }

    @Test
    void nativeTransportPrefixesAreDropped() {
        assertEquals("Connection refused",
                TlsFailures.reason(new ConnectException("finishConnect(..) failed with error(-111): Connection refused")));
        assertEquals("Connection reset by peer",
                TlsFailures.reason(new IOException("recvAddress(..) failed: Connection reset by peer")));
    }

    @Test
    void plainMessagesStayAsTheyAre() {
        assertEquals("No subject alternative DNS name matching localhost found.",
                TlsFailures.reason(new SSLHandshakeException("No subject alternative DNS name matching localhost found.")));
    }
}
