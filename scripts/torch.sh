#!/usr/bin/env bash
# headlab's models in PyTorch (python/headlab_torch): runs `python -m headlab_torch "$@"` with a Python that imports torch —
# $HEADLAB_PYTHON, then python3, then /usr/bin/python3 (Debian's python3-torch installs there, which may not be the first
# python3 on PATH) — or says in one line what to install and exits 3.
#   bash scripts/torch.sh info
#   bash scripts/torch.sh logits DIR_OR_BIN --input ids.safetensors --out logits.safetensors [--dtype float64]
#   bash scripts/torch.sh train --student DIR --teacher DIR --text F [the lab's split flags] --steps N --batch B --seq T
#        [--lr F] [--seed S] [--nproc N] [--loss kl|ce|mix] --out DIR [--json]
#     `headlab train` in PyTorch with the lab's recipe and batches, data parallel: --nproc N starts N processes here (DDP
#     over gloo on CPU); under torchrun each process is one of its ranks (FSDP over nccl on CUDA). --text is tokenized by the
#     lab itself (node scripts/torch-tokens.mjs); --tokens / --docs files need no Node. python/README.md has every flag.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tried=()
for py in ${HEADLAB_PYTHON:+"$HEADLAB_PYTHON"} python3 /usr/bin/python3; do
  tried+=("$py")
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import torch' >/dev/null 2>&1; then
    export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1
    exec "$py" -m headlab_torch "$@"
  fi
done
if [ -x /usr/bin/apt-get ] && [ -r /etc/debian_version ]; then
  how='on Debian: apt-get install -y --no-install-recommends python3-torch'
else
  how='pip install torch (or set HEADLAB_PYTHON to a Python that has it)'
fi
echo "headlab torch: no Python that imports torch (tried ${tried[*]}); install it: $how" >&2
exit 3
