"""Make a clean L* image look like a scanned old print: faded or uneven contrast, soft focus, film
grain, JPEG blocks, dust and scratches.

Why: the photos people colorize are old prints, while the training photos are clean digital
ones. Degrading only the network's input (the target a*b* stays clean) teaches it to see the same
scene through the damage; `scripts/make_old_prints.py` uses the same code, at a fixed strength, to
build the old-print evaluation sets. Every draw comes from the `numpy.random.Generator` passed in,
so a seed reproduces the result exactly.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclasses.dataclass(frozen=True)
class OldPrint:
    """One concrete degradation. Lightness is in L* units (0..100), sizes in pixels.

    Attributes:
        contrast: the L* range is multiplied by this around `mid` (1 = unchanged, < 1 faded).
        mid: the L* the contrast fades toward.
        shading: amplitude of a smooth left-right / top-bottom lightness ramp (uneven exposure).
        blur: Gaussian blur standard deviation (soft focus of an enlarger or a scan).
        grain: standard deviation of the film grain.
        grain_size: blur standard deviation of the grain (real grain is clumped, not per pixel).
        jpeg_quality: JPEG quality of a re-encoding (0 = none).
        specks: number of dust specks; scratches: number of thin line scratches.
    """

    contrast: float = 1.0
    mid: float = 50.0
    shading: float = 0.0
    blur: float = 0.0
    grain: float = 0.0
    grain_size: float = 0.0
    jpeg_quality: int = 0
    specks: int = 0
    scratches: int = 0


#: The fixed "old print" of the evaluation sets: visibly faded, soft, grainy and blocky, but the
#: subject still recognisable (set by eye on training photos before any evaluation).
EVAL_PRINT = OldPrint(contrast=0.65, mid=55.0, shading=6.0, blur=1.2, grain=4.0, grain_size=0.7, jpeg_quality=30,
                      specks=12, scratches=2)


def random_old_print(rng: np.random.Generator) -> OldPrint:
    """A random degradation spanning mild to heavier than `EVAL_PRINT`, each effect present with
    some probability so the model also sees partly damaged photos."""
    on = rng.random(6) < np.array([0.7, 0.4, 0.6, 0.6, 0.5, 0.3])
    return OldPrint(
        contrast=float(rng.uniform(0.45, 0.95)) if on[0] else 1.0,
        mid=float(rng.uniform(40, 65)),
        shading=float(rng.uniform(0, 10)) if on[1] else 0.0,
        blur=float(rng.uniform(0.3, 2.0)) if on[2] else 0.0,
        grain=float(rng.uniform(1, 7)) if on[3] else 0.0,
        grain_size=float(rng.uniform(0, 1.2)),
        jpeg_quality=int(rng.integers(15, 60)) if on[4] else 0,
        specks=int(rng.integers(0, 30)) if on[5] else 0,
        scratches=int(rng.integers(0, 4)) if on[5] else 0,
    )


def _gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (standard deviation `sigma` px, reflected borders) of a float32
    (H, W) array. Torch's conv2d, because Pillow blurs only 8-bit images and scipy is not a core
    dependency."""
    if sigma <= 0:
        return image
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    taps /= taps.sum()
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    pad_h, pad_w = min(radius, x.shape[-2] - 1), min(radius, x.shape[-1] - 1)
    x = F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    x = F.conv2d(x, taps[radius - pad_w : radius + pad_w + 1].view(1, 1, 1, -1))
    x = F.conv2d(x, taps[radius - pad_h : radius + pad_h + 1].view(1, 1, -1, 1))
    return x[0, 0].numpy()


def apply_old_print(L: np.ndarray, damage: OldPrint, rng: np.random.Generator) -> np.ndarray:
    """Degrade an (H, W) L* image (0..100) by `damage`; returns a new float32 (H, W) array in 0..100.

    Effects apply in the order a print ages and is scanned: blur, fading and uneven exposure, grain,
    dust and scratches, then JPEG compression of the scan."""
    out = _gaussian(np.asarray(L, dtype=np.float32), damage.blur)
    h, w = out.shape
    if damage.contrast != 1.0:
        out = damage.mid + (out - damage.mid) * damage.contrast
    if damage.shading:
        yy, xx = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32), np.linspace(-1, 1, w, dtype=np.float32),
                             indexing="ij")
        angle = rng.uniform(0, 2 * np.pi)
        out = out + damage.shading * (np.cos(angle) * xx + np.sin(angle) * yy)
    if damage.grain:
        noise = rng.standard_normal((h, w)).astype(np.float32)
        if damage.grain_size > 0:
            noise = _gaussian(noise, damage.grain_size)
            noise /= max(float(noise.std()), 1e-6)
        out = out + damage.grain * noise
    for _ in range(damage.specks):
        y, x, r = int(rng.integers(0, h)), int(rng.integers(0, w)), int(rng.integers(1, 3))
        out[max(0, y - r) : y + r, max(0, x - r) : x + r] = 95.0 if rng.random() < 0.7 else 8.0
    for _ in range(damage.scratches):
        x0 = int(rng.integers(0, w))
        drift = rng.uniform(-0.05, 0.05)
        ys = np.arange(h)
        xs = np.clip((x0 + drift * ys).astype(int), 0, w - 1)
        out[ys, xs] = np.maximum(out[ys, xs], 85.0)
    out = np.clip(out, 0, 100)
    if damage.jpeg_quality:
        buffer = io.BytesIO()
        Image.fromarray(np.round(out * 2.55).astype(np.uint8)).save(buffer, "JPEG",
                                                                            quality=damage.jpeg_quality)
        out = np.asarray(Image.open(buffer), dtype=np.float32) / 2.55
    return out.astype(np.float32)


def old_print_photo(rgb: np.ndarray, damage: OldPrint, seed: int) -> np.ndarray:
    """A color photo whose lightness has aged like an old print while its a*b* is kept: (H, W, 3)
    uint8 sRGB → (H, W, 3) uint8 sRGB. Its gray version is what a user would scan, and its chroma is
    the truth a colorizer is scored against."""
    from tinct.color.fast import lab_to_rgb, rgb_to_lab  # float32 CPU, no gradient

    lab = rgb_to_lab(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0)
    lab[0] = torch.from_numpy(apply_old_print(lab[0].numpy(), damage, np.random.default_rng(seed)))
    return lab_to_rgb(lab).clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
