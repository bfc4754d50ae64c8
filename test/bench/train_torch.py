#!/usr/bin/python3
"""PyTorch reference for `npm run bench:train` (test/bench/train.ts runs it; not a test).

Trains BNN Lab's `mnist-cnn` and `mnist-resnete` architectures on the CPU with the same batch,
binarization (sgn with zero -> +1, clipped straight-through gradient as a custom autograd
function), batch norm and Adam as BNN Lab, on one fixed random batch, and prints one JSON line:

  /usr/bin/python3 test/bench/train_torch.py --model mnist-cnn --threads 1 --steps 10

    {"model": ..., "threads": 1, "median_ms": ..., "median_cpu_ms": ..., "max_rss_kb": ..., ...}

`median_ms` is the median wall time of a step after the warm-up steps, `median_cpu_ms` the median
CPU time of the process (all threads) per step, `max_rss_kb` the process's peak RSS.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SignSte(torch.autograd.Function):
    """sgn(x) (zero -> +1, as in BNN Lab and Larq) with the gradient dy * 1[|x| <= clip]."""

    @staticmethod
    def forward(ctx, x, clip):
        ctx.save_for_backward(x)
        ctx.clip = clip
        return (x >= 0).to(x.dtype) * 2 - 1

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * (x.abs() <= ctx.clip).to(dy.dtype), None


def sgn(x, clip):
    return SignSte.apply(x, clip)


def glorot(weight):
    nn.init.xavier_uniform_(weight)
    return weight


class BinaryConv2d(nn.Module):
    """3x3 conv of sgn(input) with sgn(latent kernel), no bias (batch norm follows)."""

    def __init__(self, cin, cout, stride, padding, clip):
        super().__init__()
        self.weight = nn.Parameter(glorot(torch.empty(cout, cin, 3, 3)))
        self.stride, self.padding, self.clip = stride, padding, clip

    def forward(self, x):
        return F.conv2d(sgn(x, self.clip), sgn(self.weight, self.clip), None, self.stride, self.padding)


class BinaryDense(nn.Module):
    def __init__(self, cin, cout, clip):
        super().__init__()
        self.weight = nn.Parameter(glorot(torch.empty(cout, cin)))
        self.clip = clip

    def forward(self, x):
        return F.linear(sgn(x, self.clip), sgn(self.weight, self.clip))


def bn2d(c):
    # Keras momentum 0.9 = torch momentum 0.1; Keras' epsilon 1e-3.
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.1)


class MnistCnn(nn.Module):
    """BNN Lab's mnist-cnn (core/bnn/presets.ts): FP conv 1->32, pool, BN, binary conv 32->64,
    pool, BN, binary conv 64->64, BN, flatten, binary dense 576->128, BN, dense 128->10."""

    def __init__(self, clip=1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, bias=False)
        glorot(self.conv1.weight)
        self.bn1 = bn2d(32)
        self.bconv2 = BinaryConv2d(32, 64, 1, 0, clip)
        self.bn2 = bn2d(64)
        self.bconv3 = BinaryConv2d(64, 64, 1, 0, clip)
        self.bn3 = bn2d(64)
        self.bdense4 = BinaryDense(64 * 3 * 3, 128, clip)
        self.bn4 = nn.BatchNorm1d(128, eps=1e-3, momentum=0.1)
        self.dense5 = nn.Linear(128, 10)
        glorot(self.dense5.weight)
        nn.init.zeros_(self.dense5.bias)

    def forward(self, x):
        x = self.bn1(F.max_pool2d(self.conv1(x), 2))
        x = self.bn2(F.max_pool2d(self.bconv2(x), 2))
        x = self.bn3(self.bconv3(x))
        x = self.bn4(self.bdense4(torch.flatten(x, 1)))
        return self.dense5(x)


class ResNetEBlock(nn.Module):
    def __init__(self, cin, cout, stride, clip):
        super().__init__()
        self.conv = BinaryConv2d(cin, cout, stride, 1, clip)
        self.bn = bn2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            layers = [nn.AvgPool2d(2, 2)] if stride != 1 else []
            conv = nn.Conv2d(cin, cout, 1, bias=False)
            glorot(conv.weight)
            self.shortcut = nn.Sequential(*layers, conv, bn2d(cout))

    def forward(self, x):
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return self.bn(self.conv(x)) + shortcut


class ResNetE(nn.Module):
    """BNN Lab's ResNetE (core/bnn/architectures.ts) as in the mnist-resnete preset: stem conv
    3x3 1->32, BN, ReLU, BN; stages 32/64/128 x 2 blocks, the first block of stages 2 and 3 at
    stride 2 with an AvgPool + 1x1 conv + BN shortcut; ReLU, global average pool, dense.
    cifar10-resnete18: 3 input channels, stem 64, stages 64/128/256/512 x 4 blocks."""

    def __init__(
        self, stem=32, stages=(32, 64, 128), blocks=(2, 2, 2), classes=10, clip=1.25, cin=1
    ):
        super().__init__()
        conv = nn.Conv2d(cin, stem, 3, padding=1, bias=False)
        glorot(conv.weight)
        self.stem = nn.Sequential(conv, bn2d(stem), nn.ReLU(), bn2d(stem))
        layers, channels = [], stem
        for stage, filters in enumerate(stages):
            for block in range(blocks[stage]):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(ResNetEBlock(channels, filters, stride, clip))
                channels = filters
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)
        glorot(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = F.relu(self.blocks(self.stem(x)))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def transition_channels(channels, reduction, unit):
    """core/bnn/architectureSpec.ts' transitionChannels: round-half-even((C // r) / unit) * unit."""
    return round((channels // reduction) / unit) * unit


class BinaryDenseNet(nn.Module):
    """BNN Lab's BinaryDenseNet (core/bnn/architectures.ts) as in the cifar10-bdn28 preset: stem
    conv 3x3 3->64, BN, ReLU; dense blocks of 6/6/6/5 layers (BN, binary conv 3x3 -> 64,
    concatenate); transitions BN, max pool 2, ReLU, 1x1 conv (full precision) to
    round((C // r) / 32) * 32 channels; BN, ReLU, global average pool, dense."""

    def __init__(
        self,
        initial=64,
        growth=64,
        blocks=(6, 6, 6, 5),
        reductions=(2.7, 2.7, 2.2),
        unit=32,
        classes=10,
        clip=1.3,
        cin=3,
    ):
        super().__init__()
        conv = nn.Conv2d(cin, initial, 3, padding=1, bias=False)
        glorot(conv.weight)
        self.stem = nn.Sequential(conv, bn2d(initial), nn.ReLU())
        self.layers = nn.ModuleList()
        self.plan = []
        channels = initial
        for block, count in enumerate(blocks):
            for _ in range(count):
                self.layers.append(
                    nn.Sequential(bn2d(channels), BinaryConv2d(channels, growth, 1, 1, clip))
                )
                self.plan.append("dense")
                channels += growth
            if block == len(blocks) - 1:
                break
            out = transition_channels(channels, reductions[block], unit)
            conv = nn.Conv2d(channels, out, 1, bias=False)
            glorot(conv.weight)
            self.layers.append(
                nn.Sequential(bn2d(channels), nn.MaxPool2d(2, 2, ceil_mode=True), nn.ReLU(), conv)
            )
            self.plan.append("transition")
            channels = out
        self.head_bn = bn2d(channels)
        self.head = nn.Linear(channels, classes)
        glorot(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.stem(x)
        for kind, layer in zip(self.plan, self.layers):
            x = torch.cat([x, layer(x)], 1) if kind == "dense" else layer(x)
        x = F.relu(self.head_bn(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnete18():
    return ResNetE(stem=64, stages=(64, 128, 256, 512), blocks=(4, 4, 4, 4), clip=1.25, cin=3)


MODELS = {
    "mnist-cnn": MnistCnn,
    "mnist-resnete": ResNetE,
    "cifar10-resnete18": resnete18,
    "cifar10-bdn28": BinaryDenseNet,
}
# Input shape (channels, height, width) per model; the CIFAR presets' real 3x32x32.
INPUT_SHAPES = {"cifar10-resnete18": (3, 32, 32), "cifar10-bdn28": (3, 32, 32)}
# The presets' latentClip: latent binary weights clipped to [-c, c] after every step.
LATENT_CLIP = {"mnist-resnete": 1.25, "cifar10-resnete18": 1.25, "cifar10-bdn28": 1.3}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="mnist-cnn")
    parser.add_argument("--threads", default="1", help="a number, or 'all' for every core")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (npm run bench:gpu)")
    args = parser.parse_args()
    device = torch.device(args.device)

    threads = os.cpu_count() if args.threads == "all" else int(args.threads)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MODELS[args.model]().to(device)
    model.train()
    # tfjs' Adam: beta1 0.9, beta2 0.999, epsilon 1e-7.
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
    images = torch.rand(args.batch, *INPUT_SHAPES.get(args.model, (1, 28, 28))).to(device)
    latent = [m.weight for m in model.modules() if isinstance(m, (BinaryConv2d, BinaryDense))]
    latent_clip = LATENT_CLIP.get(args.model, 0)
    labels = torch.randint(0, 10, (args.batch,)).to(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        if latent_clip > 0:
            with torch.no_grad():
                for w in latent:
                    w.clamp_(-latent_clip, latent_clip)
        return loss.item()

    for _ in range(args.warmup):
        step()
    wall, cpu = [], []
    loss = float("nan")
    for _ in range(args.steps):
        w0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    print(
        json.dumps(
            {
                "model": args.model,
                "framework": "pytorch",
                "version": torch.__version__,
                "threads": threads,
                "device": str(device),
                "batch": args.batch,
                "steps": args.steps,
                "warmup": args.warmup,
                "params": sum(p.numel() for p in model.parameters()),
                "median_ms": statistics.median(wall),
                "median_cpu_ms": statistics.median(cpu),
                "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "loss": loss,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
