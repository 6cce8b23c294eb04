package org.llavapack.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** llavapack's own version, as Maven wrote it into the jar (bundles record which toolkit made them). */
public final class Toolkit {
    private Toolkit() {}

    private static final String VERSION = load();

    private static String load() {
        Properties p = new Properties();
        try (InputStream in = Toolkit.class.getResourceAsStream("/org/llavapack/version.properties")) {
            if (in != null) p.load(in);
        } catch (IOException ignored) {
            // "unknown" below
        }
        String v = p.getProperty("version", "unknown");
        return v.startsWith("${") ? "unknown" : v;
    }

    public static String version() {
        return VERSION;
    }
}
