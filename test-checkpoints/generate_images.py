#!/usr/bin/python3
"""Images and CLIPImageProcessor references for llavapack's image preprocessing tests.

Regenerate from the repository root with

    /usr/bin/python3 test-checkpoints/generate_images.py

Needs Debian's python3-pil and python3-numpy (apt-get install -y python3-pil python3-numpy); transformers is not
used: the processor's steps are spelled out below exactly as transformers 4.x CLIPImageProcessor runs them for
tiny-plip/preprocessor_config.json (shortest_edge 32, crop 32x32, resample 3 = bicubic, CLIP mean/std):

1. convert("RGB") (do_convert_rgb);
2. resize so the shortest side is 32, long side int(32 * long / short), with PIL.Image.resize(BICUBIC) on uint8;
3. center crop 32x32 with top = (h - 32) // 2, left = (w - 32) // 2;
4. rescale: float64 * (1/255), cast to float32;
5. normalize: (x - mean) / std in float32; channels first.

Deterministic: seeded numpy images, PNG/JPEG written by Pillow with fixed settings.
"""
import json
import os
import struct

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "images")
EXPECTED = os.path.join(ROOT, "expected", "clip-preprocess.safetensors")
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
SIZE = 32


def tissue(w, h, seed):
    """A smooth pink/purple field with blobs and noise: structure at several scales, like an H&E tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 200 + 40 * np.sin(x / 7.0) * np.cos(y / 5.0)
    img[..., 1] = 120 + 60 * np.cos((x + y) / 9.0)
    img[..., 2] = 170 + 50 * np.sin(x * y / 150.0)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 9)
        d = np.hypot(x - cx, y - cy)
        img[d < r] = [90, 40, 140]
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def process(pil):
    im = pil.convert("RGB")
    w, h = im.size
    short, long_ = (w, h) if w <= h else (h, w)
    new_short, new_long = SIZE, int(SIZE * long_ / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    im = im.resize((nw, nh), resample=Image.BICUBIC)
    a = np.array(im)
    top, left = (nh - SIZE) // 2, (nw - SIZE) // 2
    a = a[top:top + SIZE, left:left + SIZE]
    a = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    a = (a - MEAN) / STD
    return np.ascontiguousarray(a.transpose(2, 0, 1)).astype(np.float32)


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        dt = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8"}[t.dtype]
        b = t.tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    j = json.dumps(header, separators=(",", ":")).encode()
    j += b" " * ((8 - len(j) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(j)) + j + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {}
    Image.fromarray(tissue(61, 47, 1)).save(os.path.join(OUT, "tissue-61x47.png"), optimize=False)
    Image.fromarray(tissue(40, 72, 2)).save(os.path.join(OUT, "tissue-40x72.png"), optimize=False)
    Image.fromarray(tissue(96, 80, 3)).save(os.path.join(OUT, "tissue-96x80.jpg"), quality=92, subsampling=0)
    Image.fromarray(tissue(96, 80, 3)).save(os.path.join(OUT, "tissue-96x80-420.jpg"), quality=92, subsampling=2)
    Image.fromarray(tissue(50, 50, 4)[..., 1]).save(os.path.join(OUT, "grey-50x50.png"), optimize=False)
    rgba = np.concatenate([tissue(45, 45, 5), np.full((45, 45, 1), 128, np.uint8)], axis=-1)
    Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "rgba-45x45.png"), optimize=False)
    for name in ["tissue-61x47.png", "tissue-40x72.png", "tissue-96x80.jpg", "tissue-96x80-420.jpg", "grey-50x50.png", "rgba-45x45.png"]:
        with Image.open(os.path.join(OUT, name)) as im:
            cases["pixel_values." + name] = process(im)
            if name.endswith(".jpg"):
                # What Pillow's libjpeg decoded, so a test can separate decoder from resampling differences.
                cases["decoded_rgb." + name] = np.array(im.convert("RGB"))
    write_safetensors(EXPECTED, cases)
    print(json.dumps({k: list(v.shape) for k, v in cases.items()}))


if __name__ == "__main__":
    main()
