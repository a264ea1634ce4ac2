"""The segment reference for memory: a whole image segmented the way a MONAI user does it, with
the weights of a `tessera train` checkpoint in bench/reference/networks.py's PyTorch definition.

    python segment_monai.py CHECKPOINT IMAGE OUT.png [--tile 512] [--overlap 64] [--batch 4]
                            [--threads 2] [--stop-above MB] [--json-out FILE]

The image is read whole (tifffile for TIFF, Pillow otherwise), made a 1×3×H×W float tensor in
0…1, and given to monai.inferers.sliding_window_inference with MONAI's defaults except
roi_size = --tile, sw_batch_size = --batch, overlap = --overlap / --tile and mode "gaussian"
(σ = 0.125 · tile, MONAI's default sigma_scale, as Tessera's tile/8); under
torch.inference_mode(), --threads intra-op threads. The probabilities are thresholded at the
checkpoint's threshold and written as a 0/255 PNG with Pillow.

--stop-above MB ends the process (exit 0) as soon as its resident memory passes MB, so a size
that cannot fit a memory budget is not computed to the end; the peak is still the process's own
(measure it from outside, e.g. bench/measure.py). --json-out writes {size, seconds, stopped}.
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segment_onnx import load_checkpoint, read_rgb  # noqa: E402


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def watch(limit_mb, json_out):
    """Ends the process once its resident memory passes `limit_mb`."""
    while True:
        rss = rss_mb()
        if rss > limit_mb:
            if json_out:
                with open(json_out, "w") as f:
                    json.dump({"stopped": True, "rss_mb": rss, "limit_mb": limit_mb}, f)
            os._exit(0)
        time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("image")
    ap.add_argument("out")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stop-above", type=float)
    ap.add_argument("--json-out")
    args = ap.parse_args()

    start = time.perf_counter()
    if args.stop_above:
        threading.Thread(target=watch, args=(args.stop_above, args.json_out), daemon=True).start()
    import torch
    from monai.inferers import sliding_window_inference
    from PIL import Image
    torch.set_num_threads(args.threads)
    model, meta = load_checkpoint(args.checkpoint)
    threshold = float(meta.get("threshold", 0.5))

    pixels = read_rgb(args.image)
    height, width = pixels.shape[:2]
    x = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).float().div_(255)
    del pixels
    with torch.inference_mode():
        p = sliding_window_inference(x, (args.tile, args.tile), args.batch, model,
                                     overlap=args.overlap / args.tile, mode="gaussian")
        del x
        mask = ((p[0, 0] > threshold).to(torch.uint8) * 255).numpy()
        del p
    Image.fromarray(mask).save(args.out)
    seconds = time.perf_counter() - start
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"size": [width, height], "seconds": seconds, "stopped": False, "peak_rss_now_mb": rss_mb()}, f)


if __name__ == "__main__":
    main()
