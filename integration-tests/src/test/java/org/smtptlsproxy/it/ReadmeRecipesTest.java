package org.smtptlsproxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.config.AuthMechanism;
import org.smtptlsproxy.config.ConfigLoader;
import org.smtptlsproxy.config.ProxyConfig;
import org.smtptlsproxy.server.Main;
import org.smtptlsproxy.testkit.KeyFormat;

/**
 * The README's Exchange Online recipes are configs that {@code check} accepts as printed, once the
 * files they name exist (the test puts stand-ins where /etc/smtp-tls-proxy would be), and each says
 * which {@code probe --config} checks it.
 */
@Timeout(60)
class ReadmeRecipesTest {

    private static final Pattern RECIPE = Pattern.compile("<!-- recipe: ([a-z-]+) -->\\s*```yaml\\n(.*?)```", Pattern.DOTALL);

    private static Map<String, String> recipes(String readme) {
        Map<String, String> recipes = new LinkedHashMap<>();
        Matcher m = RECIPE.matcher(readme);
        while (m.find()) {
            recipes.put(m.group(1), m.group(2));
        }
        return recipes;
    }

    @Test
    void eachRecipePassesCheckAndNamesItsProbe() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Map<String, String> recipes = recipes(readme);
        assertEquals(List.of("connector-by-ip", "connector-by-certificate", "smtp-auth-oauth"), List.copyOf(recipes.keySet()));
        for (Map.Entry<String, String> recipe : recipes.entrySet()) {
            Path etc = Files.createTempDirectory("recipe-" + recipe.getKey());
            ProxyFixture.LOCALHOST.writePem(etc, "server", KeyFormat.PKCS8);
            ProxyFixture.PKI.issue("relay.contoso.com", "relay.contoso.com").writePem(etc, "relay-client", KeyFormat.PKCS1);
            Files.writeString(etc.resolve("oauth-client-secret"), "placeholder-secret\n");
            Path config = etc.resolve("config.yaml");
            Files.writeString(config, recipe.getValue().replace("/etc/smtp-tls-proxy/", etc + "/"));

            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            int exit = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), "check", "--config", config.toString());
            assertEquals(0, exit, recipe.getKey() + ":\n" + out + err);

            ProxyConfig loaded = new ConfigLoader().load(config);
            switch (recipe.getKey()) {
                case "connector-by-ip" -> {
                    assertTrue(loaded.upstream().address().host().endsWith(".mail.protection.outlook.com"));
                    assertEquals(25, loaded.upstream().address().port());
                    assertEquals(AuthMechanism.NONE, loaded.upstream().auth().mechanism());
                }
                case "connector-by-certificate" -> {
                    assertEquals(25, loaded.upstream().address().port());
                    assertTrue(loaded.upstream().tls().clientIdentity() != null, "a client certificate");
                }
                case "smtp-auth-oauth" -> {
                    assertEquals("smtp.office365.com", loaded.upstream().address().host());
                    assertEquals(587, loaded.upstream().address().port());
                    assertEquals(AuthMechanism.XOAUTH2, loaded.upstream().auth().mechanism());
                }
                default -> throw new AssertionError(recipe.getKey());
            }
            // The recipe's own section tells how to check it before senders are switched over.
            int start = readme.indexOf("<!-- recipe: " + recipe.getKey() + " -->");
            int next = readme.indexOf("\n### ", start);
            int end = readme.indexOf("\n## ", start);
            String section = readme.substring(start, next > 0 && next < end ? next : end);
            assertTrue(section.contains("smtp-tls-proxy probe --config /etc/smtp-tls-proxy/config.yaml"), recipe.getKey());
        }
    }
}
