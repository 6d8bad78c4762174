#!/usr/bin/env bash
# Regenerates the worked example the page shows when WebGPU is unavailable (public/example/demo-example.json): head
# similarity, the race's lanes (mean-pool, aligned, DHA at two splits, latent KV) at its budget with DHA's search path, each trained the same way (the page's
# CPU-fallback race defaults), computed by the lab on the built-in demo. Takes a few minutes on SwiftShader.
set -euo pipefail
cd "$(dirname "$0")/.."
node bin/headlab.mjs example public/demo/demo-mha-bytes.bin --text public/demo/demo-stories.txt --out public/example/demo-example.json
