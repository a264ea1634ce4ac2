"""Writes a synthetic RGB image of any size as an uncompressed, striped TIFF, strip by strip, so
the generator holds only a band of rows (a 20000×20000 image, 1.2 GB on disk, is written in
about 100 MB of memory).

    python make_large_image.py OUT.tif WIDTH [HEIGHT] [--seed S] [--band ROWS]

The picture is smooth colour blobs (a few random sinusoids per channel) with a little noise and
dark disc-shaped "objects", so it is neither constant nor pure noise; its content does not matter
for the speed or memory of a segmentation, only its size does. The same seed and size give the
same pixels whatever --band is. Prints one JSON line {path, width, height, bytes, seconds,
peak_rss_mb}.
"""
import argparse
import json
import resource
import time

import numpy as np
import tifffile

STRIP = 64  # rows per TIFF strip


def waves(rng, count):
    """`count` random plane waves per channel: (amplitude, fx, fy, phase)."""
    return [[(rng.uniform(20, 50), rng.uniform(-1, 1) / 300, rng.uniform(-1, 1) / 300, rng.uniform(0, 2 * np.pi))
             for _ in range(count)] for _ in range(3)]


def band(width, top, rows, params, discs, seed):
    """Rows top..<top+rows as a rows × width × 3 uint8 array."""
    y = np.arange(top, top + rows, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    out = np.empty((rows, width, 3), dtype=np.uint8)
    # The noise is seeded strip by strip, so it does not depend on the band height.
    noise = np.concatenate([
        np.random.default_rng([seed, s]).integers(-8, 9, size=(min(STRIP, top + rows - s), width), dtype=np.int16)
        for s in range(top, top + rows, STRIP)]).astype(np.float32)
    dark = np.zeros((rows, width), dtype=bool)
    for cx, cy, r in discs:
        if cy + r < top or cy - r >= top + rows:
            continue
        x0, x1 = max(0, int(cx - r)), min(width, int(cx + r) + 1)
        dark[:, x0:x1] |= (x[:, x0:x1] - cx) ** 2 + (y - cy) ** 2 <= r * r
    for c in range(3):
        v = np.full((rows, width), 128.0, dtype=np.float32)
        for a, fx, fy, ph in params[c]:
            v += a * np.sin(fx * x + fy * y + ph, dtype=np.float32)
        v += noise
        v[dark] *= 0.35
        out[:, :, c] = np.clip(v, 0, 255).astype(np.uint8)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("width", type=int)
    ap.add_argument("height", type=int, nargs="?")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--band", type=int, default=512, help="rows generated at once (a multiple of 64)")
    args = ap.parse_args()
    width, height = args.width, args.height or args.width
    band_rows = max(STRIP, args.band // STRIP * STRIP)
    rng = np.random.default_rng(args.seed)
    params = waves(rng, 4)
    count = max(1, width * height // 150_000)
    discs = [(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(8, 60)) for _ in range(count)]
    discs.sort(key=lambda d: d[1])

    def strips():
        for top in range(0, height, band_rows):
            rows = min(band_rows, height - top)
            block = band(width, top, rows, params, discs, args.seed)
            for s in range(0, rows, STRIP):
                yield block[s:s + STRIP]

    start = time.perf_counter()
    tifffile.imwrite(args.out, data=strips(), shape=(height, width, 3), dtype=np.uint8, photometric="rgb",
                     planarconfig="contig", rowsperstrip=STRIP, bigtiff=width * height * 3 > 2**32 - 2**25)
    print(json.dumps({"path": args.out, "width": width, "height": height, "bytes": width * height * 3,
                      "seconds": round(time.perf_counter() - start, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
