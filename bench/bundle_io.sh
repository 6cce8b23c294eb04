#!/usr/bin/env bash
# Release-bundle benchmark (issue 8): hashing, bundling and verifying a ~2 GiB model folder with llavapack, next to
# the coreutils/zstd commands that do the same work (sha256sum, cp, tar | zstd), in one run. The model is random bytes
# (weights barely compress either), four 512 MiB shards so parallel hashing has work to share. Page cache is warm for
# every reader; writes end with `sync` on both sides. Median of three runs, peak RSS the largest of the three.
# Usage: bench/bundle_io.sh [WORKDIR]   (needs a built target/llavapack.jar, zstd, GNU tar)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$here/bench/work}/bundle"
model="$work/model"
mkdir -p "$model"
for i in 1 2 3 4; do
  f="$model/model-0000$i-of-00004.safetensors"
  [[ -f "$f" ]] || head -c 536870912 /dev/urandom > "$f"
done
cp "$here/test-checkpoints/tiny-llama/config.json" "$model/config.json"
llavapack="$here/bin/llavapack"
threads=$(nproc)

median3() { sort -n | sed -n 2p; }
t() { /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; }
runs() { local label="$1"; shift; for i in 1 2 3; do "$@"; cat "$work/time.txt"; done > "$work/$label.txt"; }
med() { median3 < "$work/$1.txt" | cut -d' ' -f1; }
rss() { sort -k2 -n "$work/$1.txt" | tail -1 | cut -d' ' -f2; }

cat "$model"/* > /dev/null
"$llavapack" --version > /dev/null
runs cat t sh -c "cat '$model'/* > /dev/null"
runs sha256sum t sh -c "sha256sum '$model'/* > /dev/null"
runs sha256sum_par t sh -c "ls '$model'/* | xargs -P $threads -n 1 sha256sum > /dev/null"
dir_bundle() { rm -rf "$work/b"; sync; t sh -c "'$llavapack' -q bundle '$model' --out '$work/b' && sync"; }
cp_hash() { rm -rf "$work/cp"; sync; t sh -c "cp -r '$model' '$work/cp' && sha256sum '$work/cp'/* > /dev/null && sync"; }
zst_bundle() { rm -f "$work/b.tar.zst"; sync; t sh -c "'$llavapack' -q bundle '$model' --out '$work/b.tar.zst' && sync"; }
tar_zstd() { rm -f "$work/t.tar.zst"; sync; t sh -c "tar -C '$model' --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | zstd -q -3 -T$threads -o '$work/t.tar.zst' && sync"; }
runs dir_bundle dir_bundle
runs cp_hash cp_hash
runs verify_dir t "$llavapack" -q verify "$work/b"
runs sha256sum_c t sh -c "cd '$work/b' && sha256sum -c --quiet SHA256SUMS"
runs zst_bundle zst_bundle
runs tar_zstd tar_zstd
runs verify_zst t "$llavapack" -q verify "$work/b.tar.zst"
runs zstd_sha t sh -c "zstd -dc '$work/b.tar.zst' | sha256sum > /dev/null"
bytes=$(du -cb "$model"/* | tail -1 | cut -f1)
gb() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.2f", b / 1e9 / s }'; }
echo "model: $(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1e9 }') GB in 5 files; $threads cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-44s %8s %8s %9s\n" "what" "seconds" "GB/s" "peak RSS"
row() { printf "%-44s %8s %8s %7s MB\n" "$1" "$(med "$2")" "$(gb "$(med "$2")")" "$(( $(rss "$2") / 1024 ))"; }
row "cat > /dev/null" cat
row "sha256sum (one process)" sha256sum
row "sha256sum (xargs -P $threads)" sha256sum_par
row "llavapack bundle DIR (+sync)" dir_bundle
row "cp -r + sha256sum (+sync)" cp_hash
row "llavapack verify DIR" verify_dir
row "sha256sum -c SHA256SUMS" sha256sum_c
row "llavapack bundle B.tar.zst (+sync)" zst_bundle
row "tar --sort=name | zstd -3 -T$threads (+sync)" tar_zstd
row "llavapack verify B.tar.zst" verify_zst
row "zstd -dc | sha256sum" zstd_sha
