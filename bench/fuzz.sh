#!/usr/bin/env bash
# Long coverage-guided fuzz run of the five readers (Jazzer, issue #9), one target after another:
#   bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s; targets: Safetensors Torch Pickle Gguf XtunerConfig)
# Prints each target's executions, coverage (libFuzzer edges/features, and Jazzer's line/branch report over
# org.llavapack classes) and findings. Crashing inputs are written by Jazzer next to the seeds in
# src/test/resources/org/llavapack/fuzz/<Target>FuzzTestInputs/<method>/ and replayed by every later `mvn test`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"; export JAVA_HOME
secs="${1:-600}"; shift || true
targets=("$@"); [[ ${#targets[@]} -gt 0 ]] || targets=(Safetensors Torch Pickle Gguf XtunerConfig)
declare -A reader_files=(
  [Safetensors]="SafetensorsFile SafetensorsHeader"
  [Torch]="TorchCheckpoint ZipArchive ZipStorages LegacyStorages TorchTensor TorchStorage TorchHooks PickleReader"
  [Pickle]="PickleReader Memo GlobalPolicy KnownCalls"
  [Gguf]="GgufFile GgufValue GgufTensorInfo"
  [XtunerConfig]="XtunerConfig PyConfigReader PyLexer PyValue PyModule"
)
mkdir -p target/fuzz-logs target/fuzz-coverage
mvn -B -q test-compile
for t in "${targets[@]}"; do
  log="target/fuzz-logs/$t.log"
  set +e
  mvn -B -o surefire:test@fuzz -Dtest="${t}FuzzTest" -Dfuzz.duration="${secs}s" -Dfuzz.run="$t" -DtrimStackTrace=false >"$log" 2>&1
  rc=$?
  set -e
  done_line="$(grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true)"
  cov_line="$(grep -E '#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)"
  findings="$(grep -cE '== Java Exception|FuzzTestFindingException|crash-' "$log" || true)"
  echo "$t: rc=$rc ${done_line:-no Done line} | ${cov_line:-no coverage line} | finding lines: $findings | log: $log"
  if [[ -f "target/fuzz-coverage/$t.txt" ]]; then
    # Jazzer's report covers every class on the class path; sum only the files of the reader under test.
    awk -v files="${reader_files[$t]}" '
      BEGIN { n = split(files, f, " "); for (i = 1; i <= n; i++) want[f[i] ".java"] = 1 }
      /^Branch coverage:/ { sec = "branches" } /^Line coverage:/ { sec = "lines" } /^Missed/ { sec = "" }
      sec != "" && $1 ~ /\.java:$/ && $2 ~ /^[0-9]+\/[0-9]+$/ { name = substr($1, 1, length($1) - 1)
        if (name in want) { split($2, a, "/"); c[sec] += a[1]; t[sec] += a[2] } }
      END { for (s in t) printf "    %s: %d/%d (%.1f%%) over %s\n", s, c[s], t[s], 100 * c[s] / t[s], files }' "target/fuzz-coverage/$t.txt"
  fi
done
