"""The prepare benchmark's reference: the steps of
`tessera prepare IMAGES --masks MASKS --out OUT --color gray-world --tile-size 512 --overlap 100 --augment 2`
with OpenCV and albumentations, written the way such a script usually is.

    python prepare_albumentations.py IMAGES MASKS OUT [--workers N] [--png-compression LEVEL]

1. First pass: the dataset's mean pixel over gray-world-corrected images (the augmentation fill).
2. Per image: gray-world (each channel × mean of channel means / channel mean, rounded, clipped),
   512-pixel tiles with 100 overlap, the last row/column aligned to the edge; per tile, the tile and 2
   copies with rotation within ±45°, shift within ±20 %, horizontal and vertical flips (image
   bilinear, mask nearest, fill: mean pixel / 0); PNGs written by plain `cv2.imwrite(path, tile)`,
   as users write it: OpenCV's defaults (zlib level 1 with the RLE strategy and the Sub row filter).

--png-compression LEVEL is a second, labelled variant: `cv2.imwrite(path, tile,
[cv2.IMWRITE_PNG_COMPRESSION, LEVEL])`, which switches OpenCV to zlib's default strategy and
libpng's adaptive filtering (about 3x slower per tile at level 1, files about the same size).
"""
import os
import sys
from multiprocessing import Pool

import albumentations as A
import cv2
import numpy as np

cv2.setNumThreads(1)
TILE, OVERLAP, COPIES = 512, 100, 2
# OpenCV's defaults unless --png-compression LEVEL is given (the labelled variant).
PNG = ([cv2.IMWRITE_PNG_COMPRESSION, int(sys.argv[sys.argv.index("--png-compression") + 1])]
       if "--png-compression" in sys.argv else [])


def gray_world(image):
    means = image.reshape(-1, 3).mean(axis=0)
    factors = means.mean() / np.maximum(means, 1e-9)
    return np.clip(np.floor(image * factors + 0.5), 0, 255).astype(np.uint8)


def starts(length):
    if length <= TILE:
        return [0]
    stride = TILE - OVERLAP
    count = (length - TILE + stride - 1) // stride + 1
    return [i * stride for i in range(count - 1)] + [length - TILE]


def mean_of(path):
    image = gray_world(cv2.imread(path, cv2.IMREAD_COLOR))
    return image.reshape(-1, 3).sum(axis=0, dtype=np.float64), image.shape[0] * image.shape[1]


def prepare(job):
    name, image_path, mask_path, out, fill = job
    image = gray_world(cv2.imread(image_path, cv2.IMREAD_COLOR))
    mask = cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE)
    augment = A.Compose([
        A.Affine(rotate=(-45, 45), translate_percent=(-0.2, 0.2), interpolation=cv2.INTER_LINEAR,
                 mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT,
                 fill=tuple(fill), fill_mask=0, p=1.0),
        A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)])
    index = 0
    for y in starts(image.shape[0]):
        for x in starts(image.shape[1]):
            tile, tile_mask = image[y:y + TILE, x:x + TILE], mask[y:y + TILE, x:x + TILE]
            base = f"{name}_t{index:03d}"
            cv2.imwrite(f"{out}/images/{base}.png", tile, PNG)
            cv2.imwrite(f"{out}/masks/{base}.png", tile_mask, PNG)
            for copy in range(1, COPIES + 1):
                result = augment(image=tile, mask=tile_mask)
                cv2.imwrite(f"{out}/images/{base}_a{copy}.png", result["image"], PNG)
                cv2.imwrite(f"{out}/masks/{base}_a{copy}.png", result["mask"], PNG)
            index += 1
    return index


def main():
    images, masks, out = sys.argv[1:4]
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 1
    os.makedirs(f"{out}/images", exist_ok=True)
    os.makedirs(f"{out}/masks", exist_ok=True)
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(images))
    paths = [os.path.join(images, n + ".jpg") for n in names]
    with Pool(workers) as pool:
        sums = pool.map(mean_of, paths)
        fill = sum(s for s, _ in sums) / sum(n for _, n in sums)
        jobs = [(n, p, os.path.join(masks, n + ".png"), out, fill.tolist()) for n, p in zip(names, paths)]
        pool.map(prepare, jobs)


if __name__ == "__main__":
    main()
