#!/usr/bin/env bash
# The ladder of docs/RESULTS.md: a model (MODEL, default tinystories-mha) at one KV budget, every rung of `headlab ladder`
# (mean-pool → … → DHA's own steps, one recipe choice per rung; the latent beside it) trained on the same TOTAL steps of
# 32 × 128 tokens (4096; own steps count) for SEEDS seeds from SEED, on the val150 protocol (evaluation on the first 150
# paragraphs > 100 characters of tinystories_val.txt, calibration and training on the 400 after them). Each finished run is
# appended to OUT (JSON lines) as it comes; the table is printed at the end. ONLY=REGEX keeps the rungs whose names match.
# Usage: [HEADLAB="node bin/headlab.mjs"] [MODEL=tinystories-mha|stories260K] [BUDGET=0.25] [TOTAL=25] [SEEDS=2] [SEED=1]
#        [OWN=N] [ONLY=REGEX] [OUT=ladder.jsonl] scripts/ladder.sh [DATA_DIR]
set -euo pipefail
source "$(dirname "$0")/val150.sh"
CAL+=(--max-docs 400)
MODEL=${MODEL:-tinystories-mha}
BUDGET=${BUDGET:-0.25}
TOTAL=${TOTAL:-25}
OUT=${OUT:-ladder-$MODEL-$BUDGET.jsonl}
EXTRA=()
[[ -n "${OWN:-}" ]] && EXTRA+=(--own-steps "$OWN")
[[ -n "${ONLY:-}" ]] && EXTRA+=(--only "$ONLY")
"${HEADLAB[@]}" ladder "$DATA/$MODEL.bin" --kv-budget "$BUDGET" "${CAL[@]}" "${EV[@]}" \
  --train-steps "$TOTAL" --train-batch 32 --train-seq 128 --train-eval-every "$TOTAL" \
  --seeds "${SEEDS:-2}" --seed "${SEED:-1}" --jsonl "$OUT" "${EXTRA[@]}"
