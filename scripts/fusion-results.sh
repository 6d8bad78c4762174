#!/usr/bin/env bash
# The fusion results table of docs/RESULTS.md: every method and budget on tinystories-mha (and stories260K), calibrated on the
# 400 paragraphs (> 100 characters) after the first 150 of tinystories_val.txt, evaluated on the first 150 (val protocol).
# Prints one JSON object per run; ONLY=REGEX keeps the runs whose names match. Usage: [HEADLAB="node bin/headlab.mjs"] scripts/fusion-results.sh [DATA_DIR]
set -euo pipefail
DATA=${1:-../shared/data}
read -r -a HEADLAB <<< "${HEADLAB:-node bin/headlab.mjs}"
OUT=${FUSION_OUT:-$(mktemp -d)}
VAL="$DATA/tinystories_val.txt"
CAL=(--text "$VAL" --split blank-lines --min-chars 100 --skip-docs 150 --max-docs 400)
EV=(--eval-text "$VAL" --eval-split blank-lines --eval-min-chars 100 --eval-max-docs 150)
run() { # name model args...
  local name=$1 model=$2; shift 2
  [[ "$name" =~ ${ONLY:-.} ]] || return 0
  local t0
  t0=$(date +%s%N)
  local json
  json=$("${HEADLAB[@]}" fuse "$DATA/$model" "$@" "${CAL[@]}" "${EV[@]}" --out "$OUT/$name" --json)
  echo "{\"run\":\"$name\",\"model\":\"$model\",\"wallMs\":$(( ($(date +%s%N) - t0) / 1000000 )),\"result\":$json}"
}
for b in 0.5 0.25; do
  run "mha-meanpool-$b" tinystories-mha.bin --method meanpool --kv-budget $b
  run "mha-aligned-$b" tinystories-mha.bin --method aligned --kv-budget $b
  run "mha-aligned-renorm-$b" tinystories-mha.bin --method aligned --renorm --kv-budget $b
  for s in ${DHA_STEPS:-0 50 100 200 400}; do
    run "mha-dha-$b-s$s" tinystories-mha.bin --method dha --kv-budget $b --steps $s --seed 1
  done
  for s in ${RECOVERY_STEPS:-200 400}; do
    run "mha-dha-$b-s100-r$s-teacher" tinystories-mha.bin --method dha --kv-budget $b --steps 100 --recovery-steps $s --seed 1 \
      --recovery-inputs teacher --recovery-lr 0.001
  done
  run "mha-dha-$b-s100-r400" tinystories-mha.bin --method dha --kv-budget $b --steps 100 --recovery-steps 400 --seed 1
done
for b in 0.5 0.25; do
  run "s260-meanpool-$b" stories260K.bin --method meanpool --kv-budget $b
  run "s260-aligned-$b" stories260K.bin --method aligned --kv-budget $b
  run "s260-dha-$b-s100" stories260K.bin --method dha --kv-budget $b --steps 100 --seed 1
done
