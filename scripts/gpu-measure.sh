#!/usr/bin/env bash
# Every GPU measurement of docs/BENCHMARKS.md and docs/RESULTS.md in one call on the lent GPU machine (device tool), each
# beside PyTorch's figure for the same work in the same run. Prepare here (needs npm ci):
#   npm run build:cli && bash ../shared/gpu/pack.sh && mkdir -p .gpu/data && cp testdata/data/{tinystories-mha.bin,stories260K.bin,\
#   tok512.bin,tinystories_val.txt} .gpu/data/ && cp ../shared/gpu/torch/*.py scripts/*.py .gpu/ && cp scripts/*.sh .gpu/
#   and for PARTS=fsdp: node scripts/torch-tokens.mjs testdata/data/stories260K.bin --vocab 512 --context 512 \
#     --text testdata/data/tinystories_val.txt --split blank-lines --min-chars 100 --skip-docs 150 --max-docs 400 --out .gpu/data/docs-260.safetensors
# then run there (carry [".gpu"]):  bash .gpu/gpu-measure.sh   — results land in $OUT (one JSON object per line).
# PARTS selects what runs (default "bench torch protocol dha equal"; also "ladder": the tinystories-mha ladder at 25 %,
# 400 steps of 4096 tokens, two seeds; "kv": quantised caches, alone and on trained conversions; "fsdp": PyTorch FSDP under torchrun against headlab train, the same 5 steps — never
# run yet: no GPU session has come since it was written); STEPS sets the protocol's length (400).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
H="bash $here/enter.sh node $here/cli/headlab.mjs"
D=$here/data
log() { echo "[$(date +%T)] $*" >&2; }
for part in ${PARTS:-bench torch protocol dha equal}; do
  case $part in
    bench)
      log "headlab selftest (every kernel variant against its CPU reference on this GPU), then bench"
      $H selftest --json > "$out/selftest.json"
      $H bench --json --sizes 1024,2048,4096 --forward "$D/tinystories-mha.bin,gpt2-small" --attention 256,1024,2048 --batch 8 --seq 256 > "$out/bench-forward.json"
      $H bench --json --sizes 1024,2048,4096 --variant tiled --forward "$D/tinystories-mha.bin,gpt2-small" --batch 8 --seq 256 > "$out/bench-forward-tiled.json"
      $H bench --json --sizes 64 --train "$D/tinystories-mha.bin,gpt2-small" --batch 32 --seq 128 --steps 10 > "$out/bench-train.json"
      $H bench --json --sizes 64 --search "$D/tinystories-mha.bin,$D/stories260K.bin" --text "$D/tinystories_val.txt" > "$out/bench-search.json" ;;
    torch)
      log "PyTorch bench"
      python3 "$here/torch_bench.py" > "$out/torch-bench.json"
      python3 "$here/torch-attention.py" 256 1024 2048 > "$out/torch-attention.json" ;;
    protocol)
      log "training protocol (headlab), then PyTorch's"
      HEADLAB="$H" STEPS=${STEPS:-400} bash "$here/train-protocol.sh" "$D" > "$out/protocol-headlab.jsonl"
      # the spread over our batch draws (PyTorch's side is one fixed seed): all weights at 25 %, seeds 2 and 3
      for seed in 2 3; do HEADLAB="$H" STEPS=${STEPS:-400} BUDGETS=0.25 PARAMS=all SEED=$seed bash "$here/train-protocol.sh" "$D"; done > "$out/protocol-seeds.jsonl"
      python3 "$here/fusion_reference.py" "$D" > "$out/protocol-torch.txt" ;;
    dha)
      log "DHA defaults, then 100 training steps, against aligned and mean-pool with the same training"
      HEADLAB="$H" TRAIN_STEPS=${TRAIN_STEPS:-100} bash "$here/fusion-results.sh" "$D" > "$out/fusion.jsonl" ;;
    equal)
      log "equal total training tokens: every method, DHA switch and MLA init at 25 % and 50 % of the KV bytes, read every 50 steps up to 400"
      for m in tinystories-mha stories260K; do
        for b in 0.25 0.5; do
          HEADLAB="$H" MODEL=$m TOTAL=${EQUAL_TOTAL:-400} EVAL_EVERY=50 BUDGET=$b DHA_OWN="10 50 100" bash "$here/equal-tokens.sh" "$D"
        done
      done > "$out/equal-tokens.jsonl" ;;
    ladder)
      log "the ladder on tinystories-mha at 25 %: every rung, 400 steps of 32 × 128 tokens, seeds 1 and 2"
      HEADLAB="$H" MODEL=tinystories-mha BUDGET=0.25 TOTAL=${LADDER_TOTAL:-400} SEEDS=2 OUT="$out/ladder-tinystories-mha-0.25.jsonl" \
        bash "$here/ladder.sh" "$D" > "$out/ladder.txt" ;;
    kv)
      log "quantised KV caches on tinystories-mha: the quantiser alone, then the aligned merge and the latent at 50/25/12.5 % trained 100 steps, seeds 1 and 2, each through 16/8/4/2 bits"
      HEADLAB="$H" PART=quant OUT="$out/kv-quant-tinystories.jsonl" bash "$here/kv-quant.sh" "$D"
      HEADLAB="$H" PART=grid-val150 TOTAL=${KV_TOTAL:-100} SEEDS=2 OUT="$out/kv-grid-tinystories.jsonl" bash "$here/kv-quant.sh" "$D" ;;
    fsdp)
      log "FSDP: a DHA-fused stories260K distilled 5 steps by headlab train and by PyTorch under torchrun (1 GPU, full shard)"
      $H fuse "$D/stories260K.bin" --method dha --kv-budget 0.5 --steps 0 --text "$D/tinystories_val.txt" --split blank-lines \
        --min-chars 100 --skip-docs 150 --max-docs 100 --out "$out/dha260" > /dev/null
      $H train "$out/dha260" --teacher "$D/stories260K.bin" --text "$D/tinystories_val.txt" --split blank-lines --min-chars 100 \
        --skip-docs 150 --max-docs 400 --steps 5 --batch 32 --seq 128 --seed 1 --out "$out/dha260-lab" --json > "$out/fsdp-lab.json"
      (cd "$here/.." && PYTHONPATH=python torchrun --nproc_per_node 1 -m headlab_torch train --student "$out/dha260" \
        --teacher "$D/stories260K.bin" --docs "$D/docs-260.safetensors" --steps 5 --batch 32 --seq 128 --seed 1 \
        --out "$out/dha260-torch" --json) > "$out/fsdp-torch.json" ;;
  esac
done
log "done"
