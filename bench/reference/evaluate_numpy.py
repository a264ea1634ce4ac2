"""The evaluate benchmark's reference: the same per-image and pooled numbers as
`tessera evaluate PRED TRUTH --threshold 0.5 --empty nan`, with Pillow decoding and NumPy counting.

    python evaluate_numpy.py PRED TRUTH [--json FILE]
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def ratio(n, d):
    return n / d if d else float("nan")


def metrics(tp, fp, fn, tn):
    iou = ratio(tp, tp + fp + fn)
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {"iou": iou, "dice": f1, "precision": precision, "recall": recall, "f1": f1,
            "accuracy": ratio(tp + tn, tp + fp + fn + tn), "specificity": ratio(tn, tn + fp),
            "rw-f1": f1 * recall, "rw-iou": iou * recall}


def main():
    pred_dir, truth_dir = sys.argv[1], sys.argv[2]
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(pred_dir))
    pooled = np.zeros(4, np.int64)
    per_image = []
    for name in names:
        pred = np.asarray(Image.open(os.path.join(pred_dir, name + ".png")))
        truth = np.asarray(Image.open(os.path.join(truth_dir, name + ".png"))) > 127
        predicted = pred / 255.0 > 0.5
        tp = int(np.count_nonzero(predicted & truth))
        fp = int(np.count_nonzero(predicted & ~truth))
        fn = int(np.count_nonzero(~predicted & truth))
        tn = truth.size - tp - fp - fn
        pooled += (tp, fp, fn, tn)
        per_image.append(metrics(tp, fp, fn, tn))
    micro = metrics(*[int(v) for v in pooled])
    macro = {k: float(np.nanmean([m[k] for m in per_image])) for k in micro}
    summary = {"images": len(names), "micro": micro, "macro": macro,
               "pooled": dict(zip(["tp", "fp", "fn", "tn"], [int(v) for v in pooled]))}
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as f:
            json.dump(summary, f)


if __name__ == "__main__":
    main()
