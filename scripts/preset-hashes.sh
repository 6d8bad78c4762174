#!/usr/bin/env bash
# The byte-for-byte check of the conversion presets (#27): every preset of `headlab fuse` (and a few switches, own steps and
# recovery) on stories260K and tinystories-mha at 50 % and 25 %, on 60 calibration and 20 evaluation paragraphs of the val150
# split; per run the hash of model.safetensors and the converted perplexity. Run it with two bundles and compare the lines:
#   HEADLAB="node old.mjs" OUTDIR=/tmp/a bash scripts/preset-hashes.sh > a.txt
#   HEADLAB="node new.mjs" OUTDIR=/tmp/b bash scripts/preset-hashes.sh > b.txt; diff a.txt b.txt
set -euo pipefail
source "$(dirname "$0")/val150.sh"
CAL+=(--max-docs "${CALDOCS:-60}")
EV=(--eval-text "$VAL" --eval-split blank-lines --eval-min-chars 100 --eval-max-docs "${EVDOCS:-20}")
OUTDIR=${OUTDIR:-$(mktemp -d)}
mkdir -p "$OUTDIR"
run() {
  local name=$1 model=$2
  shift 2
  local o="$OUTDIR/$name"
  "${HEADLAB[@]}" fuse "$DATA/$model.bin" "$@" "${CAL[@]}" "${EV[@]}" --out "$o" --json 2> /dev/null > "$o.json"
  echo "$name $(sha256sum "$o/model.safetensors" | cut -c1-16) ppl $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).pplAfter)' "$o.json")"
}
DHA=(--tokens-per-step 512 --seq-len 128)
for m in stories260K tinystories-mha; do
  for b in 0.5 0.25; do
    run "$m-$b-meanpool" "$m" --method meanpool --kv-budget "$b"
    run "$m-$b-aligned" "$m" --method aligned --kv-budget "$b"
    run "$m-$b-aligned-norenorm" "$m" --method aligned --kv-budget "$b" --no-renorm
    run "$m-$b-dha-s0" "$m" --method dha --kv-budget "$b" --steps 0 "${DHA[@]}"
    run "$m-$b-dha-joint-s0" "$m" --method dha --kv-budget "$b" --steps 0 --kv-split joint "${DHA[@]}"
    run "$m-$b-dha-uniform-s0" "$m" --method dha --kv-budget "$b" --steps 0 --allocation uniform "${DHA[@]}"
  done
  run "$m-0.25-dha-s3" "$m" --method dha --kv-budget 0.25 --steps 3 --check-every 2 "${DHA[@]}"
  run "$m-0.25-dha-s2-train4" "$m" --method dha --kv-budget 0.25 --steps 2 "${DHA[@]}" --train-steps 4 --train-batch 4 --train-seq 128 --train-eval-every 2
  run "$m-0.25-aligned-train3" "$m" --method aligned --kv-budget 0.25 --train-steps 3 --train-batch 4 --train-seq 128
  run "$m-0.5-mla" "$m" --method mla --kv-budget 0.5
done
