"""Writes the metric fixtures and the values scikit-learn and NumPy compute for them.

Run from this folder with numpy, scikit-learn and Pillow installed:
    python make_fixtures.py
It rewrites binary/, labels/ and expected.json. The Swift tests compare Tessera's numbers with
expected.json; nothing here uses Tessera.
"""
import json
import os
import shutil

import numpy as np
from PIL import Image
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, jaccard_score,
                             multilabel_confusion_matrix, precision_score, recall_score)

rng = np.random.default_rng(2026)
H, W = 30, 40
POLICIES = {"nan": np.nan, "one": 1.0, "zero": 0.0, "skip": np.nan}
METRICS = ["iou", "dice", "precision", "recall", "f1", "accuracy", "specificity", "rw-f1", "rw-iou"]


def blobs(h, w, n, radius):
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(n):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
    return mask


def save(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)


def sk_metrics(truth, pred, zero_division):
    """Per-metric values from scikit-learn (binary, positive label 1). For NaN, a metric is
    undefined where scikit-learn's value depends on zero_division (0 and 1 give different values)."""
    if isinstance(zero_division, float) and np.isnan(zero_division):
        lo, hi = sk_values(truth, pred, 0.0), sk_values(truth, pred, 1.0)
        base = {k: (lo[k] if lo[k] == hi[k] else np.nan) for k in lo}
    else:
        base = sk_values(truth, pred, zero_division)
    values = dict(base)
    values["dice"] = values["f1"]
    values["rw-f1"] = values["f1"] * values["recall"]
    values["rw-iou"] = values["iou"] * values["recall"]
    return {k: float(v) for k, v in values.items()}


def sk_values(truth, pred, zd):
    t, p = truth.ravel().astype(int), pred.ravel().astype(int)
    return {
        "iou": jaccard_score(t, p, zero_division=zd),
        "precision": precision_score(t, p, zero_division=zd),
        "recall": recall_score(t, p, zero_division=zd),
        "f1": f1_score(t, p, zero_division=zd),
        "accuracy": accuracy_score(t, p),
        "specificity": recall_score(t, p, pos_label=0, zero_division=zd),
    }


def counts(truth, pred):
    tn, fp, fn, tp = confusion_matrix(truth.ravel().astype(int), pred.ravel().astype(int), labels=[0, 1]).ravel()
    return {"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)}


def num(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def summary(truths, preds, policy):
    """Micro (pooled) and macro (mean, population std, n over defined values) as Tessera defines them."""
    zd = POLICIES[policy]
    keep = [i for i in range(len(truths)) if not (policy == "skip" and not truths[i].any())]
    per = [sk_metrics(truths[i], preds[i], zd) for i in keep]
    macro = {}
    for m in METRICS:
        vals = np.array([p[m] for p in per], float)
        n = int(np.sum(~np.isnan(vals)))
        macro[m] = {"mean": num(np.nanmean(vals)) if n else None,
                    "std": num(np.nanstd(vals)) if n else None, "n": n}
    if keep:
        pooled_t = np.concatenate([truths[i].ravel() for i in keep])
        pooled_p = np.concatenate([preds[i].ravel() for i in keep])
        micro = {k: num(v) for k, v in sk_metrics(pooled_t, pooled_p, zd).items()}
    else:
        micro = {m: None for m in METRICS}
    return {"micro": micro, "macro": macro, "images": len(keep),
            "per_image": [{k: num(v) for k, v in p.items()} for p in per]}


def binary_set():
    shutil.rmtree("binary", ignore_errors=True)
    cases = {}
    t = blobs(H, W, 4, 4); p = t.copy(); p[rng.random((H, W)) < 0.08] ^= True
    cases["normal"] = (t, p, "png8", "png8")
    cases["empty_both"] = (np.zeros((H, W), bool), np.zeros((H, W), bool), "png8", "png8")
    fp = np.zeros((H, W), bool); fp[3:6, 3:9] = True
    cases["empty_truth_fp"] = (np.zeros((H, W), bool), fp, "png8", "png8")
    cases["empty_pred"] = (blobs(H, W, 2, 3), np.zeros((H, W), bool), "png8", "png8")
    allp = np.ones((H, W), bool); allp[0, :7] = False
    cases["all_foreground"] = (np.ones((H, W), bool), allp, "png8", "png8")
    one = np.zeros((H, W), bool); one[17, 23] = True
    onep = one.copy(); onep[2, 2] = True
    cases["single_pixel"] = (one, onep, "png01", "png01")
    # Probability maps: truth written as 0/1 PNG for the first, 0/255 for the others.
    truth8 = blobs(H, W, 5, 5)
    prob8 = np.clip(truth8 * 170 + rng.integers(0, 120, (H, W)), 0, 255).astype(np.uint8)
    prob8[0, :6] = [127, 128, 0, 255, 51, 52]   # on and around the 0.5 and 0.2 thresholds
    cases["prob8"] = (truth8, prob8, "png01", "prob8")
    truth16 = blobs(H, W, 3, 6)
    prob16 = np.clip(truth16 * 30000 + rng.integers(0, 40000, (H, W)), 0, 65535).astype(np.uint16)
    prob16[0, :4] = [32767, 32768, 0, 65535]
    cases["prob16"] = (truth16, prob16, "png8", "prob16")
    truthf = blobs(H, W, 4, 5)
    probf = np.clip(truthf * 0.45 + rng.random((H, W)) * 0.6, 0, 1).astype(np.float32)
    probf[0, :5] = np.float32([0.5, 0.3, 0.30000001, 0.0, 1.0])
    cases["probfloat"] = (truthf, probf, "png8", "tiff")
    names = sorted(cases)
    truths, preds_at_half, maps = [], [], {}
    for name in names:
        t, p, tfmt, pfmt = cases[name]
        save(f"binary/truth/{name}.png", (t * (1 if tfmt == "png01" else 255)).astype(np.uint8))
        if pfmt in ("png8", "png01"):
            save(f"binary/pred/{name}.png", (p * (1 if pfmt == "png01" else 255)).astype(np.uint8))
            pb = p.astype(bool)
            maps[name] = ("int", p.astype(np.int64) * (1 if pfmt == "png01" else 255), 1 if pfmt == "png01" else 255)
        elif pfmt == "prob8":
            save(f"binary/pred/{name}.png", p)
            pb = p / 255.0 > 0.5
            maps[name] = ("int", p.astype(np.int64), 255)
        elif pfmt == "prob16":
            Image.fromarray(p).save(f"binary/pred/{name}.png")
            pb = p / 65535.0 > 0.5
            maps[name] = ("int", p.astype(np.int64), 65535)
        else:
            Image.fromarray(p, "F").save(f"binary/pred/{name}.tif")
            pb = p > np.float32(0.5)
            maps[name] = ("float", p, None)
        truths.append(t.astype(bool)); preds_at_half.append(pb)
    out = {"names": names, "counts": {n: counts(truths[i], preds_at_half[i]) for i, n in enumerate(names)},
           "policies": {pol: summary(truths, preds_at_half, pol) for pol in POLICIES}}
    # Sweep over pooled counts of every image, thresholds k/100; integer maps compared as v/max > k/100
    # in float64, float maps as float32 > float32(k/100).
    sweep = []
    for k in range(101):
        tot = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
        for i, n in enumerate(names):
            kind, values, mx = maps[n]
            pb = (values / mx > k / 100) if kind == "int" else (values > np.float32(k / 100))
            c = counts(truths[i], pb)
            for key in tot:
                tot[key] += c[key]
        sweep.append(tot)
    out["sweep"] = sweep
    # Threshold 0.3 for the maps, to check a second threshold.
    at03 = {}
    for i, n in enumerate(names):
        kind, values, mx = maps[n]
        pb = (values / mx > 0.3) if kind == "int" else (values > np.float32(0.3))
        at03[n] = counts(truths[i], pb)
    out["counts_at_0.3"] = at03
    return out


def label_set():
    shutil.rmtree("labels", ignore_errors=True)
    h, w, n = 20, 25, 4
    names, truths, preds = ["a", "b", "c"], [], []
    for idx, name in enumerate(names):
        t = rng.integers(0, 3 if name == "c" else n, (h, w)).astype(np.uint8)  # class 3 absent in c
        p = t.copy()
        flip = rng.random((h, w)) < 0.2
        p[flip] = rng.integers(0, 3 if name == "c" else n, int(flip.sum()))
        save(f"labels/truth/{name}.png", t)
        save(f"labels/pred/{name}.png", p)
        truths.append(t); preds.append(p)
    out = {"names": names, "classes": n, "policies": {}}
    for pol, zd in POLICIES.items():
        per_class = []
        for c in range(n):
            tb = [t == c for t in truths]
            pb = [p == c for p in preds]
            per_class.append(summary(tb, pb, pol))
        out["policies"][pol] = per_class
    mcm = [multilabel_confusion_matrix(t.ravel(), p.ravel(), labels=list(range(n))) for t, p in zip(truths, preds)]
    out["counts"] = {name: [{"tp": int(m[c][1, 1]), "fp": int(m[c][0, 1]), "fn": int(m[c][1, 0]), "tn": int(m[c][0, 0])}
                            for c in range(n)] for name, m in zip(names, mcm)}
    # Mean IoU over classes 1..3 of the pooled (micro) per-class values, scikit-learn's way.
    allt = np.concatenate([t.ravel() for t in truths]); allp = np.concatenate([p.ravel() for p in preds])
    out["mean_iou_ignore_background"] = float(np.mean(jaccard_score(allt, allp, labels=[1, 2, 3], average=None)))
    out["mean_iou_all"] = float(jaccard_score(allt, allp, labels=[0, 1, 2, 3], average="macro"))
    return out


expected = {"binary": binary_set(), "labels": label_set()}
with open("expected.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("wrote binary/, labels/, expected.json")
