#!/usr/bin/env bash
# Parity engine benchmark (issue 5): Llama-3-8B-shaped forward on CPU through DJL's PyTorch engine, fp32.
# Runs a 2-layer slice with the real 8B widths and vocabulary (random weights, ~3.9 GB of fp32 for 2 layers +
# lm_head), times each layer and the lm_head, extrapolates 32 layers. Prints the load average: on a shared VM the figures move with it.
# Usage: bench/parity_llm_8b.sh [THREADS] [REPS] [resident|streamed]   (after `mvn -B -DskipTests package test-compile`;
# streamed first writes bench/work/llama8b-2layer-bf16.safetensors, 2.9 GB)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
export JAVA_HOME="${JAVA_HOME:-$(ls -d /usr/lib/jvm/temurin-25* | head -1)}"
cp_file="$here/target/bench-classpath.txt"
mkdir -p "$here/bench/work"
mvn -B -q dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=test >/dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
/usr/bin/time -f "wall %e s, peak RSS %M KB" "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx6g \
  -cp "$here/target/classes:$here/target/test-classes:$(cat "$cp_file")" org.llavapack.parity.LlamaForwardBench "${1:-$(nproc)}" "${2:-5}" "${3:-resident}" 2>&1 \
  | grep -v 'WARNING: Using incubator'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
