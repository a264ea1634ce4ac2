"""The training reference: `tessera train` written the way a PyTorch user writes it.

    python train_torch.py DATASET --model NAME --fold K --epochs E --batch-size B --lr LR
                          [--loss bce] [--schedule constant] [--threads T] [--workers W] [--seed S]
                          [--json-out FILE]

DATASET is a folder made by `tessera prepare` (manifest.csv, dataset.json); this script reads it
itself. The network is bench/reference/networks.py's definition of NAME (as engine_torch.py builds
it), with as many input channels as the dataset has bands and one sigmoid output, and PyTorch's
default initialization.

Tessera's semantics, mirrored:
  - tiles /255 (or /65535 for 16-bit) into 0…1, NCHW; binary masks 0/255 -> labels 0/1;
  - fold K: training = rows with fold != K (augmented copies included), validation = rows with
    fold == K and copy == 0;
  - losses on probabilities clamped to [1e-7, 1 − 1e-7] (no gradient outside): bce = mean BCE;
    weighted-bce = per-image class weights (001 eq. 25–29: wT = HW/Σy, wF = HW/(HW − Σy), 0 for a
    class without pixels), summed over the pixels and averaged over the batch; dice (smooth 1, over
    the batch); bce-dice = (1 − α)·BCE + α·Dice; soft-iou; focal;
  - Adam with β1 0.9, β2 0.999, ε 1e-7; schedule constant, or exponential = lr·rate^(step/steps)
    (smooth, per step);
  - each epoch: the training tiles shuffled, in batches (the last may be smaller), train mode; then
    validation in eval mode: p > threshold, pooled (micro) foreground IoU = TP / (TP + FP + FN).

Prints one JSON line per epoch {epoch, loss, val_loss, val_iou, images_per_s, seconds} and a final
line {final, best_val_iou, best_epoch, images_per_s (median over the epochs after the first), …}.
images_per_s is the training tiles over the wall time of the epoch's training part, data loading
included, as Tessera's `images_per_s`.
"""
import argparse
import csv
import json
import math
import os
import random
import resource
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from networks import build  # noqa: E402

EPS = 1e-7


# MARK: Data

def read_dataset(folder, fold):
    with open(os.path.join(folder, "dataset.json")) as f:
        info = json.load(f)
    bands, classes = int(info["bands"]), info.get("classes")
    if classes is None:
        raise SystemExit(f"{folder}: has no masks (prepare it with --masks)")
    if int(classes) != 2:
        raise SystemExit(f"{folder}: has label masks of {classes} classes; this reference trains binary masks only")
    with open(os.path.join(folder, "manifest.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["mask"]]
    folds = info["settings"]["folds"]
    if not 0 <= fold < folds:
        raise SystemExit(f"{folder}: has no fold {fold}: its folds are 0…{folds - 1}")
    training = [r for r in rows if int(r["fold"]) != fold]
    validation = [r for r in rows if int(r["fold"]) == fold and int(r["copy"]) == 0]
    return bands, training, validation


class Tiles(Dataset):
    """The tiles and masks of manifest rows: (C×H×W float 0…1, 1×H×W labels 0/1)."""

    def __init__(self, folder, rows, bands):
        self.folder, self.rows, self.bands = folder, rows, bands

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        row = self.rows[i]
        image = Image.open(os.path.join(self.folder, row["file"]))
        if image.mode in ("I;16", "I;16B", "I;16L", "I") and self.bands == 1:
            x = np.asarray(image, dtype=np.float32)[None] / 65535.0
        else:
            image = image.convert("L" if self.bands == 1 else "RGB")
            x = np.asarray(image, dtype=np.float32) / 255.0
            x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
        mask = np.asarray(Image.open(os.path.join(self.folder, row["mask"])).convert("L"), dtype=np.float32)
        y = np.minimum(mask / 255.0, 1.0)[None]
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


# MARK: Network

def with_input_channels(model, channels):
    """networks.py builds 3-channel inputs; swaps the convolutions that read the network's input
    for ones of `channels` inputs (same shape otherwise, PyTorch's default initialization)."""
    if channels == 3:
        return model
    probe = torch.zeros(1, 3, 32, 32)
    readers, hooks = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_pre_hook(
                lambda m, args, name=name: readers.append(name) if args[0] is probe else None))
    model.eval()
    with torch.no_grad():
        model(probe)
    for h in hooks:
        h.remove()
    for name in set(readers):
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, attr)
        setattr(parent, attr, nn.Conv2d(channels, old.out_channels, old.kernel_size, stride=old.stride, padding=old.padding,
                                        dilation=old.dilation, groups=old.groups, bias=old.bias is not None))
    with torch.no_grad():
        model(torch.zeros(1, channels, 32, 32))  # every input reader was found, or this fails
    return model


# MARK: Losses (on probabilities)

def bce(p, y):
    return nn.functional.binary_cross_entropy(p.clamp(EPS, 1 - EPS), y)


def weighted_bce(p, y):
    n = y.shape[0]
    plane = y[0].numel()
    positives = y.reshape(n, -1).sum(1)
    negatives = plane - positives
    wt = torch.where(positives > 0, plane / positives.clamp(min=1), torch.zeros_like(positives))
    wf = torch.where(negatives > 0, plane / negatives.clamp(min=1), torch.zeros_like(negatives))
    shape = (n,) + (1,) * (y.dim() - 1)
    w = (y * wt.view(shape) + (1 - y) * wf.view(shape)) / n
    return nn.functional.binary_cross_entropy(p.clamp(EPS, 1 - EPS), y, weight=w, reduction="sum")


def dice(p, y, smooth=1.0):
    return 1 - (2 * (p * y).sum() + smooth) / (p.sum() + y.sum() + smooth)


def soft_iou(p, y):
    inter = (p * y).sum()
    union = p.sum() + y.sum() - inter
    return 1 - inter / union if union > 0 else union * 0


def focal(p, y, gamma, alpha):
    q = p.clamp(EPS, 1 - EPS)
    return -(alpha * y * (1 - q) ** gamma * q.log() + (1 - alpha) * (1 - y) * q ** gamma * (1 - q).log()).mean()


def make_loss(args):
    if args.loss == "bce":
        return bce
    if args.loss == "weighted-bce":
        return weighted_bce
    if args.loss == "dice":
        return dice
    if args.loss == "bce-dice":
        a = args.dice_weight
        return lambda p, y: (1 - a) * bce(p, y) + a * dice(p, y)
    if args.loss == "soft-iou":
        return soft_iou
    if args.loss == "focal":
        return lambda p, y: focal(p, y, args.focal_gamma, args.focal_alpha)
    raise SystemExit(f"unknown loss {args.loss}")


# MARK: Training

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--model", default="half-multiresunet")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--loss", default="bce", choices=["bce", "weighted-bce", "dice", "bce-dice", "soft-iou", "focal"])
    parser.add_argument("--dice-weight", type=float, default=0.5)
    parser.add_argument("--focal-gamma", type=float, default=2.0)
    parser.add_argument("--focal-alpha", type=float, default=0.25)
    parser.add_argument("--schedule", default="constant", choices=["constant", "exponential"])
    parser.add_argument("--decay-rate", type=float, default=0.96)
    parser.add_argument("--decay-steps", type=int, default=800)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workers", type=int, default=1, help="DataLoader worker processes (Tessera's loader_threads is 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", help="also write the JSON lines to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    bands, training, validation = read_dataset(args.dataset, args.fold)
    if not training:
        raise SystemExit(f"fold {args.fold} leaves no tiles to train on")
    sizes = {(r["w"], r["h"]) for r in training + validation}
    if len(sizes) > 1 and args.batch_size > 1:
        raise SystemExit(f"tiles of several sizes {sorted(sizes)} cannot share a batch")

    model = with_input_channels(build(args.model), bands)
    parameters = sum(p.numel() for p in model.parameters())
    loss_fn = make_loss(args)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    scheduler = None
    if args.schedule == "exponential":
        rate, steps = args.decay_rate, args.decay_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: rate ** (step / steps))

    workers = dict(num_workers=args.workers, persistent_workers=args.workers > 0)
    train_loader = DataLoader(Tiles(args.dataset, training, bands), batch_size=args.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(args.seed), **workers)
    val_loader = DataLoader(Tiles(args.dataset, validation, bands), batch_size=args.batch_size, shuffle=False, **workers)

    out = open(args.json_out, "w") if args.json_out else None

    def emit(record):
        line = json.dumps(record)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    best, best_epoch, rates = None, 0, []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        loss_sum, images = 0.0, 0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            if scheduler:
                scheduler.step()
            loss_sum += loss.item() * x.shape[0]
            images += x.shape[0]
        train_seconds = time.perf_counter() - start

        model.eval()
        val_sum, tp, fp, fn = 0.0, 0, 0, 0
        with torch.no_grad():
            for x, y in val_loader:
                p = model(x)
                val_sum += loss_fn(p, y).item() * x.shape[0]
                predicted, truth = p > args.threshold, y >= 0.5
                tp += int((predicted & truth).sum())
                fp += int((predicted & ~truth).sum())
                fn += int((~predicted & truth).sum())
        union = tp + fp + fn
        iou = tp / union if union else math.nan
        rate = images / train_seconds
        rates.append(rate)
        if not math.isnan(iou) and (best is None or iou > best):
            best, best_epoch = iou, epoch
        emit({"epoch": epoch, "loss": loss_sum / max(images, 1), "val_loss": val_sum / len(validation) if validation else None,
              "val_iou": iou, "images_per_s": rate, "seconds": time.perf_counter() - start})

    # Worker processes end with their loaders; their peak is then in RUSAGE_CHILDREN.
    del train_loader, val_loader
    emit({"final": True, "model": args.model, "fold": args.fold, "best_val_iou": best, "best_epoch": best_epoch,
          "images_per_s": statistics.median(rates[1:] if len(rates) > 1 else rates), "parameters": parameters,
          "train_tiles": len(training), "val_tiles": len(validation), "threads": args.threads, "workers": args.workers,
          "torch": torch.__version__,
          "peak_rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
          "peak_rss_workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024})
    if out:
        out.close()


if __name__ == "__main__":
    main()
