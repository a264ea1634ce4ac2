"""Writes efficientnet_b0.safetensors, the fixture of the EfficientNet-B0 import test: the features
timm's and torchvision's efficientnet_b0 compute, in evaluation mode, for one input, with every
weight set from a generator the Swift test repeats, plus both libraries' state-dict tables.

The weights are not the libraries' own random initialisation: that would make the fixture 16 MB.
Every tensor of timm's state dict (num_batches_tracked aside), in its order, is filled from
SplitMix64 instead, so the Swift test can rebuild the same file under timm's or torchvision's names,
load it with `--init-map timm|torchvision`, and compare its encoder's features with these.
torchvision's model gets the same values (its state dict lists the same tensors in the same order),
and the script checks that both libraries agree before writing anything.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch timm torchvision safetensors
    /tmp/venv/bin/python make_efficientnet_b0.py

timm 1.0.31 and torchvision 0.29.2 (torch 2.15) wrote the committed file. Nothing is downloaded:
the models are built with pretrained=False / weights=None.
"""
import json

import numpy as np
import timm
import torch
import torchvision
from safetensors.torch import save_file

MASK = (1 << 64) - 1


def splitmix64(index):
    """SplitMix64's output for state `index` (uint64 array), as in the Swift test."""
    z = (index + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(MASK)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(tensor_index, count):
    """count values in [-1, 1): the top 24 bits of SplitMix64(tensor_index << 32 | i), exact in float32."""
    i = np.arange(count, dtype=np.uint64) | (np.uint64(tensor_index) << np.uint64(32))
    top = (splitmix64(i) >> np.uint64(40)).astype(np.float64)
    return (top / float(1 << 23) - 1.0).astype(np.float32)


def value(name, shape, tensor_index):
    """The generator's tensor for a state-dict entry; offset and scale by kind keep activations near 1."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = uniform(tensor_index, count)
    if name.endswith("running_var"):
        v = 0.5 * (1.0 + 0.5 * u)
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = 0.1 * u
    elif len(shape) == 1:  # batch-norm weight
        v = 1.0 + 0.2 * u
    else:  # convolution weight: uniform with variance 1/fan_in
        fan_in = int(np.prod(shape[1:]))
        v = np.float32(np.sqrt(3.0 / fan_in)) * u
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def features_timm(model, x):
    h = model.bn1(model.conv_stem(x))
    out = [h]
    for s, stage in enumerate(model.blocks):
        h = stage(h)
        if s in (1, 2, 4, 6):
            out.append(h)
    return out


def features_torchvision(model, x):
    h = model.features[0](x)
    out = [h]
    for s in range(7):
        h = model.features[s + 1](h)
        if s in (1, 2, 4, 6):
            out.append(h)
    return out


def main():
    torch.manual_seed(0)
    a = timm.create_model("efficientnet_b0", pretrained=False).eval()
    b = torchvision.models.efficientnet_b0(weights=None).eval()
    timm_names = [(k, list(t.shape)) for k, t in a.state_dict().items() if not k.endswith("num_batches_tracked")]
    tv_names = [(k, list(t.shape)) for k, t in b.state_dict().items() if not k.endswith("num_batches_tracked")]
    assert [s for _, s in timm_names] == [s for _, s in tv_names], "the two state dicts list different shapes"
    state_a, state_b = {}, {}
    for index, ((name, shape), (tv_name, _)) in enumerate(zip(timm_names, tv_names)):
        t = value(name, shape, index)
        state_a[name] = t
        state_b[tv_name] = t.clone()
    a.load_state_dict(state_a, strict=False)
    b.load_state_dict(state_b, strict=False)
    x = torch.from_numpy(uniform(1 << 20, 3 * 64 * 64).reshape(1, 3, 64, 64) * 2)  # in [-2, 2)
    torch.set_num_threads(1)
    with torch.no_grad():
        fa, fb = features_timm(a, x), features_torchvision(b, x)
    for i, (p, q) in enumerate(zip(fa, fb)):
        assert p.shape == q.shape and torch.allclose(p, q, atol=1e-5), f"feature {i}: timm and torchvision disagree"
        print(f"feature {i}: {tuple(p.shape)} std {p.std():.3f} max |x| {p.abs().max():.3f}")
    tensors = {"input": x.contiguous()}
    for i, f in enumerate(fa):
        tensors[f"feature{i}"] = f.contiguous()
    metadata = {
        "timm_state_dict": json.dumps(timm_names),
        "torchvision_state_dict": json.dumps(tv_names),
        "versions": f"timm {timm.__version__}, torchvision {torchvision.__version__}, torch {torch.__version__}",
    }
    save_file(tensors, "efficientnet_b0.safetensors", metadata=metadata)


if __name__ == "__main__":
    main()
