#!/usr/bin/env bash
# The reference training protocol of docs/RESULTS.md ("Recovery training"), a check of the whole training engine against
# PyTorch (../shared/gpu/torch/fusion_reference.py): tinystories-mha mean-pooled to 2 KV heads (25 %) and 4 (50 %), then
# KL(teacher ‖ student) distillation on the paragraphs (> 100 characters) of tinystories_val.txt after the first 150, each cut
# to 256 tokens, joined and cut into 128-token sequences; a step = 32 sequences drawn with replacement; Adam, lr 1e-3 (all
# weights) or 2e-3 (K/V only), no schedule; held-out perplexity on the first 150 paragraphs every 50 steps.
# Prints one JSON object per run (with its curve). Env: STEPS (400), BUDGETS ("0.25 0.5"), PARAMS ("all kv"), SEED (1),
# HEADLAB (default "node bin/headlab.mjs"). On SwiftShader a step of 4096 tokens takes ~35 s: STEPS=50 BUDGETS=0.25 there.
# Usage: scripts/train-protocol.sh [DATA_DIR]
set -euo pipefail
source "$(dirname "$0")/val150.sh"
OUT=${PROTOCOL_OUT:-$(mktemp -d)}
STEPS=${STEPS:-400}
EVERY=$(( STEPS < 50 ? STEPS : 50 ))
for b in ${BUDGETS:-0.25 0.5}; do
  for p in ${PARAMS:-all kv}; do
    name="meanpool-$b-$p-seed${SEED:-1}"
    t0=$(date +%s%N)
    json=$("${HEADLAB[@]}" fuse "$DATA/tinystories-mha.bin" --method meanpool --kv-budget "$b" "${CAL[@]}" "${EV[@]}" \
      --train-steps "$STEPS" --train-params "$p" --train-batch 32 --train-seq 128 --train-eval-every "$EVERY" --seed "${SEED:-1}" \
      --out "$OUT/$name" --json)
    echo "{\"run\":\"$name\",\"wallMs\":$(( ($(date +%s%N) - t0) / 1000000 )),\"result\":$json}"
  done
done
