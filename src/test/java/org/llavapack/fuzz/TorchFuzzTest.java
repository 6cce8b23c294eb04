package org.llavapack.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Jazzer target for {@link FuzzTargets#torch}. Plain `mvn test` replays the seeds under
 * src/test/resources/org/llavapack/fuzz/TorchFuzzTestInputs/ (regression mode); with JAZZER_FUZZ=1 (the fuzz
 * execution in pom.xml, or the `fuzz` profile for long runs) Jazzer mutates them, guided by coverage.
 */
class TorchFuzzTest {
    @FuzzTest(maxDuration = "30s")
    void torch(byte[] data) {
        FuzzTargets.torch(data);
    }
}
