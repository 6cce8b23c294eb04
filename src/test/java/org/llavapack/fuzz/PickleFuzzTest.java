package org.llavapack.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Jazzer target for {@link FuzzTargets#pickle}. Plain `mvn test` replays the seeds under
 * src/test/resources/org/llavapack/fuzz/PickleFuzzTestInputs/ (regression mode); with JAZZER_FUZZ=1 (the fuzz
 * execution in pom.xml, or the `fuzz` profile for long runs) Jazzer mutates them, guided by coverage.
 */
class PickleFuzzTest {
    @FuzzTest(maxDuration = "30s")
    void pickle(byte[] data) {
        FuzzTargets.pickle(data);
    }
}
