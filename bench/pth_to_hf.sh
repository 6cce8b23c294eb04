#!/usr/bin/env bash
# convert pth-to-hf benchmark (issue 3): a PA-LLaVA-shaped ZeRO-2 checkpoint (LoRA r=128 on 7 projections x 32 layers
# of Llama-3-8B, 16 ranks, fp32 masters + Adam moments, ~4.5 GB) converted by llavapack, against `cat` of all its files
# and against DeepSpeed's algorithm written in plain PyTorch (torch.load), in one run. Warm page cache; median of 3.
# Usage: bench/pth_to_hf.sh [WORKDIR] [--layers N]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$here/bench/work}"; shift || true
ckpt="$work/zero2-lora-r128/iter_2000.pth"
mkdir -p "$work"
[[ -f "$ckpt/mp_rank_00_model_states.pt" ]] || /usr/bin/python3 "$here/bench/make_zero2_lora.py" "$ckpt" "$@"
llavapack="$here/bin/llavapack"
t() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; cat "$work/time.txt"; }
median3() { sort -n | sed -n 2p; }
cat "$ckpt"/* > /dev/null
"$llavapack" --version > /dev/null
for i in 1 2 3; do t sh -c "cat '$ckpt'/* > /dev/null"; done | median3 > "$work/cat.txt"
for i in 1 2 3; do rm -rf "$work/lp-out"; t "$llavapack" convert pth-to-hf --quiet --lora-alpha 256 "$ckpt" "$work/lp-out"; done > "$work/lp-all.txt"
for i in 1 2 3; do rm -rf "$work/lp-out"; t "$llavapack" convert pth-to-hf --quiet --no-input-hashes --lora-alpha 256 "$ckpt" "$work/lp-out"; done > "$work/lpn-all.txt"
for i in 1 2 3; do rm -rf "$work/pt-out"; t /usr/bin/python3 "$here/bench/zero_to_fp32_torch.py" "$ckpt" "$work/pt-out"; done > "$work/pt-all.txt"
read cat_s _ < "$work/cat.txt"
read lp_s _ < <(median3 < "$work/lp-all.txt"); lp_kb=$(sort -k2 -n "$work/lp-all.txt" | tail -1 | cut -d' ' -f2)
read lpn_s _ < <(median3 < "$work/lpn-all.txt")
read pt_s _ < <(median3 < "$work/pt-all.txt"); pt_kb=$(sort -k2 -n "$work/pt-all.txt" | tail -1 | cut -d' ' -f2)
bytes=$(du -cb "$ckpt"/* | tail -1 | cut -f1)
cmp <(/usr/bin/python3 -c "import sys;d=open(sys.argv[1],'rb').read();print(len(d))" "$work/lp-out/llm_adapter/adapter_model.safetensors") \
    <(/usr/bin/python3 -c "import sys;d=open(sys.argv[1],'rb').read();print(len(d))" "$work/pt-out/adapter_model.safetensors") > /dev/null && same=yes || same=no
awk -v b="$bytes" -v c="$cat_s" -v l="$lp_s" -v lk="$lp_kb" -v p="$pt_s" -v pk="$pt_kb" -v same="$same" -v n="$lpn_s" 'BEGIN {
  printf "checkpoint: %.2f GB in %s\n", b/1e9, "'"$ckpt"'";
  printf "cat all files: %.2f s | llavapack pth-to-hf: %.2f s (%.2fx cat), peak RSS %.0f MB | PyTorch zero_to_fp32: %.2f s (%.2fx llavapack), peak RSS %.0f MB | adapter sizes equal: %s\n", c, l, l/c, lk/1024, p, p/l, pk/1024, same;
  printf "without input hashes (--no-input-hashes): llavapack %.2f s (%.2fx cat; PyTorch takes %.2fx as long)\n", n, n/c, p/n;
}'
rm -rf "$work/lp-out" "$work/pt-out"
