#!/usr/bin/env bash
# The equal-token comparison of docs/RESULTS.md: a model (MODEL, default tinystories-mha) at one KV budget, every method trained on the same total of
# TOTAL steps of 32 × 128 tokens (4096), DHA's own layer-local steps (4096 tokens each) counted in that total. Held-out
# perplexity (val150: the first 150 paragraphs > 100 characters of tinystories_val.txt) at 0 tokens and every EVAL_EVERY
# steps of the total; calibration and training on the 400 paragraphs after them. Same data, seed and recovery settings for
# every run; one change per run:
#   meanpool, aligned (+ renormalisation, the default), dha-search-sN (N own steps), dha-uniform-s0, dha-joint-s0,
#   mla-weights and mla-activations (latent KV, its factors from the weights or the calibration activations).
# Prints one JSON object per run. ONLY=REGEX keeps the runs whose names match.
# Usage: [HEADLAB="node bin/headlab.mjs"] [MODEL=tinystories-mha|stories260K] [TOTAL=50] [EVAL_EVERY=25] [BUDGET=0.25]
#        [DHA_OWN="10"] [MLA_ARGS="--rope-pairs R"] [SEED=1] scripts/equal-tokens.sh [DATA_DIR]
set -euo pipefail
source "$(dirname "$0")/val150.sh"
OUT=${EQUAL_OUT:-$(mktemp -d)}
CAL+=(--max-docs 400)
TOTAL=${TOTAL:-50}
BUDGET=${BUDGET:-0.25}
MODEL=${MODEL:-tinystories-mha}
TRAIN=(--train-steps "$TOTAL" --train-batch 32 --train-seq 128 --train-eval-every "${EVAL_EVERY:-25}" --seed "${SEED:-1}")
DHA=(--tokens-per-step 4096 --seq-len 128)
run() { # name args...
  local name=$1; shift
  [[ "$name" =~ ${ONLY:-.} ]] || return 0
  local t0 json
  t0=$(date +%s%N)
  json=$("${HEADLAB[@]}" fuse "$DATA/$MODEL.bin" --kv-budget "$BUDGET" "$@" "${CAL[@]}" "${EV[@]}" "${TRAIN[@]}" --out "$OUT/$name" --json)
  echo "{\"run\":\"$name\",\"model\":\"$MODEL\",\"budget\":$BUDGET,\"total\":$TOTAL,\"wallMs\":$(( ($(date +%s%N) - t0) / 1000000 )),\"result\":$json}"
}
run meanpool --method meanpool
run aligned --method aligned
run dha-search-s0 --method dha --steps 0 "${DHA[@]}"
run dha-joint-s0 --method dha --steps 0 --kv-split joint "${DHA[@]}"
run dha-uniform-s0 --method dha --steps 0 --allocation uniform "${DHA[@]}"
for s in ${DHA_OWN:-10}; do run "dha-search-s$s" --method dha --steps "$s" "${DHA[@]}"; done
read -r -a MLA <<< "${MLA_ARGS:-}" # e.g. MLA_ARGS="--rope-pairs 1"
run mla-weights --method mla --latent-init weights "${MLA[@]}"
run mla-activations --method mla --latent-init activations "${MLA[@]}"
