#!/usr/bin/env bash
# export onnx benchmark (issue 7): on the synthetic TinyLlama-shaped bf16 model (2.2 GB, bench/make_model.py 2gb),
# times `cp -r` of the model (the disk floor) against `llavapack export onnx --component llm,embed` at fp16 (output
# about the input's size, so the comparison is like for like), each followed by `sync`, median of RUNS runs
# (default 3); fp32 (twice the bytes) and int4 once each. Then onnxruntime CPU decoding speed (prompt 64 tokens, 32
# greedy steps with the KV cache) for the tiny test model and the 2 GB model. Page cache warm; the machine cannot drop
# caches. Prints a Markdown table.
#
# Usage: bench/onnx_export.sh [MODEL_DIR] [WORKDIR]
# Needs a build: mvn -B -DskipTests package test-compile (and /usr/bin/python3 with numpy if MODEL_DIR must be made).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${2:-$here/bench/work}"
model="${1:-$work/model-2gb}"
runs="${RUNS:-3}"
mkdir -p "$work"
[[ -f "$model/model.safetensors.index.json" ]] || /usr/bin/python3 "$here/bench/make_model.py" --scale 2gb "$model"
llavapack="$here/bin/llavapack"
java_bin="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
(cd "$here" && mvn -B -q -o dependency:build-classpath -Dmdep.outputFile=target/bench-classpath.txt >/dev/null)
cp_test="$here/target/classes:$here/target/test-classes:$(cat "$here/target/bench-classpath.txt")"

t() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; cat "$work/time.txt"; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
out="$work/onnx-out"

cat "$model"/*.safetensors > /dev/null   # warm the cache
rm -rf "$work/cp-copy" "$out"; sync
cp_times=() lp_times=() lp_kbs=()
for ((i = 0; i < runs; i++)); do
  read s kb < <(t sh -c "cp -r '$model' '$work/cp-copy' && sync")
  cp_times+=("$s"); rm -rf "$work/cp-copy"; sync
done
for ((i = 0; i < runs; i++)); do
  rm -rf "$out"; sync
  read s kb < <(t sh -c "'$llavapack' export onnx --quiet '$model' '$out' --component llm,embed --precision fp16 && sync")
  lp_times+=("$s"); lp_kbs+=("$kb")
done
cp_s=$(printf '%s\n' "${cp_times[@]}" | median)
lp_s=$(printf '%s\n' "${lp_times[@]}" | median)
lp_kb=$(printf '%s\n' "${lp_kbs[@]}" | sort -n | tail -1)
in_bytes=$(du -sb "$model" | cut -f1)
fp16_bytes=$(du -sb "$out" | cut -f1)
fp16_tok=$("$java_bin" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp_test" org.llavapack.convert.onnx.OnnxDecodeBench "$out" 64 32 2>/dev/null | tail -1)

rm -rf "$out"; sync
read f32_s f32_kb < <(t sh -c "'$llavapack' export onnx --quiet '$model' '$out' --component llm,embed --precision fp32 && sync")
f32_bytes=$(du -sb "$out" | cut -f1)
f32_tok=$("$java_bin" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp_test" org.llavapack.convert.onnx.OnnxDecodeBench "$out" 64 32 2>/dev/null | tail -1)
rm -rf "$out"; sync
read i4_s i4_kb < <(t sh -c "'$llavapack' export onnx --quiet '$model' '$out' --component llm,embed --precision int4 && sync")
i4_bytes=$(du -sb "$out" | cut -f1)
i4_tok=$("$java_bin" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp_test" org.llavapack.convert.onnx.OnnxDecodeBench "$out" 64 32 2>/dev/null | tail -1)
rm -rf "$out"; sync

tiny="$work/onnx-tiny"
rm -rf "$tiny"
"$llavapack" export onnx --quiet "$here/test-checkpoints/tiny-llama" "$tiny" --component llm,embed
tiny_tok=$("$java_bin" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp_test" org.llavapack.convert.onnx.OnnxDecodeBench "$tiny" 64 32 1 2>/dev/null | tail -1)
rm -rf "$tiny"

echo "| what | time | ratio to cp | output | peak RSS |"
echo "|---|---|---|---|---|"
echo "| \`cp -r\` + sync (median of $runs) | ${cp_s} s | 1.00× | $((in_bytes / 1000000)) MB | — |"
echo "| export onnx fp16 + sync (median of $runs) | ${lp_s} s | $(awk "BEGIN{printf \"%.2f\", $lp_s/$cp_s}")× | $((fp16_bytes / 1000000)) MB | $((lp_kb / 1024)) MB |"
echo "| export onnx fp32 + sync | ${f32_s} s | $(awk "BEGIN{printf \"%.2f\", $f32_s/$cp_s}")× | $((f32_bytes / 1000000)) MB | $((f32_kb / 1024)) MB |"
echo "| export onnx int4 + sync | ${i4_s} s | $(awk "BEGIN{printf \"%.2f\", $i4_s/$cp_s}")× | $((i4_bytes / 1000000)) MB | $((i4_kb / 1024)) MB |"
echo
echo "onnxruntime $(grep -o '1\.[0-9]*\.[0-9]*' "$here/src/main/java/org/llavapack/formats/onnx/OnnxLimits.java" | head -1) CPU decoding (prompt 64, 32 greedy steps with the KV cache):"
echo "- tiny-llama fp32, 1 thread: $tiny_tok"
echo "- 2 GB model fp32: $f32_tok"
echo "- 2 GB model fp16 weights: $fp16_tok"
echo "- 2 GB model int4: $i4_tok"
