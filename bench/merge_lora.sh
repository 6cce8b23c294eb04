#!/usr/bin/env bash
# merge-lora benchmark (issue 4): on a synthetic Llama-shaped bf16 model with an r=64 F32 adapter on all seven
# projections, times `cp -r` of the base (the disk floor), `llavapack merge-lora` and a plain PyTorch load-all/merge/
# save script, each followed by `sync`, and reports time ratios and peak RSS (/usr/bin/time). cp and llavapack take the
# median of RUNS runs (default 3; disk timings are noisy). Page cache is warm for every reader (the machine does not
# allow dropping caches). Also checks that llavapack's output agrees with PyTorch's (≤ 1 bf16 ulp) and measures the
# GEMM kernel on the Llama-3-8B MLP shape (14336×128 · 128×4096).
#
# Usage: bench/merge_lora.sh [--scale 2gb|8b] [--no-torch] [WORKDIR]
#   2gb: TinyLlama-1.1B shapes (2.2 GB); 8b: Llama-3-8B shapes (16 GB base, 0.7 GB adapter; about 50 GB of disk;
#   the PyTorch baseline then needs ~35 GB of RAM, --no-torch skips it).
# Needs /usr/bin/python3 with numpy and torch (Debian python3-torch), and a build: mvn -B -DskipTests package test-compile.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
scale=2gb torch=1 work=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    *) work="$1"; shift ;;
  esac
done
work="${work:-$here/bench/work}"
runs="${RUNS:-3}"
model="$work/model-$scale"
adapter="$work/lora-r64-$scale"
mkdir -p "$work"
[[ -f "$model/model.safetensors.index.json" ]] || /usr/bin/python3 "$here/bench/make_model.py" --scale "$scale" "$model"
[[ -f "$adapter/adapter_model.safetensors" ]] || /usr/bin/python3 "$here/bench/make_lora.py" "$model" "$adapter"
llavapack="$here/bin/llavapack"
java_bin="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"

t() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; cat "$work/time.txt"; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

cat "$model"/*.safetensors "$adapter"/*.safetensors > /dev/null   # warm the cache
rm -rf "$work/cp-copy" "$work/lp-merged" "$work/pt-merged"; sync

cp_times=() lp_times=() lp_kbs=()
for ((i = 0; i < runs; i++)); do
  read s kb < <(t sh -c "cp -r '$model' '$work/cp-copy' && sync")
  cp_times+=("$s"); rm -rf "$work/cp-copy"; sync
done
for ((i = 0; i < runs; i++)); do
  rm -rf "$work/lp-merged"; sync
  read s kb < <(t sh -c "'$llavapack' merge-lora --quiet '$model' '$adapter' '$work/lp-merged' && sync")
  lp_times+=("$s"); lp_kbs+=("$kb")
done
cp_s=$(printf '%s\n' "${cp_times[@]}" | median)
lp_s=$(printf '%s\n' "${lp_times[@]}" | median)
lp_kb=$(printf '%s\n' "${lp_kbs[@]}" | sort -n | tail -1)

pt_s=0 pt_kb=0 agree="(skipped)"
if [[ "$torch" == 1 ]]; then
  read pt_s pt_kb < <(t sh -c "/usr/bin/python3 '$here/bench/merge_pytorch.py' '$model' '$adapter' '$work/pt-merged' && sync")
  agree="$(/usr/bin/python3 "$here/bench/compare_merge.py" "$work/lp-merged" "$work/pt-merged" || echo 'MISMATCH')"
  rm -rf "$work/pt-merged"
fi
rm -rf "$work/lp-merged"

gemm="(build test classes for the GEMM figure: mvn -B -DskipTests test-compile)"
if [[ -d "$here/target/test-classes/org/llavapack/model/lora" ]]; then
  gemm="$("$java_bin" --add-modules jdk.incubator.vector -cp "$here/target/classes:$here/target/test-classes" \
          org.llavapack.model.lora.GemmBenchmark 14336 128 4096 2>&1 | grep -v '^WARNING' | tr '\n' ' ')"
fi

bytes=$(du -cb "$model"/*.safetensors | tail -1 | cut -f1)
awk -v b="$bytes" -v cs="$cp_s" -v ls="$lp_s" -v lk="$lp_kb" -v ps="$pt_s" -v pk="$pt_kb" -v n="$runs" \
    -v cps="${cp_times[*]}" -v lps="${lp_times[*]}" 'BEGIN {
  printf "model: %.2f GB bf16 safetensors (%s), r=64 F32 adapter on q,k,v,o,gate,up,down\n", b/1e9, "'"$model"'";
  printf "cp -r + sync           : %6.2f s (median of %d: %s)\n", cs, n, cps;
  printf "llavapack merge-lora   : %6.2f s (median of %d: %s) = %.2fx the copy | peak RSS %.0f MB\n", ls, n, lps, ls/cs, lk/1024;
  if (ps > 0) printf "PyTorch load/merge/save: %6.2f s = %.2fx the copy, llavapack %.1fx faster | peak RSS %.0f MB\n", ps, ps/cs, ps/ls, pk/1024;
}'
echo "llavapack vs PyTorch output: $agree"
echo "$gemm"
