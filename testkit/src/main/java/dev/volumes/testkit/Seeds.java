package dev.volumes.testkit;

import java.util.Random;

/**
 * Reproducible randomness for tests (after Lucene's): one master seed per run, from the system
 * property {@value #SEED_PROPERTY} (decimal or 0x-hex) or else random; a "reproduce with" line
 * for failure messages; and a run-count multiplier from {@value #MULTIPLIER_PROPERTY} so long
 * randomized runs are a flag away ({@code -Dvolumes.test.multiplier=100}).
 */
public final class Seeds {

    /** System property that fixes the master seed. */
    public static final String SEED_PROPERTY = "volumes.test.seed";
    /** System property that scales iteration counts of randomized tests (default 1). */
    public static final String MULTIPLIER_PROPERTY = "volumes.test.multiplier";

    private static final long MASTER = initialSeed();

    private Seeds() {}

    /** The master seed of this JVM's run. */
    public static long master() {
        return MASTER;
    }

    /**
     * A seed for one test, derived from the master seed and the test's name, so tests do not
     * share a random stream and a single test can be replayed by fixing the master seed.
     */
    public static long forTest(String testName) {
        long h = MASTER ^ 0x9E3779B97F4A7C15L;
        for (int i = 0; i < testName.length(); i++) {
            h = (h ^ testName.charAt(i)) * 0x100000001B3L;
        }
        return mix(h);
    }

    /** A {@link Random} seeded by {@link #forTest(String)}. */
    public static Random random(String testName) {
        return new Random(forTest(testName));
    }

    /** {@code base} scaled by the multiplier, at least 1. */
    public static int scaled(int base) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (long) base * multiplier()));
    }

    /** The multiplier from {@value #MULTIPLIER_PROPERTY}, default 1. */
    public static int multiplier() {
        String value = System.getProperty(MULTIPLIER_PROPERTY);
        if (value == null || value.isBlank()) {
            return 1;
        }
        try {
            return Math.max(1, Integer.parseInt(value.trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(MULTIPLIER_PROPERTY + " must be a positive integer: " + value, e);
        }
    }

    /** The line to put in failure messages: how to rerun with the same randomness. */
    public static String reproduceWith(String testClassAndMethod) {
        return "reproduce with: mvn -B verify -Dtest='" + testClassAndMethod + "' -D" + SEED_PROPERTY
                + "=0x" + Long.toHexString(MASTER) + " -Dsurefire.failIfNoSpecifiedTests=false";
    }

    private static long initialSeed() {
        String value = System.getProperty(SEED_PROPERTY);
        if (value == null || value.isBlank()) {
            return new Random().nextLong();
        }
        String v = value.trim();
        try {
            return v.startsWith("0x") || v.startsWith("0X")
                    ? Long.parseUnsignedLong(v.substring(2), 16)
                    : Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(SEED_PROPERTY + " must be a decimal or 0x-hex long: " + value, e);
        }
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
