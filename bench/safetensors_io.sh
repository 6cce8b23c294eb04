#!/usr/bin/env bash
# Safetensors I/O benchmark (issue 2): reading every tensor through llavapack vs `cat` of the same files, and writing
# (reader -> writer copy) vs `cp`, on a ~2 GB sharded bf16 model, in one run. Page cache is warm for every reader
# (the machine does not allow dropping caches); writes end with `sync` on both sides.
# Usage: bench/safetensors_io.sh [WORKDIR]   (needs /usr/bin/python3 with numpy, a built target/llavapack.jar)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$here/bench/work}"
model="$work/model-2gb"
mkdir -p "$work"
[[ -f "$model/model.safetensors.index.json" ]] || /usr/bin/python3 "$here/bench/make_model.py" "$model"
llavapack="$here/bin/llavapack"


# Median of three runs for each side: disk and page-cache timings on a shared VM are noisy.
median3() { sort -n | sed -n 2p; }
runs() { local label="$1"; shift; for i in 1 2 3; do "$@"; t_out="$(cat "$work/time.txt")"; echo "$t_out"; done > "$work/$label.txt"; }
t() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; }

cat "$model"/*.safetensors > /dev/null   # warm the cache
"$llavapack" --version > /dev/null        # make the class-data-sharing archive once
runs cat t sh -c "cat '$model'/*.safetensors > /dev/null"
runs read t "$llavapack" inspect --stats --quiet "$model"
cp_run() { rm -rf "$work/cp-copy"; sync; t sh -c "cp -r '$model' '$work/cp-copy' && sync"; }
lp_run() { rm -rf "$work/lp-copy"; sync; t sh -c "'$llavapack' convert safetensors --quiet --max-shard-size 500MB '$model' '$work/lp-copy' && sync"; }
runs cp cp_run
runs write lp_run
read cat_s _ < <(median3 < "$work/cat.txt")
read read_s read_kb < <(median3 < "$work/read.txt")
read cp_s _ < <(median3 < "$work/cp.txt")
read write_s write_kb < <(median3 < "$work/write.txt")
read f32_s f32_kb < <(t sh -c "'$llavapack' convert safetensors --quiet --dtype fp32 --max-shard-size 2GB '$model' '$work/lp-f32' && sync"; cat "$work/time.txt")
bytes=$(du -cb "$model"/*.safetensors | tail -1 | cut -f1)
rm -rf "$work/cp-copy" "$work/lp-copy" "$work/lp-f32"
max_kb() { sort -k2 -n | tail -1 | cut -d" " -f2; }
read_kb=$(max_kb < "$work/read.txt"); write_kb=$(max_kb < "$work/write.txt")
awk -v b="$bytes" -v cs="$cat_s" -v rs="$read_s" -v rk="$read_kb" -v ps="$cp_s" -v ws="$write_s" -v wk="$write_kb" -v fs="$f32_s" -v fk="$f32_kb" 'BEGIN {
  printf "median of 3 runs each; peak RSS is the largest of the three\n"; printf "model: %.2f GB bf16 safetensors (%s)\n", b/1e9, "'"$model"'";
  printf "read : cat %.2f s (%.2f GB/s) | llavapack inspect --stats %.2f s (%.2f GB/s) | speed ratio %.2fx of cat | peak RSS %.0f MB\n", cs, b/1e9/cs, rs, b/1e9/rs, cs/rs, rk/1024;
  printf "write: cp+sync %.2f s | llavapack convert safetensors+sync %.2f s | time ratio %.2fx of cp | peak RSS %.0f MB\n", ps, ws, ws/ps, wk/1024;
  printf "cast : bf16->fp32 convert+sync %.2f s (writes %.2f GB) | peak RSS %.0f MB\n", fs, 2*b/1e9, fk/1024;
}'
