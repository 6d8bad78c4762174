#!/usr/bin/env bash
# Fewer bits against fewer heads and a latent (docs/RESULTS.md, "A quantised KV cache"). Two parts; each finished row is
# appended to OUT as a JSON line as it comes; `node scripts/kv-table.mjs OUT` tabulates.
#   PART=quant: the quantiser alone on tinystories-mha (the val150 protocol of scripts/val150.sh): 16/8/4/3/2 bits with KIVI's
#     defaults (keys per channel after rotary, groups of 32, 32 recent positions exact), then one choice changed at a time
#     at 4 and 2 bits: keys before rotary, keys per token, the sink exact, no exact window; then 8 and 3 bits without it.
#   PART=converted: tinystories-mha converted (no training: the conversion takes no seed) by the aligned merge and the latent
#     at 50 / 25 / 12.5 %, each evaluated through a 16/8/4/2-bit cache (val150).
#   PART=grid: the demo (12 steps of 8 × 64 tokens of training, the ladder's protocol, SEEDS seeds): MHA and each of the aligned
#     merge and the latent at 50 / 25 / 12.5 % trained on the same tokens, then every one evaluated through a 16/8/4/2-bit
#     cache — a grid in which equal bytes lie on diagonals (quantisation itself trains nothing).
#   PART=grid-val150: the same grid for MODEL (tinystories-mha) on val150, trained TOTAL (25) steps of 32 × 128 tokens.
# Usage: [HEADLAB="node bin/headlab.mjs"] [PART=quant|converted|grid|grid-val150] [SEEDS=2] [MODEL=…] [TOTAL=N] [OUT=kv-quant.jsonl]
#        scripts/kv-quant.sh [DATA_DIR]
set -euo pipefail
source "$(dirname "$0")/val150.sh"
OUT=${OUT:-kv-quant.jsonl}
PART=${PART:-quant}
row() { # row LABEL JSON-from-eval: one JSON line with the label
  node -e 'const [label, j] = process.argv.slice(1); process.stdout.write(JSON.stringify({ label, ...JSON.parse(j) }) + "\n")' "$@" >> "$OUT"
}
if [[ $PART == quant ]]; then
  M="$DATA/tinystories-mha.bin"
  run() { local label=$1; shift; row "$label" "$("${HEADLAB[@]}" eval "$M" --text "$VAL" --split blank-lines --min-chars 100 --max-docs 150 --json "$@")"; }
  for b in 16 8 4 3 2; do run "tinystories-mha, $b bits" --kv-bits "$b"; done
  for b in 4 2; do
    run "tinystories-mha, $b bits, keys before rotary" --kv-bits "$b" --key-rope pre
    run "tinystories-mha, $b bits, keys per token" --kv-bits "$b" --key-axis token
    run "tinystories-mha, $b bits, sink exact" --kv-bits "$b" --keep-sink
    run "tinystories-mha, $b bits, no exact window" --kv-bits "$b" --kv-residual 0
  done
  for b in 8 3; do run "tinystories-mha, $b bits, no exact window" --kv-bits "$b" --kv-residual 0; done
elif [[ $PART == converted ]]; then
  M="$DATA/tinystories-mha.bin"
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  for method in aligned mla; do
    for budget in 0.5 0.25 0.125; do
      "${HEADLAB[@]}" fuse "$M" --method "$method" --kv-budget "$budget" "${CAL[@]}" --max-docs 400 --out "$TMP/m" > /dev/null
      for b in 16 8 4 2; do
        row "tinystories-mha, $method $budget converted, $b bits" \
          "$("${HEADLAB[@]}" eval "$TMP/m" --text "$VAL" --split blank-lines --min-chars 100 --max-docs 150 --json --kv-bits "$b")"
      done
    done
  done
else
  # PART=grid: the demo on the ladder's protocol; PART=grid-val150: MODEL (tinystories-mha) on val150, TOTAL steps of 32 × 128
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  if [[ $PART == grid-val150 ]]; then
    M="$DATA/${MODEL:-tinystories-mha}.bin"
    EVAL=(--text "$VAL" --split blank-lines --min-chars 100 --max-docs 150 --json)
    TRAIN=("${CAL[@]}" --max-docs 400 "${EV[@]}" --train-steps "${TOTAL:-25}" --train-batch 32 --train-seq 128 --train-eval-every "${TOTAL:-25}")
  else
    DEMO=public/demo
    M="$DEMO/demo-mha-bytes.bin"
    EVAL=(--text "$DEMO/demo-stories.txt" --skip-docs 114 --json)
    TRAIN=(--text "$DEMO/demo-stories.txt" --max-docs 114 --max-tokens 8192 --eval-text "$DEMO/demo-stories.txt" --eval-skip-docs 114
      --train-steps 12 --train-batch 8 --train-seq 64 --train-eval-every 12)
  fi
  grid() { # grid NAME MODEL: evaluated through each cache
    for b in 16 8 4 2; do row "$1, $b bits" "$("${HEADLAB[@]}" eval "$2" "${EVAL[@]}" --kv-bits "$b")"; done
  }
  grid "MHA" "$M"
  for seed in $(seq 1 "${SEEDS:-2}"); do
    for method in aligned mla; do
      for budget in 0.5 0.25 0.125; do
        "${HEADLAB[@]}" fuse "$M" --method "$method" --kv-budget "$budget" "${TRAIN[@]}" --seed "$seed" --out "$TMP/m" > /dev/null
        grid "$method $budget seed $seed" "$TMP/m"
      done
    done
  done
fi
