"""The engine reference: the same network with the same weights in PyTorch (NCHW and
channels_last) and ONNX Runtime. Checks the output against Tessera's (1e-4) before timing.

    python engine_torch.py NAME EXPORT_DIR THREADS RUNS [MODE VALUE] [round R] [layouts L,L]
Prints JSON lines: {"name", "runtime", "case", "batch", "size", "median_s"}, with "round": R when
given. MODE VALUE:
  batches B,B…   (the default, 1,4) the check, the forward passes at those batches in PyTorch and
                 ONNX Runtime, then the training steps in both layouts;
  forward B,B…   the check and the forward passes only;
  train L,L…     the training steps in those layouts (nchw, channels-last) only;
  train-only L   the same, one layout (for a peak-memory measurement).
layouts: the PyTorch layouts the forward passes run in (default both). bench/models.sh alternates
forward and train with Tessera's runs, round after round. The ONNX export is reused while it is
newer than the weights.
"""
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
from networks import build, load_tessera  # noqa: E402


def median_time(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


ROUND = {}


def report(**row):
    print(json.dumps({**row, **ROUND}), flush=True)


def main():
    name, folder, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    pairs = dict(zip(sys.argv[5::2], sys.argv[6::2]))
    if "round" in pairs:
        ROUND["round"] = int(pairs.pop("round"))
    layouts = pairs.pop("layouts", "nchw,channels-last").split(",")
    (mode, value), = pairs.items() or [("batches", "1,4")]
    if mode in ("train-only", "train"):
        train_steps(name, folder, runs, value.split(","))
        return
    batches = [int(b) for b in value.split(",")]
    model = build(name)
    load_tessera(model, f"{folder}/{name}.safetensors")
    model.eval()
    io = load_file(f"{folder}/{name}.io.safetensors")
    with torch.no_grad():
        out = model(io["input"])
    diff = (out - io["output"]).abs().max().item()
    # Freshly initialized networks give probabilities in a narrow band around 0.5, so agreement
    # is also required relative to the output's own spread: 1e-4 alone could pass a wrong network.
    spread = (io["output"].max() - io["output"].min()).item()
    report(name=name, check="output vs Tessera", max_abs_diff=diff, output_spread=spread)
    if diff > 1e-4 or diff > 1e-3 * spread:
        raise SystemExit(f"{name}: PyTorch and Tessera differ by {diff} (output spread {spread}); not timing")

    import onnxruntime as ort
    onnx_path = f"{folder}/{name}.onnx"
    session = None
    try:
        if not (os.path.exists(onnx_path) and os.path.getmtime(onnx_path) > os.path.getmtime(f"{folder}/{name}.safetensors")):
            # The TorchScript exporter (dynamo=False) warns that it is deprecated; its warning's
            # second line (the call's source) would otherwise reach the report.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(model, io["input"], onnx_path, input_names=["x"], output_names=["y"],
                                  dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}}, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # e.g. max_unpool2d with an output size does not export
        report(name=name, runtime="onnxruntime", skipped=f"export failed: {type(error).__name__}: {str(error)[:120]}")
    if session is not None:
        diff = np.abs(session.run(None, {"x": io["input"].numpy()})[0] - io["output"].numpy()).max()
        report(name=name, check="ONNX Runtime vs Tessera", max_abs_diff=float(diff))
        if diff > 1e-4 or diff > 1e-3 * spread:
            raise SystemExit(f"{name}: ONNX Runtime and Tessera differ by {diff} (output spread {spread}); not timing")

    for batch in batches:
        x = torch.rand(batch, 3, 512, 512)
        with torch.no_grad():
            if "nchw" in layouts:
                report(name=name, runtime="pytorch-nchw", case="forward", batch=batch, size=512,
                       median_s=median_time(lambda: model(x), runs))
            if "channels-last" in layouts:
                cl = model.to(memory_format=torch.channels_last)
                xc = x.to(memory_format=torch.channels_last)
                report(name=name, runtime="pytorch-channels-last", case="forward", batch=batch, size=512,
                       median_s=median_time(lambda: cl(xc), runs))
                model.to(memory_format=torch.contiguous_format)
        if session is not None:
            xn = x.numpy()
            report(name=name, runtime="onnxruntime", case="forward", batch=batch, size=512,
                   median_s=median_time(lambda: session.run(None, {"x": xn}), runs))

    if mode == "batches":
        train_steps(name, folder, runs, ["nchw", "channels-last"])


def train_steps(name, folder, runs, layouts):
    for layout in layouts:
        train = build(name)
        load_tessera(train, f"{folder}/{name}.safetensors")
        train.train()
        fmt = torch.channels_last if layout == "channels-last" else torch.contiguous_format
        train = train.to(memory_format=fmt)
        optimizer = torch.optim.Adam(train.parameters(), lr=1e-3)
        x = torch.rand(4, 3, 256, 256).to(memory_format=fmt)
        y = (torch.rand(4, 1, 256, 256) > 0.6).float()

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.binary_cross_entropy(train(x), y)
            loss.backward()
            optimizer.step()

        report(name=name, runtime=f"pytorch-{layout}", case="train", batch=4, size=256,
               median_s=median_time(step, runs))


if __name__ == "__main__":
    main()
