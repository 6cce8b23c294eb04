package org.llavapack.bundle;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.EdECPrivateKey;
import java.security.interfaces.EdECPublicKey;
import java.security.spec.ECPublicKeySpec;
import java.security.spec.EdECPublicKeySpec;
import java.security.spec.NamedParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import org.llavapack.BadInputException;
import org.llavapack.OutputException;

/**
 * Signing keys as PEM files: PKCS#8 private keys and SubjectPublicKeyInfo public keys, the forms OpenSSL and
 * Python's cryptography write. Ed25519 is what {@code llavapack keygen} makes (deterministic signatures keep signed
 * bundles reproducible); the P-256/384/521 ECDSA keys OMS's reference tool uses are accepted too.
 */
public final class Keys {
    private Keys() {}

    /** A supported signature scheme, with its JCA name and the id llavapack records in manifests. */
    public enum Algorithm {
        ED25519("ed25519", "Ed25519"),
        ECDSA_P256_SHA256("ecdsa-p256-sha256", "SHA256withECDSA"),
        ECDSA_P384_SHA384("ecdsa-p384-sha384", "SHA384withECDSA"),
        ECDSA_P521_SHA512("ecdsa-p521-sha512", "SHA512withECDSA");

        private final String id;
        private final String jca;

        Algorithm(String id, String jca) {
            this.id = id;
            this.jca = jca;
        }

        public String id() {
            return id;
        }

        Signature newSignature() {
            try {
                return Signature.getInstance(jca);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        }

        /** OMS pairs each curve with the hash of matching strength (model_signing's get_ec_key_hash). */
        static Algorithm of(PublicKey key) {
            if (key instanceof EdECPublicKey ed) {
                if (ed.getParams().getName().equalsIgnoreCase("Ed25519")) return ED25519;
            } else if (key instanceof ECPublicKey ec) {
                return switch (ec.getParams().getCurve().getField().getFieldSize()) {
                    case 256 -> ECDSA_P256_SHA256;
                    case 384 -> ECDSA_P384_SHA384;
                    case 521 -> ECDSA_P521_SHA512;
                    default -> throw new IllegalArgumentException("unsupported EC curve size " + ec.getParams().getCurve().getField().getFieldSize());
                };
            }
            throw new IllegalArgumentException("unsupported key type " + key.getAlgorithm() + " (Ed25519 or ECDSA P-256/384/521)");
        }
    }

    /** A private key with its public half (always known, so manifests can record who signed). */
    public record SigningKey(PrivateKey privateKey, PublicKey publicKey, Algorithm algorithm) {
        public byte[] sign(byte[] message) {
            try {
                Signature s = algorithm.newSignature();
                s.initSign(privateKey);
                s.update(message);
                return s.sign();
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("signing failed: " + e.getMessage(), e);
            }
        }

        public String fingerprint() {
            return Keys.fingerprint(publicKey);
        }
    }

    public static SigningKey generateEd25519() {
        try {
            KeyPair pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
            return new SigningKey(pair.getPrivate(), pair.getPublic(), Algorithm.ED25519);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static boolean verify(PublicKey key, byte[] message, byte[] signature) {
        try {
            Signature s = Algorithm.of(key).newSignature();
            s.initVerify(key);
            s.update(message);
            return s.verify(signature);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            return false; // a malformed signature is a failed signature
        }
    }

    /** PEM text exactly as OpenSSL and Python's cryptography write it: 64-column base64, LF line ends. */
    public static String pem(String label, byte[] der) {
        String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN " + label + "-----\n" + body + "\n-----END " + label + "-----\n";
    }

    public static String publicPem(PublicKey key) {
        return pem("PUBLIC KEY", key.getEncoded());
    }

    public static String privatePem(PrivateKey key) {
        return pem("PRIVATE KEY", key.getEncoded());
    }

    /**
     * The key id OMS puts in {@code verificationMaterial.publicKey.hint}: hex SHA-256 of the public key's PEM text
     * (what model_signing computes), so {@code sha256sum public.pem} shows it too.
     */
    public static String fingerprint(PublicKey key) {
        return Sha256.of(publicPem(key).getBytes(StandardCharsets.US_ASCII));
    }

    private record Pem(String label, byte[] der) {}

    private static Pem readPem(Path file, String text) {
        int begin = text.indexOf("-----BEGIN ");
        if (begin < 0) throw new BadInputException(file, "not a PEM file (no -----BEGIN line)");
        int labelEnd = text.indexOf("-----", begin + 11);
        if (labelEnd < 0) throw new BadInputException(file, "malformed PEM header");
        String label = text.substring(begin + 11, labelEnd);
        String footer = "-----END " + label + "-----";
        int end = text.indexOf(footer, labelEnd);
        if (end < 0) throw new BadInputException(file, "PEM block '" + label + "' has no end line");
        try {
            return new Pem(label, Base64.getMimeDecoder().decode(text.substring(labelEnd + 5, end)));
        } catch (IllegalArgumentException e) {
            throw new BadInputException(file, "PEM body is not base64");
        }
    }

    private static String readText(Path file) {
        try {
            if (Files.size(file) > 1 << 20) throw new BadInputException(file, "too large for a key file");
            return Files.readString(file, StandardCharsets.US_ASCII);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new BadInputException(file, "not a PEM file (not ASCII text)");
        } catch (IOException e) {
            if (e instanceof java.nio.file.NoSuchFileException) throw new BadInputException(file, "no such file");
            throw OutputException.of(file, e);
        }
    }

    /** Reads a private key (PKCS#8 PEM) and derives its public half. */
    public static SigningKey readPrivate(Path file) {
        Pem pem = readPem(file, readText(file));
        PrivateKey key = switch (pem.label()) {
            case "PRIVATE KEY" -> parsePrivate(file, pem.der());
            case "EC PRIVATE KEY" -> throw new BadInputException(file, "SEC1 'EC PRIVATE KEY' PEM: convert it to PKCS#8 with "
                    + "'openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem'");
            case "ENCRYPTED PRIVATE KEY" -> throw new BadInputException(file, "encrypted private keys are not supported: decrypt with "
                    + "'openssl pkcs8 -in KEY -out key.pem' and keep that file private");
            case "PUBLIC KEY" -> throw new BadInputException(file, "this is a public key; signing needs the private key");
            default -> throw new BadInputException(file, "unsupported PEM block '" + pem.label() + "' (PKCS#8 'PRIVATE KEY' expected)");
        };
        PublicKey pub = derivePublic(file, key);
        return new SigningKey(key, pub, Algorithm.of(pub));
    }

    /** Reads a public key (SPKI PEM); a private key file is accepted too and reduced to its public half. */
    public static PublicKey readPublic(Path file) {
        Pem pem = readPem(file, readText(file));
        return switch (pem.label()) {
            case "PUBLIC KEY" -> parsePublic(file, pem.der());
            case "PRIVATE KEY" -> derivePublic(file, parsePrivate(file, pem.der()));
            default -> throw new BadInputException(file, "unsupported PEM block '" + pem.label() + "' (SubjectPublicKeyInfo 'PUBLIC KEY' expected)");
        };
    }

    /** Parses a public key PEM held in memory (the signer key a manifest records). */
    public static PublicKey parsePublicPem(String text) {
        Pem pem = readPem(null, text);
        if (!pem.label().equals("PUBLIC KEY")) throw new BadInputException((String) null, "not a PUBLIC KEY PEM block", null);
        return parsePublic(null, pem.der());
    }

    private static PrivateKey parsePrivate(Path file, byte[] der) {
        for (String alg : new String[] {"Ed25519", "EC"}) {
            try {
                PrivateKey k = KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
                if (k instanceof ECPrivateKey ec) checkCurve(file, ec.getParams().getCurve().getField().getFieldSize());
                return k;
            } catch (GeneralSecurityException | ClassCastException | IllegalArgumentException e) {
                // try the next algorithm
            }
        }
        throw new BadInputException(file, "unsupported private key (Ed25519 or ECDSA P-256/384/521 in PKCS#8)");
    }

    private static PublicKey parsePublic(Path file, byte[] der) {
        for (String alg : new String[] {"Ed25519", "EC"}) {
            try {
                PublicKey k = KeyFactory.getInstance(alg).generatePublic(new X509EncodedKeySpec(der));
                if (k instanceof ECPublicKey ec) checkCurve(file, ec.getParams().getCurve().getField().getFieldSize());
                return k;
            } catch (GeneralSecurityException | ClassCastException | IllegalArgumentException e) {
                // try the next algorithm
            }
        }
        throw new BadInputException(file, "unsupported public key (Ed25519 or ECDSA P-256/384/521)");
    }

    private static void checkCurve(Path file, int bits) {
        if (bits != 256 && bits != 384 && bits != 521) throw new BadInputException(file, "unsupported EC curve (" + bits + " bits; P-256/384/521 only)");
    }

    private static PublicKey derivePublic(Path file, PrivateKey key) {
        try {
            if (key instanceof EdECPrivateKey ed) {
                if (!ed.getParams().getName().equalsIgnoreCase("Ed25519")) throw new BadInputException(file, "only Ed25519 among EdDSA keys");
                byte[] seed = ed.getBytes().orElseThrow(() -> new BadInputException(file, "private key bytes unavailable"));
                return KeyFactory.getInstance("Ed25519").generatePublic(new EdECPublicKeySpec(NamedParameterSpec.ED25519, CurveMath.ed25519Public(seed)));
            }
            if (key instanceof ECPrivateKey ec) {
                return KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(CurveMath.ecPublic(ec.getS(), ec.getParams()), ec.getParams()));
            }
        } catch (GeneralSecurityException e) {
            throw new BadInputException(file, "cannot derive the public key: " + e.getMessage());
        }
        throw new BadInputException(file, "unsupported private key type " + key.getAlgorithm());
    }
}
