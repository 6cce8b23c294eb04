package org.llavapack.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.BadInputException;

class KeysTest {
    @TempDir
    Path tmp;

    /** The public half computed from a private PEM equals the one the JDK generated with it. */
    @Test
    void ed25519PublicKeyIsDerivedExactly() throws Exception {
        for (int i = 0; i < 20; i++) {
            Keys.SigningKey k = Keys.generateEd25519();
            Path priv = tmp.resolve("k" + i + ".pem");
            Files.writeString(priv, Keys.privatePem(k.privateKey()));
            Keys.SigningKey read = Keys.readPrivate(priv);
            assertArrayEquals(k.publicKey().getEncoded(), read.publicKey().getEncoded());
            assertEquals(Keys.Algorithm.ED25519, read.algorithm());
            byte[] msg = ("message " + i).getBytes(StandardCharsets.UTF_8);
            assertTrue(Keys.verify(read.publicKey(), msg, read.sign(msg)));
        }
    }

    @Test
    void ecdsaKeysOfTheThreeOmsCurvesWork() throws Exception {
        String[][] curves = {{"secp256r1", "ECDSA_P256_SHA256"}, {"secp384r1", "ECDSA_P384_SHA384"}, {"secp521r1", "ECDSA_P521_SHA512"}};
        for (String[] c : curves) {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec(c[0]));
            KeyPair pair = g.generateKeyPair();
            Path priv = tmp.resolve(c[0] + ".pem");
            Files.writeString(priv, Keys.privatePem(pair.getPrivate()));
            Keys.SigningKey read = Keys.readPrivate(priv);
            assertArrayEquals(pair.getPublic().getEncoded(), read.publicKey().getEncoded(), c[0]);
            assertEquals(c[1], read.algorithm().name());
            byte[] msg = "m".getBytes(StandardCharsets.UTF_8);
            assertTrue(Keys.verify(pair.getPublic(), msg, read.sign(msg)));
        }
    }

    /** The OMS key hint is SHA-256 of the public key PEM text, so `sha256sum public.pem` shows it. */
    @Test
    void fingerprintIsSha256OfThePemFile() throws Exception {
        Keys.SigningKey k = Keys.generateEd25519();
        Path pub = tmp.resolve("public.pem");
        Files.writeString(pub, Keys.publicPem(k.publicKey()));
        assertEquals(Sha256.of(Files.readAllBytes(pub)), k.fingerprint());
        assertArrayEquals(k.publicKey().getEncoded(), Keys.readPublic(pub).getEncoded());
        assertTrue(Keys.publicPem(k.publicKey()).matches("-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=]{60}\n-----END PUBLIC KEY-----\n"));
    }

    @Test
    void aPrivateKeyIsAcceptedWhereAPublicOneIsExpected() throws Exception {
        Keys.SigningKey k = Keys.generateEd25519();
        Path priv = tmp.resolve("private.pem");
        Files.writeString(priv, Keys.privatePem(k.privateKey()));
        assertArrayEquals(k.publicKey().getEncoded(), Keys.readPublic(priv).getEncoded());
    }

    @Test
    void unsupportedKeyFilesAreRefusedWithAdvice() throws Exception {
        Path p = tmp.resolve("x.pem");
        Files.writeString(p, "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");
        assertTrue(assertThrows(BadInputException.class, () -> Keys.readPrivate(p)).getMessage().contains("openssl pkcs8 -topk8"));
        Files.writeString(p, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assertTrue(assertThrows(BadInputException.class, () -> Keys.readPrivate(p)).getMessage().contains("encrypted"));
        Files.writeString(p, "hello");
        assertThrows(BadInputException.class, () -> Keys.readPrivate(p));
        KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
        rsa.initialize(2048);
        Files.writeString(p, Keys.privatePem(rsa.generateKeyPair().getPrivate()));
        assertTrue(assertThrows(BadInputException.class, () -> Keys.readPrivate(p)).getMessage().contains("unsupported private key"));
        Keys.SigningKey k = Keys.generateEd25519();
        Files.writeString(p, Keys.publicPem(k.publicKey()));
        assertTrue(assertThrows(BadInputException.class, () -> Keys.readPrivate(p)).getMessage().contains("public key"));
        assertThrows(BadInputException.class, () -> Keys.readPrivate(tmp.resolve("missing.pem")));
    }

    @Test
    void aSignatureFromAnotherKeyDoesNotVerify() {
        Keys.SigningKey a = Keys.generateEd25519(), b = Keys.generateEd25519();
        byte[] msg = {1, 2, 3};
        assertFalse(Keys.verify(b.publicKey(), msg, a.sign(msg)));
        assertFalse(Keys.verify(a.publicKey(), msg, new byte[] {1, 2}));
    }
}
