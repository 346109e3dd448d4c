#!/usr/bin/env python3
"""Reference fixtures for the engine's image path (tests/data/images), made with Pillow.

Run with Debian's python3 + python3-pil (Pillow 9.4) + python3-numpy:
    /usr/bin/python3 tools/image-fixtures/make_image_fixtures.py

Writes:
  resize/<w>x<h>.rgb                 procedural source images (raw RGB bytes)
  resize/<w>x<h>_to_<W>x<H>.rgb      Image.resize((W, H), Image.BICUBIC) of that source
  slicing.json                       MiniCPM-V 2.6 UHD slicing of procedural images: geometry and the SHA-256 of every
                                     piece's RGB bytes (overview, then tiles row-major), re-implemented here from the
                                     HF MiniCPMVImageProcessor semantics with Pillow doing the resizing and cropping
  decode/*                           small encoded files and what Image.open(f).convert("RGB") gives for each

The procedural pattern (pattern() below) is integer-only so the C# tests rebuild the same sources.
"""
import hashlib
import io
import json
import math
import os

import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "images")


def pattern(w, h, seed=0):
    """Gradients, a checkerboard and integer 'noise', wrapped to bytes so hard 255->0 edges make bicubic clip."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    planes = []
    for c in range(3):
        v = x * (3 + c) + y * (5 + 2 * c) + seed * 17
        v += ((x * x * 7 + y * y * 11 + x * y * 13 + c * 101 + seed * 31) % 61) * 2
        v += np.where(((x // 5) + (y // 7)) % 2 == 1, 80, 0)
        planes.append(v & 255)
    return np.stack(planes, axis=-1).astype(np.uint8)


def to_image(a):
    return Image.fromarray(a, "RGB")


def write(path, data):
    full = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)


# ---- 1. bicubic resize ---------------------------------------------------------------------------------------------
RESIZE_CASES = [
    ((37, 23), [(90, 50), (13, 7), (37, 60), (64, 23), (111, 69)]),
    ((61, 45), [(30, 100), (17, 45), (61, 11)]),
    ((200, 150), [(57, 43), (199, 151), (98, 14), (301, 211)]),
    ((5, 3), [(1, 1), (2, 9)]),
    ((1, 1), [(4, 3)]),
]


def make_resize():
    for (w, h), targets in RESIZE_CASES:
        src = pattern(w, h, seed=w + h)
        write(f"resize/{w}x{h}.rgb", src.tobytes())
        for tw, th in targets:
            out = to_image(src).resize((tw, th), Image.BICUBIC)
            write(f"resize/{w}x{h}_to_{tw}x{th}.rgb", np.asarray(out).tobytes())


# ---- 2. UHD slicing (HF MiniCPMVImageProcessor semantics) -----------------------------------------------------------
S, P = 448, 14


def ensure_divide(length, patch):
    return max(round(length / patch) * patch, patch)


def find_best_resize(size, allow_upscale=False):
    w, h = size
    if w * h > S * S or allow_upscale:
        r = w / h
        h = int(S / math.sqrt(r))
        w = int(h * r)
    return ensure_divide(w, P), ensure_divide(h, P)


def get_sliced_grid(size, max_slice_nums):
    w, h = size
    log_ratio = math.log(w / h)
    multiple = min(math.ceil(w * h / (S * S)), max_slice_nums)
    if multiple <= 1:
        return None
    candidates = [i for i in (multiple - 1, multiple, multiple + 1) if i != 1 and i <= max_slice_nums]
    grids = [[m, n // m] for n in candidates for m in range(1, n + 1) if n % m == 0]
    best, best_err = None, float("inf")
    for g in grids:
        err = abs(log_ratio - math.log(g[0] / g[1]))
        if err < best_err:
            best, best_err = g, err
    return best


def get_refine_size(size, grid):
    w, h = size
    rw, rh = ensure_divide(w, grid[0]), ensure_divide(h, grid[1])
    bw, bh = find_best_resize((rw / grid[0], rh / grid[1]), allow_upscale=True)
    return bw * grid[0], bh * grid[1]


def slice_image(image, max_slice_nums):
    grid = get_sliced_grid(image.size, max_slice_nums)
    if grid is None:
        return image.resize(find_best_resize(image.size, True), Image.BICUBIC), [], None, None
    overview = image.copy().resize(find_best_resize(image.size), Image.BICUBIC)
    refine_size = get_refine_size(image.size, grid)
    refine = image.resize(refine_size, Image.BICUBIC)
    tw, th = refine_size[0] // grid[0], refine_size[1] // grid[1]
    tiles = [refine.crop((x, y, x + tw, y + th)) for y in range(0, refine_size[1], th) for x in range(0, refine_size[0], tw)]
    return overview, tiles, grid, refine_size


SLICING_CASES = [((449, 449), 9), ((640, 480), 9), ((700, 100), 9), ((300, 200), 9), ((1000, 1000), 9),
                 ((1344, 1344), 9), ((2000, 500), 9), ((800, 600), 9), ((1920, 1080), 9), ((1344, 1344), 2),
                 ((640, 480), 2), ((1000, 1000), 1), ((101, 607), 9)]


def make_slicing():
    cases = []
    for (w, h), max_slices in SLICING_CASES:
        overview, tiles, grid, refine = slice_image(to_image(pattern(w, h, seed=1)), max_slices)
        cases.append({
            "width": w, "height": h, "max_slice_nums": max_slices,
            "grid": grid,  # [cols, rows] or null
            "refine": list(refine) if refine else None,
            "pieces": [{"width": p.size[0], "height": p.size[1],
                        "sha256": hashlib.sha256(np.asarray(p).tobytes()).hexdigest()} for p in [overview] + tiles],
        })
    write("slicing.json", (json.dumps({"pattern_seed": 1, "cases": cases}, indent=1) + "\n").encode())


# ---- 3. decoding: what Image.open(f).convert("RGB") gives -----------------------------------------------------------
def encoded(image, fmt, **kw):
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def expect(name, data, transpose=False):
    """Store the file and the reference RGB bytes (the HF path: open + convert("RGB"); exif_transpose only if asked)."""
    write(f"decode/{name}", data)
    im = Image.open(io.BytesIO(data))
    if transpose:
        im = ImageOps.exif_transpose(im)
    rgb = im.convert("RGB")
    write(f"decode/{name}.rgb", np.asarray(rgb).tobytes())
    return {"file": name, "width": rgb.size[0], "height": rgb.size[1], "exif_transposed": transpose}


def make_decode():
    base = to_image(pattern(37, 23, seed=5))
    entries = [
        expect("rgb.png", encoded(base, "PNG")),
        expect("rgb.bmp", encoded(base, "BMP")),
        expect("lossless.webp", encoded(base, "WEBP", lossless=True)),
        expect("q90.jpg", encoded(base, "JPEG", quality=90)),
    ]
    # RGBA with every alpha level in use, and colour kept under alpha 0: convert("RGB") drops alpha.
    rgba = np.concatenate([pattern(37, 23, seed=6), (pattern(37, 23, seed=7)[..., :1])], axis=-1)
    entries.append(expect("rgba.png", encoded(Image.fromarray(rgba, "RGBA"), "PNG")))
    # Two-frame GIF: the first frame is the image.
    frames = [base.quantize(64), to_image(pattern(37, 23, seed=9)).quantize(64)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    entries.append(expect("two-frames.gif", buf.getvalue()))
    # EXIF orientation 6 (rotate 90° clockwise to view) on a lossless PNG-free path: JPEG carries the tag.
    exif = Image.Exif()
    exif[0x0112] = 6
    entries.append(expect("orientation6.jpg", encoded(base, "JPEG", quality=95, exif=exif.tobytes()), transpose=True))
    write("decode/index.json", (json.dumps(entries, indent=1) + "\n").encode())


if __name__ == "__main__":
    make_resize()
    make_slicing()
    make_decode()
    print("fixtures written under", os.path.normpath(OUT))
