package org.llavapack.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Jazzer target for {@link FuzzTargets#gguf}. Plain `mvn test` replays the seeds under
 * src/test/resources/org/llavapack/fuzz/GgufFuzzTestInputs/ (regression mode); with JAZZER_FUZZ=1 (the fuzz
 * execution in pom.xml, or the `fuzz` profile for long runs) Jazzer mutates them, guided by coverage.
 */
class GgufFuzzTest {
    @FuzzTest(maxDuration = "30s")
    void gguf(byte[] data) {
        FuzzTargets.gguf(data);
    }
}
