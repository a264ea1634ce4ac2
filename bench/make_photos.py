"""Generates N sand-like 1440×1440 photos (JPEG) with small particles and their masks (0/255 PNG),
the size of the photos in 001_…, for the prepare benchmark."""
import os
import sys

import numpy as np
from PIL import Image

out, n = sys.argv[1], int(sys.argv[2])
size = 1440
rng = np.random.default_rng(1)
os.makedirs(f"{out}/images", exist_ok=True)
os.makedirs(f"{out}/masks", exist_ok=True)
yy, xx = np.mgrid[0:size, 0:size]
for i in range(n):
    base = np.array([178, 152, 118], float) * (0.9 + 0.2 * rng.random(3))
    coarse = np.asarray(Image.fromarray((rng.random((90, 90)) * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR), float) / 255
    photo = base * (0.75 + 0.3 * coarse + 0.25 * rng.random((size, size)))[..., None]
    mask = np.zeros((size, size), bool)
    for _ in range(40):
        cy, cx, r = rng.integers(10, size - 10), rng.integers(10, size - 10), rng.integers(2, 8)
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        photo[blob] = rng.choice([[40, 90, 200], [210, 40, 40], [30, 160, 60]])
        mask |= blob
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(f"{out}/images/p{i:03d}.jpg", quality=90)
    Image.fromarray((mask * 255).astype(np.uint8)).save(f"{out}/masks/p{i:03d}.png")
