"""The segment reference for speed: the weights of a `tessera train` checkpoint in ONNX Runtime,
run over the same 512×512 tiles that `tessera segment` predicts (pure inference: no reading,
stitching or writing is timed).

    python segment_onnx.py export CHECKPOINT ONNX_OUT [--image IMG --tessera-probabilities PNG]
        Builds the checkpoint's model from bench/reference/networks.py, loads its weights (the
        checkpoint's `optimizer.*` tensors left out; every other name must match), exports it to
        ONNX with a dynamic batch axis, and checks PyTorch against ONNX Runtime on IMG's pixels
        (or a random tile) to 1e-4. With --tessera-probabilities (the 16-bit probability map
        that `tessera segment IMG --probabilities` wrote for a one-tile IMG), checks ONNX Runtime
        against Tessera too, to 1e-4 plus the map's quantization (1/65535).
    python segment_onnx.py time ONNX IMAGE... [--tile 512] [--overlap 64] [--batch 4] [--threads 2]
        Cuts each image into Tessera's tile grid (starts every tile − overlap pixels, the last
        row and column aligned to the edge) and runs the batches Tessera runs: each tile row in
        groups of --batch. One warm-up batch first (not timed), then all of them, timed.
        ONNX Runtime's default session options except intra_op_num_threads = --threads.

Prints JSON lines. `time` prints {"runtime": "onnxruntime", "tiles", "batches", "seconds",
"tiles_per_s"}.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def report(**row):
    print(json.dumps(row), flush=True)


def load_checkpoint(path):
    """(PyTorch model in eval mode, the checkpoint's metadata) for a `tessera train` checkpoint."""
    import torch  # noqa: F401
    from safetensors import safe_open
    from networks import build, tessera_names
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("optimizer.")}
    if meta.get("format") != "tessera-checkpoint-1":
        raise SystemExit(f"{path}: not a Tessera checkpoint (format {meta.get('format')!r})")
    config = json.loads(meta.get("model_config", "{}"))
    if config.get("input_channels", 3) != 3 or config.get("classes", 1) != 1:
        raise SystemExit(f"{path}: this reference takes RGB models with one sigmoid output (config {config})")
    model = build(meta["model"])
    state = tessera_names(state)
    own = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    if set(state) != own:
        missing, extra = sorted(own - set(state)), sorted(set(state) - own)
        raise SystemExit(f"{path}: checkpoint names differ: missing {missing[:5]}, unexpected {extra[:5]}")
    model.load_state_dict(state, strict=False)
    model.eval()
    return model, meta


def read_rgb(path):
    """An image file as an H×W×3 uint8 array."""
    if path.lower().endswith((".tif", ".tiff")):
        import tifffile
        image = tifffile.imread(path)
    else:
        from PIL import Image
        image = np.asarray(Image.open(path).convert("RGB"))
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SystemExit(f"{path}: expected an 8-bit RGB image, got {image.shape} {image.dtype}")
    return image


def axis(length, size, overlap):
    """Tile starts along one axis, as Tessera's TileGrid with edge `align`."""
    if length <= size:
        return [0]
    stride = size - overlap
    count = (length - size + stride - 1) // stride + 1
    return [i * stride for i in range(count - 1)] + [length - size]


def export(args):
    import onnxruntime as ort
    import torch
    model, meta = load_checkpoint(args.checkpoint)
    if args.image:
        pixels = read_rgb(args.image)
        x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))[None].astype(np.float32) / 255)
    else:
        x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = model(x).numpy()
        torch.onnx.export(model, x, args.onnx, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}}, dynamo=False)
    session = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": x.numpy()})[0]
    spread = float(reference.max() - reference.min())
    diff = float(np.abs(out - reference).max())
    report(model=meta["model"], check="ONNX Runtime vs PyTorch", max_abs_diff=diff, output_spread=spread)
    if diff > 1e-4:
        raise SystemExit(f"ONNX Runtime and PyTorch differ by {diff}")
    if args.tessera_probabilities:
        from PIL import Image
        tessera = np.asarray(Image.open(args.tessera_probabilities)).astype(np.float64) / 65535
        if tessera.shape != out.shape[2:]:
            raise SystemExit(f"{args.tessera_probabilities}: {tessera.shape}, expected {out.shape[2:]}")
        diff = float(np.abs(out[0, 0] - tessera).max())
        report(model=meta["model"], check="ONNX Runtime vs Tessera (16-bit probabilities)", max_abs_diff=diff,
               output_spread=spread)
        if diff > 1e-4 + 1 / 65535:
            raise SystemExit(f"ONNX Runtime and Tessera differ by {diff}: not the same network or weights")


def time_tiles(args):
    import onnxruntime as ort
    batches = []
    for path in args.images:
        image = read_rgb(path)
        height, width = image.shape[:2]
        if width < args.tile or height < args.tile:
            raise SystemExit(f"{path}: smaller than a tile; this reference does not pad")
        xs, ys = axis(width, args.tile, args.overlap), axis(height, args.tile, args.overlap)
        for y in ys:
            for i in range(0, len(xs), args.batch):
                tiles = [image[y:y + args.tile, x:x + args.tile] for x in xs[i:i + args.batch]]
                batches.append(np.ascontiguousarray(np.stack(tiles).transpose(0, 3, 1, 2)).astype(np.float32) / 255)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
    session.run(None, {"x": batches[0]})
    start = time.perf_counter()
    for batch in batches:
        session.run(None, {"x": batch})
    seconds = time.perf_counter() - start
    tiles = sum(len(b) for b in batches)
    report(runtime="onnxruntime", tiles=tiles, batches=len(batches), seconds=seconds, tiles_per_s=tiles / seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export")
    e.add_argument("checkpoint")
    e.add_argument("onnx")
    e.add_argument("--image")
    e.add_argument("--tessera-probabilities")
    t = sub.add_parser("time")
    t.add_argument("onnx")
    t.add_argument("images", nargs="+")
    t.add_argument("--tile", type=int, default=512)
    t.add_argument("--overlap", type=int, default=64)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    export(args) if args.command == "export" else time_tiles(args)


if __name__ == "__main__":
    main()
