"""BNN Lab live telemetry for PyTorch training scripts.

Writes a BNN Lab run folder (``config.json`` and ``metrics.jsonl`` with ``start``, ``step``,
``epoch`` and ``done`` records, docs/metrics.md) while your own script trains, so the BNN Lab
side panel can follow the run live ("BNN Lab: Follow External Run...").

Two lines::

    import bnn_lab_telemetry as bnnlab
    run = bnnlab.watch(model, "runs/resnet18-recu", optimizer=optimizer)   # once
    ...
    run.step(loss, accuracy=acc)   # after every optimizer.step()

Optional: ``run.epoch(test_loss=..., test_accuracy=...)`` after each evaluation and
``run.close()`` at the end (otherwise the run is closed when Python exits: ``completed``, or
``failed`` with the exception's message when an uncaught exception ends the script).

Per-layer metrics are computed with torch on the device the weights live on (float64 sums),
with the definitions of BNN Lab's docs/metrics.md. Under ``torch.distributed`` only rank 0
writes; loss and accuracy are averaged over the ranks at each report. Needs torch only.
"""

import atexit
import json
import math
import os
import re
import sys
import time

import torch

__all__ = ["watch", "Run", "binary_layer_names"]
__version__ = "1"

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"

# Module class names of the BNN code bases whose weights are binarized in the forward pass:
# ReCU/XNOR `BinarizeConv2d`, IR-Net `IRConv2d`, Bi-Real/ReActNet `HardBinaryConv`, ...
_BINARY_CLASS = re.compile(r"binar|hardbinary|irconv|xnor|bconv|bin_?conv|bin_?linear", re.I)


def _unwrap(model):
    """The model inside DistributedDataParallel / DataParallel wrappers."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model


def _dist():
    """(rank, world size); (0, 1) without torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _kind(module):
    name = type(module).__name__
    if isinstance(module, torch.nn.Linear) or "linear" in name.lower():
        return "dense"
    if isinstance(module, (torch.nn.modules.batchnorm._BatchNorm,)):
        return "batchNormalization"
    if isinstance(module, torch.nn.Conv2d) or "conv" in name.lower():
        return "conv2d"
    return name[:1].lower() + name[1:]


def _weight_modules(model):
    """(parameter name, module, weight) of every module with a rank-2 or rank-4 weight."""
    out = []
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.nn.Parameter) and weight.dim() in (2, 4):
            out.append((f"{name}.weight" if name else "weight", module, weight))
    return out


def binary_layer_names(model, binary=None):
    """Parameter names whose weights are treated as binary.

    ``binary``: None (module classes named like binary layers; when there are none, every conv
    and linear weight but the first and the last, the usual BNN layout), a regular expression
    matched against parameter names, a list of names, or a callable ``(name, module) -> bool``.
    """
    candidates = _weight_modules(_unwrap(model))
    if binary is None:
        names = [n for n, m, _ in candidates if _BINARY_CLASS.search(type(m).__name__)]
        if names:
            return names
        return [n for n, _, _ in candidates[1:-1]]
    if isinstance(binary, str):
        pattern = re.compile(binary, re.I)
        return [n for n, _, _ in candidates if pattern.search(n)]
    if callable(binary):
        return [n for n, m, _ in candidates if binary(n, m)]
    wanted = set(binary)
    missing = wanted - {n for n, _, _ in candidates}
    if missing:
        raise ValueError(f"bnn_lab_telemetry: no rank-2/4 weight named {sorted(missing)}")
    return [n for n, _, _ in candidates if n in wanted]


def _entropy_bits(p):
    if p <= 0 or p >= 1:
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def weight_stats(weight, bins=64, dead_tau=0.99, clip=None):
    """The per-layer metrics of docs/metrics.md for one PyTorch weight (output channels first).

    Computed on the weight's device in float64; returns plain Python numbers and lists.
    """
    w = weight.detach()
    if w.device.type == "mps":  # no float64 on MPS
        w = w.cpu()
    w = w.to(torch.float64).reshape(-1)
    n = w.numel()
    channels = weight.shape[0] if weight.dim() > 0 else 1
    per = n // channels
    a = w.abs()
    channel_abs = a.view(channels, per).sum(dim=1)
    totals = torch.stack(
        [w.sum(), (w * w).sum(), a.sum(), (w >= 0).sum().to(torch.float64)]
    ).tolist()
    total, total_sq, abs_sum, positives = totals
    finite = w[torch.isfinite(w)]
    lo = finite.min().item() if finite.numel() else 0.0
    hi = finite.max().item() if finite.numel() else 0.0
    alpha = channel_abs / per
    mean = total / n
    abs_mean = abs_sum / n
    variance = max(0.0, total_sq / n - mean * mean)
    q = -abs_mean * math.log(2 - 2 * dead_tau)
    err = (a.view(channels, per) - alpha.view(channels, 1)).pow(2).sum()
    dead = (a > q).sum()
    starved = (a >= clip).sum() if clip is not None else None
    span = hi - lo
    if span > 0 and math.isfinite(span) and math.isfinite(total):
        index = torch.floor((w - lo) * (bins / span)).clamp_(max=bins - 1).to(torch.int64)
        counts = torch.bincount(index, minlength=bins)
    else:
        counts = torch.zeros(bins, dtype=torch.int64, device=w.device)
        counts[0] = n
    err, dead = err.item(), dead.item()
    balance = positives / n
    return {
        "params": n,
        "mean": mean,
        "std": math.sqrt(variance),
        "min": lo,
        "max": hi,
        "absMean": abs_mean,
        "histogram": {"min": lo, "max": hi, "counts": counts.tolist()},
        "quantizationError": err / total_sq if total_sq > 0 else 0.0,
        "deadWeightRatio": dead / n,
        "starvedWeightRatio": None if starved is None else starved.item() / n,
        "signBalance": balance,
        "signEntropyBits": _entropy_bits(balance),
        "alpha": alpha.tolist(),
    }


class _SignTracker:
    """Per-step flip fraction (Larq's FlipRatio) and never-flipped share, kept on the device."""

    def __init__(self, weight):
        self.signs = weight.detach() >= 0
        self.ever = torch.zeros_like(self.signs)
        self.flip_sum = torch.zeros((), dtype=torch.float64, device=weight.device)
        self.steps = 0

    def update(self, weight):
        signs = weight.detach() >= 0
        changed = signs != self.signs
        self.flip_sum += changed.sum().to(torch.float64) / max(1, changed.numel())
        self.ever |= changed
        self.signs = signs
        self.steps += 1

    def take_flip_rate(self):
        rate = self.flip_sum.item() / self.steps if self.steps else 0.0
        self.flip_sum.zero_()
        self.steps = 0
        return rate

    def frozen_ratio(self):
        n = self.ever.numel()
        return 1.0 - self.ever.sum().item() / n if n else 1.0


class Run:
    """One run folder being written; see :func:`watch`."""

    def __init__(
        self,
        model,
        folder,
        optimizer=None,
        every=10,
        binary=None,
        name=None,
        bins=64,
        dead_tau=0.99,
        clip=None,
        batch_size=None,
        epochs=0,
        steps_per_epoch=0,
        dataset="pytorch",
        seed=None,
        config=None,
    ):
        if every < 1:
            raise ValueError(f"bnn_lab_telemetry: every must be >= 1, got {every}")
        if not 0.5 < dead_tau < 1:
            raise ValueError(f"bnn_lab_telemetry: dead_tau must be in (0.5, 1), got {dead_tau}")
        self.model = _unwrap(model)
        self.optimizer = optimizer
        self.every = every
        self.bins = bins
        self.dead_tau = dead_tau
        self.clip = clip
        self.rank, self.world = _dist()
        # `{time}` becomes the local time, as in BNN Lab's own run names (Runs view order).
        self.folder = os.path.abspath(str(folder).replace("{time}", time.strftime("%Y%m%d-%H%M%S")))
        self.closed = False
        self.epoch_number = 1
        self.global_step = 0
        self.last_test_accuracy = None
        self._local_only = False
        self._epoch_steps = 0
        self._reset_report()
        self._epoch_loss = 0.0
        self._epoch_correct = 0.0
        self._epoch_examples = 0
        self._epoch_start = time.time()
        self._batch_size = batch_size
        modules = _weight_modules(self.model)
        self.binary_names = binary_layer_names(self.model, binary)
        by_name = {n: (m, w) for n, m, w in modules}
        self.tracked = [(n, by_name[n][1]) for n in self.binary_names]
        self.trackers = {}
        if self.rank != 0:
            return
        self.trackers = {n: _SignTracker(w) for n, w in self.tracked}
        if os.path.exists(os.path.join(self.folder, METRICS_FILE)):
            raise FileExistsError(
                f"bnn_lab_telemetry: {self.folder} already holds a run (metrics.jsonl); "
                "a run folder is never reused, choose a new folder"
            )
        os.makedirs(self.folder, exist_ok=True)
        device = next((w.device for _, _, w in modules), torch.device("cpu"))
        lr = self._learning_rate()
        run_config = {
            "preset": name or f"pytorch:{type(self.model).__name__}",
            "epochs": epochs,
            "batchSize": batch_size or 0,
            "learningRate": lr,
            "seed": seed if seed is not None else torch.initial_seed() % (2**31),
            "dataset": {"name": dataset},
            "limit": 0,
            "testLimit": 0,
            "telemetryEverySteps": every,
            "histogramBins": bins,
            "deadTau": dead_tau,
            "source": "pytorch",
        }
        if config:
            run_config["user"] = config
        with open(os.path.join(self.folder, CONFIG_FILE), "x", encoding="utf-8") as f:
            json.dump(run_config, f, indent=2)
            f.write("\n")
        self._file = open(os.path.join(self.folder, METRICS_FILE), "a", encoding="utf-8")
        layers = []
        for n, m, w in modules:
            is_binary = n in self.binary_names
            layers.append(
                {
                    "name": n,
                    "kind": _kind(m),
                    "shape": list(w.shape),
                    "binary": is_binary,
                    "quantizer": (f"{type(m).__name__} (PyTorch)" if is_binary else ""),
                    "params": w.numel(),
                }
            )
        self._write(
            {
                "event": "start",
                "runId": os.path.basename(self.folder.rstrip(os.sep)),
                "preset": run_config["preset"],
                "config": run_config,
                "layers": layers,
                "backend": {
                    "name": "pytorch",
                    "tfBackend": f"torch {torch.__version__} on {device}",
                    "threads": self.world,
                    "skipped": [],
                },
                "stepsPerEpoch": steps_per_epoch,
                "totalSteps": steps_per_epoch * epochs,
                "time": _now_ms(),
            }
        )
        _register(self)

    # ---- public API -----------------------------------------------------------------------

    def step(self, loss, accuracy=None, batch_size=None, learning_rate=None):
        """Call once after every optimizer step (on every rank under DDP).

        ``loss``: the batch loss (tensor or number); ``accuracy``: the batch accuracy in [0, 1]
        (tensor or number), optional; ``batch_size``: examples in this rank's batch.
        """
        self.global_step += 1
        batch = batch_size or self._batch_size or 1
        loss_v = loss.detach().to(torch.float64) if torch.is_tensor(loss) else float(loss)
        acc_v = 0.0 if accuracy is None else accuracy
        acc_v = acc_v.detach().to(torch.float64) if torch.is_tensor(acc_v) else float(acc_v)
        self._report_loss = self._report_loss + loss_v
        self._report_correct = self._report_correct + acc_v * batch
        self._report_examples += batch
        self._report_steps += 1
        self._has_accuracy = self._has_accuracy or accuracy is not None
        for n, w in self.tracked:
            if n in self.trackers:
                self.trackers[n].update(w)
        if self.global_step % self.every == 0:
            self._report(learning_rate)

    def epoch(self, test_loss, test_accuracy, checkpoint=None):
        """Call after each epoch's evaluation on the test set (every rank under DDP).

        Writes an ``epoch`` record (train figures averaged since the last epoch) and starts the
        next epoch. ``checkpoint``: a path you saved, shown with the epoch (optional).
        """
        if self._report_steps:
            self._report(None)
        loss, correct, examples = self._reduce(
            self._epoch_loss, self._epoch_correct, self._epoch_examples
        )
        steps = max(1, self._epoch_steps)
        now = time.time()
        self.last_test_accuracy = float(test_accuracy)
        if self.rank == 0 and not self.closed:
            self._write(
                {
                    "event": "epoch",
                    "epoch": self.epoch_number,
                    "step": self.global_step,
                    "trainLoss": loss / steps,
                    "trainAccuracy": correct / examples if examples else 0.0,
                    "testLoss": float(test_loss),
                    "testAccuracy": self.last_test_accuracy,
                    "durationMs": int((now - self._epoch_start) * 1000),
                    "checkpoint": checkpoint,
                    "time": _now_ms(),
                }
            )
        self.epoch_number += 1
        self._epoch_loss = 0.0
        self._epoch_correct = 0.0
        self._epoch_examples = 0
        self._epoch_steps = 0
        self._epoch_start = now

    def close(self, status="completed", message=None):
        """Writes the ``done`` record (``completed``, ``cancelled`` or ``failed``)."""
        if self.closed:
            return
        if status == "completed" and self._report_steps:
            self._report(None)
        self.closed = True
        if self.rank != 0:
            return
        record = {"event": "done", "status": status, "testAccuracy": self.last_test_accuracy}
        if message:
            record["message"] = message
        record["time"] = _now_ms()
        self._write(record)
        self._file.close()
        _unregister(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, _tb):
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("cancelled", "interrupted (KeyboardInterrupt)")
        else:
            self.close("failed", f"{exc_type.__name__}: {exc}")
        return False

    # ---- internals ------------------------------------------------------------------------

    def _reset_report(self):
        self._report_loss = 0.0
        self._report_correct = 0.0
        self._report_examples = 0
        self._report_steps = 0
        self._has_accuracy = False
        self._report_start = time.time()

    def _learning_rate(self):
        if self.optimizer is None:
            return 0.0
        return float(self.optimizer.param_groups[0]["lr"])

    def _reduce(self, loss, correct, examples):
        """Sums over the ranks (every rank calls this at the same step), as Python floats."""
        values = [
            v.item() if torch.is_tensor(v) else float(v) for v in (loss, correct, examples)
        ]
        if self.world == 1 or self._local_only or not torch.distributed.is_initialized():
            return values[0], values[1], values[2]
        # gloo reduces CPU tensors; NCCL only CUDA tensors, on this rank's current device.
        device = torch.device("cpu")
        if torch.distributed.get_backend() != "gloo" and torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
        t = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(t)
        t /= self.world
        loss, correct, examples = t.tolist()
        return loss, correct, examples

    def _report(self, learning_rate):
        steps = self._report_steps
        loss, correct, examples = self._reduce(
            self._report_loss, self._report_correct, self._report_examples
        )
        self._epoch_loss += loss
        self._epoch_correct += correct
        self._epoch_examples += examples
        self._epoch_steps += steps
        now = time.time()
        elapsed = max(1e-3, now - self._report_start)
        if self.rank == 0 and not self.closed:
            layers = []
            for n, w in self.tracked:
                stats = weight_stats(w, self.bins, self.dead_tau, self.clip)
                tracker = self.trackers[n]
                stats["name"] = n
                stats["flipRate"] = tracker.take_flip_rate()
                stats["frozenRatio"] = tracker.frozen_ratio()
                layers.append(stats)
            self._write(
                {
                    "event": "step",
                    "epoch": self.epoch_number,
                    "step": self.global_step,
                    "loss": loss / steps,
                    "accuracy": correct / examples if examples else 0.0,
                    "learningRate": float(learning_rate)
                    if learning_rate is not None
                    else self._learning_rate(),
                    "examplesPerSecond": examples * self.world / elapsed,
                    "layers": layers,
                    "time": _now_ms(),
                }
            )
        self._reset_report()

    def _write(self, record):
        # One write per line, flushed: a reader sees whole lines, or a cut-off last line.
        self._file.write(json.dumps(_finite(record), allow_nan=False, separators=(",", ":")) + "\n")
        self._file.flush()


def watch(model, folder, **options):
    """Hooks ``model`` and starts a run folder at ``folder`` (created; never reused; ``{time}``
    in it becomes ``YYYYMMDD-HHMMSS``, e.g. ``".bnn-lab/runs/{time}-resnet18"``).

    Options: ``optimizer`` (learning rate for the records), ``every`` (report every N steps,
    10), ``binary`` (which weights are binary, see :func:`binary_layer_names`), ``name``,
    ``bins`` (64), ``dead_tau`` (0.99), ``clip`` (the STE's t_clip, for starvedWeightRatio),
    ``batch_size``, ``epochs``, ``steps_per_epoch``, ``dataset``, ``seed``, ``config``
    (anything JSON, kept under ``config.user``).
    """
    return Run(model, folder, **options)


def _finite(value):
    """JSON has no NaN or Infinity: non-finite numbers are written as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _now_ms():
    return int(time.time() * 1000)


# Open runs are closed when Python exits: `failed` when an uncaught exception ended the script.
_open_runs = []
_failure = [None]
_previous_hook = sys.excepthook


def _excepthook(exc_type, exc, tb):
    if issubclass(exc_type, KeyboardInterrupt):
        _failure[0] = ("cancelled", "interrupted (KeyboardInterrupt)")
    else:
        _failure[0] = ("failed", f"{exc_type.__name__}: {exc}")
    _close_all()
    _previous_hook(exc_type, exc, tb)


def _close_all():
    status, message = _failure[0] or ("completed", None)
    for run in list(_open_runs):
        # Exiting: the other ranks may be gone, so no collective operations any more.
        run._local_only = True
        try:
            run.close(status, message)
        except Exception:  # noqa: BLE001 - exiting: nothing better to do than keep going
            pass


def _register(run):
    if not _open_runs and sys.excepthook is not _excepthook:
        sys.excepthook = _excepthook
    _open_runs.append(run)


def _unregister(run):
    if run in _open_runs:
        _open_runs.remove(run)


atexit.register(_close_all)
