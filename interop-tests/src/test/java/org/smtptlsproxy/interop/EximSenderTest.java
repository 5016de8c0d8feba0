package org.smtptlsproxy.interop;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Exim, the other MTA legacy sites run, relaying through the proxy over TLS 1.0. */
@ExtendWith(InteropEnvironment.Extension.class)
@Timeout(120)
class EximSenderTest {

    @Test
    void eximOverTls10DeliversThroughTheProxy(InteropEnvironment env) throws Exception {
        Tools.EXIM.require();
        EximSender exim = env.closeAtEnd(EximSender.start(env.directory("exim"), env.proxy().port("starttls"), env.caPem()));
        String token = TestMessages.token("exim-tls1");
        byte[] message = TestMessages.plain(token, "legacy@exim.test", UpstreamPostfix.USER);
        String id = exim.submit("legacy@exim.test", UpstreamPostfix.USER, message);
        String delivery = exim.awaitDelivery(id);
        // Exim logs the TLS it used (X=), that it verified the proxy's certificate (CV=yes) and
        // the relay's confirmation (C=), which is the upstream's own reply.
        assertTrue(delivery.contains(" X=TLS1.0:"), delivery);
        assertTrue(delivery.contains(" CV=yes"), delivery);
        String upstreamId = SenderPostfix.upstreamQueueId(delivery);
        env.upstream().assertQueueIdIsOurs(upstreamId);
        Deliveries.assertRelayed(env.upstream().mailbox("user"), token, message, "ESMTPS", "TLSv1");
    }
}
