#!/usr/bin/env bash
# Progressive fusion against the merge at equal training tokens (docs/RESULTS.md, "Progressive fusion"): on the demo at 25 %
# (12 steps of 8 × 64 tokens, as the demo's ladder), the ladder's last rungs — DHA (joint K+V) merged with no own steps,
# with S layer-local own steps, progressive fusion with S fusion steps (the operators only), and progressive fusion with every
# weight training — for S = a quarter, half and all of the steps, SEEDS seeds each. Appends to OUT (JSON lines) as runs
# finish; `node scripts/ladder-table.mjs OUT` tabulates them.
# Usage: [HEADLAB="node bin/headlab.mjs"] [SEEDS=2] [SEED=1] [OUT=progressive-demo.jsonl] scripts/progressive.sh [S ...]
set -euo pipefail
read -r -a HEADLAB <<< "${HEADLAB:-node bin/headlab.mjs}"
OUT=${OUT:-progressive-demo.jsonl}
DEMO=public/demo
COMMON=(ladder "$DEMO/demo-mha-bytes.bin" --kv-budget 0.25 --text "$DEMO/demo-stories.txt" --max-docs 114 --max-tokens 8192
  --eval-text "$DEMO/demo-stories.txt" --eval-skip-docs 114 --train-steps 12 --train-batch 8 --train-seq 64 --train-eval-every 12
  --seeds "${SEEDS:-2}" --seed "${SEED:-1}" --no-latent --jsonl "$OUT")
STEPS=("${@:-3 6 12}")
read -r -a STEPS <<< "${STEPS[*]}"
"${HEADLAB[@]}" "${COMMON[@]}" --own-steps "${STEPS[0]}" --only '^joint K\+V budget$'
for S in "${STEPS[@]}"; do
  "${HEADLAB[@]}" "${COMMON[@]}" --own-steps "$S" --only '^(own steps|progressive fusion|fusion trains every weight)$'
done
