package org.llavapack.bundle;

import java.math.BigInteger;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.spec.ECFieldFp;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.EdECPoint;

/**
 * Public keys from private ones. The JDK signs with an Ed25519 or EC private key but cannot tell its public half,
 * and a PEM private key (ours or OpenSSL's) need not carry it; the bundle records the signer's public key, so it is
 * computed here: one scalar multiplication with plain BigInteger arithmetic (milliseconds, run once per bundle).
 * Only public values are derived; signing itself stays in the JDK's constant-time implementations.
 */
final class CurveMath {
    private CurveMath() {}

    // Ed25519 (RFC 8032 §5.1): -x² + y² = 1 + d·x²·y² over p = 2^255 - 19.
    private static final BigInteger P = BigInteger.TWO.pow(255).subtract(BigInteger.valueOf(19));
    private static final BigInteger D = BigInteger.valueOf(-121665).multiply(BigInteger.valueOf(121666).modInverse(P)).mod(P);
    private static final BigInteger SQRT_M1 = BigInteger.TWO.modPow(P.subtract(BigInteger.ONE).shiftRight(2), P);
    private static final BigInteger BY = BigInteger.valueOf(4).multiply(BigInteger.valueOf(5).modInverse(P)).mod(P);
    private static final BigInteger BX = recoverX(BY, false);

    private static BigInteger recoverX(BigInteger y, boolean odd) {
        BigInteger y2 = y.multiply(y).mod(P);
        BigInteger u = y2.subtract(BigInteger.ONE).mod(P);
        BigInteger v = D.multiply(y2).add(BigInteger.ONE).mod(P);
        BigInteger x2 = u.multiply(v.modInverse(P)).mod(P);
        BigInteger x = x2.modPow(P.add(BigInteger.valueOf(3)).shiftRight(3), P);
        if (!x.multiply(x).subtract(x2).mod(P).equals(BigInteger.ZERO)) x = x.multiply(SQRT_M1).mod(P);
        if (x.testBit(0) != odd) x = P.subtract(x).mod(P);
        return x;
    }

    /** Affine twisted-Edwards addition (complete for Ed25519, so doubling uses it too). */
    private static BigInteger[] edAdd(BigInteger[] a, BigInteger[] b) {
        BigInteger x1 = a[0], y1 = a[1], x2 = b[0], y2 = b[1];
        BigInteger t = D.multiply(x1).multiply(x2).multiply(y1).multiply(y2).mod(P);
        BigInteger x3 = x1.multiply(y2).add(x2.multiply(y1)).multiply(BigInteger.ONE.add(t).modInverse(P)).mod(P);
        BigInteger y3 = y1.multiply(y2).add(x1.multiply(x2)).multiply(BigInteger.ONE.subtract(t).mod(P).modInverse(P)).mod(P);
        return new BigInteger[] {x3, y3};
    }

    /** The public point A = a·B of an Ed25519 private key given as its 32-byte seed. */
    static EdECPoint ed25519Public(byte[] seed) {
        if (seed.length != 32) throw new IllegalArgumentException("Ed25519 seed must be 32 bytes");
        byte[] h;
        try {
            h = MessageDigest.getInstance("SHA-512").digest(seed);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        byte[] scalar = new byte[32];
        for (int i = 0; i < 32; i++) scalar[i] = h[31 - i]; // little-endian to big-endian
        scalar[31] &= (byte) 248;
        scalar[0] &= 127;
        scalar[0] |= 64;
        BigInteger a = new BigInteger(1, scalar);
        BigInteger[] result = {BigInteger.ZERO, BigInteger.ONE};
        BigInteger[] base = {BX, BY};
        for (int i = a.bitLength() - 1; i >= 0; i--) {
            result = edAdd(result, result);
            if (a.testBit(i)) result = edAdd(result, base);
        }
        return new EdECPoint(result[0].testBit(0), result[1]);
    }

    /** The public point d·G of an EC private scalar on a prime-field curve (y² = x³ + ax + b). */
    static ECPoint ecPublic(BigInteger d, ECParameterSpec params) {
        if (!(params.getCurve().getField() instanceof ECFieldFp field)) throw new IllegalArgumentException("only prime-field curves");
        BigInteger p = field.getP();
        BigInteger a = params.getCurve().getA();
        ECPoint r = ECPoint.POINT_INFINITY;
        ECPoint g = params.getGenerator();
        for (int i = d.bitLength() - 1; i >= 0; i--) {
            r = ecAdd(r, r, a, p);
            if (d.testBit(i)) r = ecAdd(r, g, a, p);
        }
        return r;
    }

    private static ECPoint ecAdd(ECPoint s, ECPoint t, BigInteger a, BigInteger p) {
        if (s.equals(ECPoint.POINT_INFINITY)) return t;
        if (t.equals(ECPoint.POINT_INFINITY)) return s;
        BigInteger x1 = s.getAffineX(), y1 = s.getAffineY(), x2 = t.getAffineX(), y2 = t.getAffineY();
        BigInteger lambda;
        if (x1.equals(x2)) {
            if (y1.add(y2).mod(p).signum() == 0) return ECPoint.POINT_INFINITY;
            lambda = x1.multiply(x1).multiply(BigInteger.valueOf(3)).add(a).multiply(y1.shiftLeft(1).modInverse(p)).mod(p);
        } else {
            lambda = y2.subtract(y1).multiply(x2.subtract(x1).mod(p).modInverse(p)).mod(p);
        }
        BigInteger x3 = lambda.multiply(lambda).subtract(x1).subtract(x2).mod(p);
        BigInteger y3 = lambda.multiply(x1.subtract(x3)).subtract(y1).mod(p);
        return new ECPoint(x3, y3);
    }
}
