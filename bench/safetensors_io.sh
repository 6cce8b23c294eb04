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

t() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; cat "$work/time.txt"; }

cat "$model"/*.safetensors > /dev/null   # warm the cache
read cat_s cat_kb < <(t sh -c "cat '$model'/*.safetensors > /dev/null")
read read_s read_kb < <(t "$llavapack" inspect --stats --quiet "$model")
rm -rf "$work/cp-copy" "$work/lp-copy"; sync
read cp_s cp_kb < <(t sh -c "cp -r '$model' '$work/cp-copy' && sync")
read write_s write_kb < <(t sh -c "'$llavapack' convert safetensors --quiet --max-shard-size 500MB '$model' '$work/lp-copy' && sync")
read f32_s f32_kb < <(t sh -c "'$llavapack' convert safetensors --quiet --dtype fp32 --max-shard-size 2GB '$model' '$work/lp-f32' && sync")
bytes=$(du -cb "$model"/*.safetensors | tail -1 | cut -f1)
rm -rf "$work/cp-copy" "$work/lp-copy" "$work/lp-f32"
awk -v b="$bytes" -v cs="$cat_s" -v rs="$read_s" -v rk="$read_kb" -v ps="$cp_s" -v ws="$write_s" -v wk="$write_kb" -v fs="$f32_s" -v fk="$f32_kb" 'BEGIN {
  printf "model: %.2f GB bf16 safetensors (%s)\n", b/1e9, "'"$model"'";
  printf "read : cat %.2f s (%.2f GB/s) | llavapack inspect --stats %.2f s (%.2f GB/s) | speed ratio %.2fx of cat | peak RSS %.0f MB\n", cs, b/1e9/cs, rs, b/1e9/rs, cs/rs, rk/1024;
  printf "write: cp+sync %.2f s | llavapack convert safetensors+sync %.2f s | time ratio %.2fx of cp | peak RSS %.0f MB\n", ps, ws, ws/ps, wk/1024;
  printf "cast : bf16->fp32 convert+sync %.2f s (writes %.2f GB) | peak RSS %.0f MB\n", fs, 2*b/1e9, fk/1024;
}'
