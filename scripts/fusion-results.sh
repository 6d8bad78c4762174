#!/usr/bin/env bash
# The fusion tables of docs/RESULTS.md, on tinystories-mha (and stories260K): calibration on the 400 paragraphs (> 100
# characters) after the first 150 of tinystories_val.txt, evaluation on the first 150 (the val150 protocol).
#  - conversion alone: mean-pool, aligned (± renormalisation), DHA after 0 … 200 of its own steps (4096 tokens each);
#  - recovery: every method followed by the same end-to-end training (KL to the original, every weight, 32 × 128 tokens a
#    step, Adam 1e-3), held-out perplexity every 50 steps up to TRAIN_STEPS (400).
# Prints one JSON object per run; ONLY=REGEX keeps the runs whose names match; PART=convert|recover|all (all).
# Usage: [HEADLAB="node bin/headlab.mjs"] scripts/fusion-results.sh [DATA_DIR]
set -euo pipefail
source "$(dirname "$0")/val150.sh"
OUT=${FUSION_OUT:-$(mktemp -d)}
CAL+=(--max-docs 400)
PART=${PART:-all}
TRAIN_STEPS=${TRAIN_STEPS:-400}
TRAIN=(--train-steps "$TRAIN_STEPS" --train-batch 32 --train-seq 128 --train-eval-every 50)
run() { # name model args...
  local name=$1 model=$2; shift 2
  [[ "$name" =~ ${ONLY:-.} ]] || return 0
  local t0
  t0=$(date +%s%N)
  local json
  json=$("${HEADLAB[@]}" fuse "$DATA/$model" "$@" "${CAL[@]}" "${EV[@]}" --out "$OUT/$name" --json)
  echo "{\"run\":\"$name\",\"model\":\"$model\",\"wallMs\":$(( ($(date +%s%N) - t0) / 1000000 )),\"result\":$json}"
}
for b in 0.25 0.5; do
  if [[ $PART != recover ]]; then
    run "mha-meanpool-$b" tinystories-mha.bin --method meanpool --kv-budget $b
    run "mha-aligned-$b" tinystories-mha.bin --method aligned --no-renorm --kv-budget $b
    run "mha-aligned-renorm-$b" tinystories-mha.bin --method aligned --kv-budget $b
    for s in ${DHA_STEPS:-0 50 100 200}; do run "mha-dha-$b-s$s" tinystories-mha.bin --method dha --kv-budget $b --steps $s; done
    run "s260-meanpool-$b" stories260K.bin --method meanpool --kv-budget $b
    run "s260-aligned-renorm-$b" stories260K.bin --method aligned --kv-budget $b
    run "s260-dha-$b-s200" stories260K.bin --method dha --kv-budget $b --steps 200
  fi
  if [[ $PART != convert ]]; then
    run "mha-meanpool-$b-train" tinystories-mha.bin --method meanpool --kv-budget $b "${TRAIN[@]}"
    run "mha-aligned-renorm-$b-train" tinystories-mha.bin --method aligned --kv-budget $b "${TRAIN[@]}"
    run "mha-dha-$b-train" tinystories-mha.bin --method dha --kv-budget $b "${TRAIN[@]}"
  fi
done
