#!/usr/bin/env bash
# Load benchmark (issue #9): N merge-lora processes at once on one machine versus one alone. Reports wall times, each
# process's peak RSS (/usr/bin/time), the sum of the peaks, and checks that every output is byte-identical to the lone
# run's (cmp). Page cache warm; outputs are deleted at the end.
#
# Usage: bench/concurrent_merge.sh [--n 4] [--threads T] [MODEL_DIR ADAPTER_DIR [WORKDIR]]
#   Defaults: bench/work/model-2gb and bench/work/lora-r64-2gb (made by bench/make_model.py and bench/make_lora.py,
#   which need /usr/bin/python3 with torch). --threads is passed to every merge (default: llavapack's, all cores).
# Needs a build (mvn -B -DskipTests package) and about (N+1) × the model's size of free disk in WORKDIR.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
n=4 threads=() pos=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --n) n="$2"; shift 2 ;;
    --threads) threads=(--threads "$2"); shift 2 ;;
    *) pos+=("$1"); shift ;;
  esac
done
model="${pos[0]:-$here/bench/work/model-2gb}"
adapter="${pos[1]:-$here/bench/work/lora-r64-2gb}"
work="${pos[2]:-$here/bench/work/concurrent}"
[[ -f "$model/model.safetensors.index.json" || -f "$model/model.safetensors" ]] || /usr/bin/python3 "$here/bench/make_model.py" --scale 2gb "$model"
[[ -f "$adapter/adapter_model.safetensors" ]] || /usr/bin/python3 "$here/bench/make_lora.py" "$model" "$adapter"
llavapack="$here/bin/llavapack"
rm -rf "$work"; mkdir -p "$work"
cat "$model"/*.safetensors "$adapter"/*.safetensors > /dev/null   # warm the cache

now() { date +%s.%N; }
echo "model: $model ($(du -sh "$model" | cut -f1)), adapter: $adapter, $n processes, $(nproc) cores"
t0=$(now)
/usr/bin/time -f "%e %M" -o "$work/lone.time" "$llavapack" merge-lora -q "${threads[@]}" "$model" "$adapter" "$work/lone"; sync
t1=$(now)
read -r lone_s lone_kb < "$work/lone.time"
printf 'lone: %.1f s wall (incl. sync), peak RSS %d MB\n' "$(echo "$t1 - $t0" | bc)" $((lone_kb / 1024))

t0=$(now)
pids=()
for ((i = 0; i < n; i++)); do
  /usr/bin/time -f "%e %M" -o "$work/p$i.time" "$llavapack" merge-lora -q "${threads[@]}" "$model" "$adapter" "$work/p$i" &
  pids+=($!)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
sync
t1=$(now)
[[ $fail == 0 ]] || { echo "a concurrent merge failed"; exit 1; }
sum=0 rss=()
for ((i = 0; i < n; i++)); do
  read -r s kb < "$work/p$i.time"; rss+=("$((kb / 1024))"); sum=$((sum + kb / 1024))
  for f in "$work/lone"/*; do cmp -s "$f" "$work/p$i/$(basename "$f")" || { echo "p$i: $(basename "$f") differs from the lone run"; exit 1; }; done
done
printf '%d at once: %.1f s wall (incl. sync); peak RSS per process MB: %s; sum %d MB; outputs identical to the lone run\n' \
  "$n" "$(echo "$t1 - $t0" | bc)" "${rss[*]}" "$sum"
rm -rf "$work"
