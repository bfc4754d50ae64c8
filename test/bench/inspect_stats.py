"""Reference for `npm run bench:inspect`: the per-layer statistics of docs/metrics.md computed
with torch (loading) and numpy (math), timed the same way as BNN Lab's weightStats.

    /usr/bin/python3 test/bench/inspect_stats.py FILE.pth [--repeats N] [--tau T] [--json OUT]

Loads the state dict once, then computes, for every float tensor of rank 2 or 4 (output channel
= first axis, as PyTorch stores it): params, mean, std (population), min, max, absMean, a 64-bin
histogram over [min, max], alpha per channel, quantizationError, deadWeightRatio (tau), signBalance
and signEntropyBits, with float64 accumulation. Prints one JSON line: load time, the median
statistics time over the repeats (wall and CPU), and optionally writes the metrics for
cross-checking against BNN Lab.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch


def layer_stats(w, tau):
    x = w.reshape(-1).astype(np.float64)
    n = x.size
    mean = float(x.mean())
    sq = float(np.dot(x, x))
    std = math.sqrt(max(0.0, sq / n - mean * mean))
    lo = float(x.min())
    hi = float(x.max())
    ax = np.abs(x)
    abs_mean = float(ax.mean())
    counts, _ = np.histogram(x, bins=64, range=(lo, hi) if hi > lo else (lo, lo + 1))
    per_channel = ax.reshape(w.shape[0], -1)
    alpha = per_channel.mean(axis=1)
    err = per_channel - alpha[:, None]
    qe = float(np.einsum('ij,ij->', err, err)) / sq if sq > 0 else 0.0
    q = -abs_mean * math.log(2 - 2 * tau)
    dead = float(np.count_nonzero(ax > q)) / n
    p = float(np.count_nonzero(x >= 0)) / n
    entropy = 0.0 if p <= 0 or p >= 1 else -p * math.log2(p) - (1 - p) * math.log2(1 - p)
    return {
        'params': n, 'mean': mean, 'std': std, 'min': lo, 'max': hi, 'absMean': abs_mean,
        'histogram': counts.tolist(), 'alpha': alpha.tolist(), 'quantizationError': qe,
        'deadWeightRatio': dead, 'signBalance': p, 'signEntropyBits': entropy,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('file')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--tau', type=float, default=0.99)
    parser.add_argument('--json', help='write the metrics of the last repeat here')
    args = parser.parse_args()

    t0, c0 = time.perf_counter(), time.process_time()
    state = torch.load(args.file, map_location='cpu')
    weights = [(k, v.detach().float().numpy()) for k, v in state.items()
               if torch.is_tensor(v) and v.is_floating_point() and v.dim() in (2, 4)]
    load = {'wallMs': (time.perf_counter() - t0) * 1e3, 'cpuMs': (time.process_time() - c0) * 1e3}

    walls, cpus, result = [], [], {}
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = {name: layer_stats(w, args.tau) for name, w in weights}
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    params = sum(w.size for _, w in weights)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f)
    json.dump({
        'params': params, 'tensors': len(weights), 'load': load,
        'statsWallMs': statistics.median(walls), 'statsCpuMs': statistics.median(cpus),
        'torch': torch.__version__, 'numpy': np.__version__,
        'threads': torch.get_num_threads(),
    }, sys.stdout)
    print()


if __name__ == '__main__':
    main()
