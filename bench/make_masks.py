"""Generates N pairs of 1024×1024 masks for the evaluate benchmark: a binary ground truth (0/255 PNG)
and an 8-bit probability map (PNG) that mostly agrees with it."""
import os
import sys

import numpy as np
from PIL import Image

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
os.makedirs(f"{out}/truth", exist_ok=True)
os.makedirs(f"{out}/pred", exist_ok=True)
size = 1024
yy, xx = np.mgrid[0:size, 0:size]
for i in range(n):
    truth = np.zeros((size, size), bool)
    for _ in range(rng.integers(5, 30)):
        cy, cx, r = rng.integers(0, size), rng.integers(0, size), rng.integers(4, 60)
        truth |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    coarse = Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    noise = np.asarray(coarse, float) / 255
    prob = np.clip(truth * 0.6 + noise * 0.5, 0, 1)
    Image.fromarray((truth * 255).astype(np.uint8)).save(f"{out}/truth/m{i:04d}.png")
    Image.fromarray((prob * 255).round().astype(np.uint8)).save(f"{out}/pred/m{i:04d}.png")
