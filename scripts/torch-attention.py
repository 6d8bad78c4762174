# PyTorch's figure for `headlab bench --attention`: causal scaled-dot-product attention in f32 (TF32 off), 8 sequences of
# GPT-2-small's 12 heads x 64, per sequence length, on the same GPU; GFLOP/s counts the same useful work (lower triangle).
# Usage: python3 torch-attention.py [T ...]  -> one JSON object on stdout. Runs on the GPU machine (scripts/gpu-measure.sh).
import json, sys, time, torch
import torch.nn.functional as F
torch.backends.cuda.matmul.allow_tf32 = False; torch.backends.cudnn.allow_tf32 = False
B, H, D = 8, 12, 64
out = {'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'attention': []}
for T in [int(a) for a in sys.argv[1:]] or [256, 1024, 2048]:
    q, k, v = (torch.randn(B, H, T, D, device='cuda') for _ in range(3))
    f = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    f(); torch.cuda.synchronize(); n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0: f(); n += 1
    torch.cuda.synchronize(); s = (time.perf_counter() - t0) / n
    out['attention'].append({'B': B, 'T': T, 'heads': H, 'headDim': D, 'ms': s * 1e3, 'gflops': 4 * B * H * D * T * (T + 1) / 2 / s / 1e9})
print(json.dumps(out))
