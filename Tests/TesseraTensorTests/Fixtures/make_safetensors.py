"""Writes tensors.safetensors and plain.safetensors with the Python safetensors package, for the checkpoint round-trip
test. The values follow simple formulas the Swift test recomputes.

    python make_safetensors.py     (needs numpy and safetensors)
"""
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "encoder.0.conv.weight": (np.arange(2 * 3 * 3 * 3, dtype=np.float32) * 0.25 - 3).reshape(2, 3, 3, 3),
    "encoder.0.conv.bias": np.array([0.5, -1.5], dtype=np.float32),
    "encoder.0.bn.running_var": np.linspace(0.5, 2.0, 7, dtype=np.float32),
    "head.weight": (np.arange(4, dtype=np.float32) / 3).reshape(1, 4, 1, 1),
    "scalar": np.array(3.25, dtype=np.float32),
}
save_file(tensors, "tensors.safetensors", metadata={"format": "pt", "model": "fixture"})
# Without metadata (whose order the package does not keep), for the byte-for-byte writing test.
save_file(tensors, "plain.safetensors")
