#!/usr/bin/env bash
# GGUF export benchmark (issue 6): `llavapack export gguf --outtype q8_0` of the ~2 GB synthetic bf16 model
# (bench/make_model.py, TinyLlama-1.1B shapes) against `cp` of the same weight files, one run each, both followed by
# `sync`; peak RSS from /usr/bin/time. Targets: export time ≤ 2× cp's, peak RSS ≤ 1 GB. Also times an f16 export,
# which writes as many bytes as cp does.
# The synthetic model has no tokenizer, so the export reads a sibling folder that links the same shards and borrows
# test-checkpoints/tiny-llama's tokenizer files (its 512 tokens are padded to the config's 32000 with [PADn]).
# Usage: bench/gguf_export.sh [WORKDIR]   (needs /usr/bin/python3 with numpy the first time, and target/llavapack.jar)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$here/bench/work}"
model="$work/model-2gb"
gmodel="$work/model-2gb-gguf"
llavapack="$here/bin/llavapack"
mkdir -p "$work"
[[ -f "$model/model.safetensors.index.json" ]] || /usr/bin/python3 "$here/bench/make_model.py" "$model"
rm -rf "$gmodel" && mkdir -p "$gmodel"
for f in "$model"/*.safetensors "$model"/model.safetensors.index.json "$model"/config.json; do ln -s "$f" "$gmodel/"; done
cp "$here/test-checkpoints/tiny-llama/tokenizer.json" "$here/test-checkpoints/tiny-llama/tokenizer_config.json" "$gmodel/"

t() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; cat "$work/time.txt"; }
cat "$model"/*.safetensors > /dev/null   # warm the page cache for both sides
"$llavapack" --version > /dev/null        # make the class-data-sharing archive once

rm -rf "$work/cp-copy"; mkdir -p "$work/cp-copy"; sync
read cp_s cp_kb < <(t sh -c "cp '$model'/*.safetensors '$work/cp-copy/' && sync")
rm -rf "$work/cp-copy"

rm -f "$work/q8.gguf"; sync
read q8_s q8_kb < <(t sh -c "'$llavapack' export gguf --quiet '$gmodel' '$work/q8.gguf' --outtype q8_0 && sync")
q8_bytes=$(stat -c %s "$work/q8.gguf")
rm -f "$work/q8.gguf"

# the same q8_0 export with an r=64 adapter merged on the fly (export gguf --adapter, issue 6)
lora="$work/lora-2gb-r64"
[[ -f "$lora/adapter_config.json" ]] || /usr/bin/python3 "$here/bench/make_lora.py" "$model" "$lora"
rm -f "$work/q8a.gguf"; sync
read q8a_s q8a_kb < <(t sh -c "'$llavapack' export gguf --quiet '$gmodel' '$work/q8a.gguf' --outtype q8_0 --adapter '$lora' && sync")
rm -f "$work/q8a.gguf"

rm -f "$work/f16.gguf"; sync
read f16_s f16_kb < <(t sh -c "'$llavapack' export gguf --quiet '$gmodel' '$work/f16.gguf' --outtype f16 && sync")
f16_bytes=$(stat -c %s "$work/f16.gguf")
rm -f "$work/f16.gguf"

bytes=$(du -cbL "$model"/*.safetensors | tail -1 | cut -f1)
awk -v b="$bytes" -v cs="$cp_s" -v ck="$cp_kb" -v qs="$q8_s" -v qk="$q8_kb" -v qb="$q8_bytes" -v fs="$f16_s" -v fk="$f16_kb" -v fb="$f16_bytes" -v as="$q8a_s" -v ak="$q8a_kb" 'BEGIN {
  printf "one run each, page cache warm, every write followed by sync; %d CPUs\n", '"$(nproc)"';
  printf "model: %.2f GB bf16 safetensors in 5 shards\n", b/1e9;
  printf "cp of the shards + sync         : %6.2f s  peak RSS %5.0f MB  (writes %.2f GB)\n", cs, ck/1024, b/1e9;
  printf "export gguf --outtype q8_0 + sync: %6.2f s  peak RSS %5.0f MB  (writes %.2f GB)  time ratio %.2fx of cp (target <= 2x)\n", qs, qk/1024, qb/1e9, qs/cs;
  printf "  ... with --adapter (r=64, all 7 projections): %6.2f s  peak RSS %5.0f MB  time ratio %.2fx of cp\n", as, ak/1024, as/cs;
  printf "export gguf --outtype f16  + sync: %6.2f s  peak RSS %5.0f MB  (writes %.2f GB)  time ratio %.2fx of cp\n", fs, fk/1024, fb/1e9, fs/cs;
}'
