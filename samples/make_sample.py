"""Makes the embedded sample: sand-like photos with small coloured particles, their masks, and
probability maps standing in for a model's predictions.

    python samples/make_sample.py     (needs numpy and Pillow)

It rewrites samples/images, samples/masks and samples/predictions. The files are committed, so
nothing runs this at build or test time.
"""
import os

import numpy as np
from PIL import Image, ImageFilter

rng = np.random.default_rng(7)
root = os.path.dirname(os.path.abspath(__file__))
sizes = [(720, 540), (640, 640), (533, 701), (811, 457)]

for folder in ("images", "masks", "predictions"):
    os.makedirs(os.path.join(root, folder), exist_ok=True)

for i, (w, h) in enumerate(sizes):
    # Sand: warm base colour, grain noise at two scales, a slight colour cast per photo.
    base = np.array([178, 152, 118], float) * (0.9 + 0.2 * rng.random(3))
    coarse = np.array(Image.fromarray((rng.random((h // 8, w // 8)) * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR), float) / 255
    fine = rng.random((h, w))
    shade = (0.75 + 0.3 * coarse + 0.25 * fine)[..., None]
    photo = base * shade + rng.normal(0, 6, (h, w, 3))
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(rng.integers(12, 25)):
        cy, cx = rng.integers(10, h - 10), rng.integers(10, w - 10)
        ry, rx = rng.integers(2, 6), rng.integers(2, 6)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        colour = rng.choice([[40, 90, 200], [210, 40, 40], [30, 160, 60], [235, 235, 240]])
        photo[blob] = np.array(colour, float) + rng.normal(0, 8, (int(blob.sum()), 3))
        mask |= blob
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    name = f"beach{i + 1:02d}"
    Image.fromarray(photo).save(os.path.join(root, "images", name + ".jpg"), quality=90)
    Image.fromarray((mask * 255).astype(np.uint8)).save(os.path.join(root, "masks", name + ".png"))
    # A plausible prediction: the mask blurred and shifted a pixel, with missed and false particles.
    pred = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.6))
    prob = np.roll(np.array(pred, float) / 255, 1, axis=1)
    for _ in range(4):
        cy, cx = rng.integers(10, h - 10), rng.integers(10, w - 10)
        prob[((yy - cy) / 3) ** 2 + ((xx - cx) / 3) ** 2 <= 1] = 0.55 + 0.3 * rng.random()
    smooth = np.array(Image.fromarray((rng.random((h // 16, w // 16)) * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR), float) / 255
    prob = np.clip(prob * (0.8 + 0.25 * smooth) + smooth * 0.15, 0, 1)
    Image.fromarray((prob * 255).round().astype(np.uint8)).save(os.path.join(root, "predictions", name + ".png"))
print("sample written to", root)
