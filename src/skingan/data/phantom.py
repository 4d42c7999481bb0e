"""Procedural dermoscopy phantoms: seeded, labelled, dermoscopy-like images for offline demos and tests.

Each image is drawn from `numpy.random.default_rng([seed, index])` alone (given its class), so image i is the
same whether it is made alone, within a set, in another process or after a resume. Which indices are malignant
comes from a separate seeded permutation of (seed, n, malignant_fraction). A hidden "atypia" score in [0, 1] drives every
malignant cue (asymmetry, border irregularity, size, colours, dots, veil, regression); benign lesions draw it
from Beta(1.6, 4.5) and melanomas from Beta(4.5, 1.8), so the classes overlap and a classifier has a real but
not trivial signal to learn.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from skingan.errors import UserError

BENIGN_DIAGNOSES = ("nevus", "seborrheic_keratosis")
MALIGNANT_DIAGNOSIS = "melanoma"
SEBORRHEIC_KERATOSIS_SHARE = 0.3
ATYPIA_BETA = {False: (1.6, 4.5), True: (4.5, 1.8)}
MIN_SIZE = 16

_TABLE = 720  # samples of the border radius as a function of angle

# Anchors of skin colour under a dermoscope (RGB / 255), mixed with Dirichlet weights per image.
SKIN_ANCHORS = np.array([
    (238, 218, 212),  # pale, pinkish white
    (216, 222, 238),  # bluish-white polarised light
    (228, 180, 170),  # pink
    (224, 192, 164),  # beige
    (196, 152, 120),  # tan
    (150, 106, 82),   # brown
], dtype=np.float32) / 255
SKIN_ALPHA = np.array([1.0, 0.7, 0.8, 0.8, 0.35, 0.12], dtype=np.float64)

COLOURS = {
    "light_brown": (186, 120, 96),
    "mid_brown": (138, 80, 64),
    "dark_brown": (80, 44, 38),
    "black": (34, 26, 26),
    "blue_grey": (122, 128, 146),
    "white": (228, 220, 222),
    "tan": (202, 150, 126),
}


@dataclass(frozen=True)
class Phantom:
    """One rendered phantom, with the ground truth its tests and demos may want."""

    image: Image.Image
    diagnosis: str
    lesion_mask: np.ndarray  # float32 (size, size) in [0, 1]
    atypia: float


def phantom_id(index: int) -> str:
    return f"PHANTOM_{index:07d}"


def malignant_flags(n: int, seed: int, malignant_fraction: float = 0.3) -> np.ndarray:
    """Which of n phantoms are malignant: exactly round(n * fraction) of them, a seeded permutation."""
    _check_args(n=n, seed=seed, malignant_fraction=malignant_fraction)
    flags = np.zeros(n, dtype=bool)
    order = np.random.default_rng([seed, n, 0x5EED]).permutation(n)
    flags[order[:round(n * malignant_fraction)]] = True
    return flags


def phantom_records(n: int, seed: int, size: int = 256,
                    malignant_fraction: float = 0.3) -> Iterator[tuple[str, int, str, Image.Image]]:
    """Yield (image_id, target, diagnosis, RGB image) for n seeded phantoms."""
    _check_args(size=size)
    for index, malignant in enumerate(malignant_flags(n, seed, malignant_fraction)):
        phantom = build_phantom(index, seed, bool(malignant), size)
        yield phantom_id(index), int(malignant), phantom.diagnosis, phantom.image


def render_phantom(index: int, seed: int, malignant: bool, size: int = 256) -> Image.Image:
    """The RGB size x size image of phantom `index` (depends only on seed, index, malignant, size)."""
    return build_phantom(index, seed, malignant, size).image


def build_phantom(index: int, seed: int, malignant: bool, size: int = 256) -> Phantom:
    """Render one phantom and keep its lesion mask, diagnosis and atypia score."""
    _check_args(seed=seed, size=size, index=index)
    rng = np.random.default_rng([seed, index])
    diagnosis = draw_diagnosis(rng, malignant)
    atypia = float(rng.beta(*ATYPIA_BETA[bool(malignant)]))
    grid = _grid(size)
    skin = draw_skin(rng, grid)
    mask, depth = draw_lesion_shape(rng, grid, atypia)
    region = lesion_region(mask)
    lesion = draw_lesion_colour(rng, grid, mask, depth, atypia, diagnosis, region)
    opacity = float(rng.uniform(0.8, 1.0))
    shade = skin[..., 0] + skin[..., 1] + skin[..., 2]
    lesion *= (np.float32(0.7) + shade * np.float32(0.3 / shade.mean()))[..., None]  # skin texture shows through
    image = skin
    _blend(image[region], lesion[region], mask[region] * np.float32(opacity))
    image = draw_hairs(rng, image, size)
    image *= dermoscope_vignette(rng, grid)[..., None]
    image += rng.standard_normal((size, size, 1), dtype=np.float32) * np.float32(0.008)
    image *= np.float32(255)
    image += np.float32(0.5)
    pixels = np.clip(image, 0, 255, out=image).astype(np.uint8)
    return Phantom(Image.fromarray(pixels, "RGB"), diagnosis, mask, atypia)


def draw_diagnosis(rng: np.random.Generator, malignant: bool) -> str:
    if malignant:
        rng.random()  # keep the stream the same length for both classes
        return MALIGNANT_DIAGNOSIS
    return BENIGN_DIAGNOSES[int(rng.random() < SEBORRHEIC_KERATOSIS_SHARE)]


# --- fields -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    size: int
    x: np.ndarray  # float32 (size, size), -1 .. 1 left to right
    y: np.ndarray  # float32 (size, size), -1 .. 1 top to bottom


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> _Grid:
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return _Grid(size, x, y)


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Roughly unit-variance band-limited noise: a cells x cells Gaussian field, bicubically upsampled."""
    return fractal_noise(rng, size, (cells,))


def fractal_noise(rng: np.random.Generator, size: int, cells: tuple[int, ...],
                  gain: float = 0.55) -> np.ndarray:
    """Octaves of band-limited noise (weights 1, gain, gain^2, ...), summed on the finest grid, resized once."""
    cells = tuple(max(1, min(c, size // 2)) for c in cells)
    finest = max(cells)
    padded = finest + 3  # one cell of margin before and two after, for the bicubic kernel
    total = np.zeros((padded, padded), dtype=np.float32)
    weight, norm = 1.0, 0.0
    for c in cells:
        octave = rng.standard_normal((c + 3, c + 3), dtype=np.float32)
        if c != finest:  # resample onto the finest grid, cell centres aligned
            scale = c / finest
            lo, hi = 1.5 - 1.5 * scale, 1.5 + (padded - 1.5) * scale
            octave = np.asarray(Image.fromarray(octave).resize((padded, padded), Image.BICUBIC,
                                                              box=(lo, lo, hi, hi)))
        total += octave * np.float32(weight)
        norm += weight * weight
        weight *= gain
    box = (1.5, 1.5, 1.5 + finest, 1.5 + finest)
    field = np.asarray(Image.fromarray(total).resize((size, size), Image.BICUBIC, box=box))
    return field * np.float32(1.25 / np.sqrt(norm))  # bicubic upsampling keeps ~0.8 of white noise's deviation


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.float32(0.5) + np.float32(0.5) * np.tanh(np.float32(0.5) * z)


def _colour(rng: np.random.Generator, name: str, jitter: float = 0.06) -> np.ndarray:
    base = np.asarray(COLOURS[name], dtype=np.float32) / 255
    return np.clip(base * np.float32(1 + rng.normal(0, jitter)) + rng.normal(0, 0.02, 3).astype(np.float32), 0, 1)


# --- skin, vignette, hairs ------------------------------------------------------------------------------


def draw_skin(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    """Skin tone (varied across images) with illumination drift, mottling, fine texture; float32 (S, S, 3)."""
    size = grid.size
    tone = rng.dirichlet(SKIN_ALPHA).astype(np.float32) @ SKIN_ANCHORS
    tone = np.clip(tone * np.float32(rng.uniform(0.9, 1.06)), 0, 1)
    light = 1 + np.float32(rng.uniform(0.02, 0.07)) * smooth_noise(rng, size, 3)
    light += np.float32(rng.uniform(-0.08, 0.08)) * grid.x + np.float32(rng.uniform(-0.08, 0.08)) * grid.y
    texture = 1 + np.float32(rng.uniform(0.008, 0.02)) * fractal_noise(rng, size, (32, 64, 128))
    blotch = np.maximum(smooth_noise(rng, size, 6), 0) * np.float32(rng.uniform(0, 0.05))
    redness = np.array([0.0, -1.0, -0.8], dtype=np.float32)  # reddening lowers green and blue
    skin = tone * (light * texture)[..., None] + blotch[..., None] * redness
    return np.clip(skin, 0, 1)


def dermoscope_vignette(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    """The round field of view: ~1 in the middle, falling off, near black outside the circle."""
    cx, cy = rng.normal(0, 0.04, 2)
    radius = float(rng.uniform(0.95, 1.3))
    soft = float(rng.uniform(0.02, 0.06))
    floor = float(rng.uniform(0.03, 0.12))
    r = np.sqrt((grid.x - np.float32(cx)) ** 2 + (grid.y - np.float32(cy)) ** 2)
    inside = _sigmoid((np.float32(radius) - r) / np.float32(soft))
    falloff = 1 - np.float32(rng.uniform(0.1, 0.3)) * (r / np.float32(radius)) ** 2
    return floor + (1 - floor) * inside * falloff


def draw_hairs(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    """Thin dark curved hairs on about 40% of images, drawn supersampled (anti-aliased)."""
    if rng.random() >= 0.4:
        return image
    count = int(rng.integers(1, 8))
    scale = 2
    canvas = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(canvas)
    t = np.linspace(0, 1, 24)[:, None]
    for _ in range(count):
        start, end = rng.uniform(-0.2, 1.2, (2, 2)) * size * scale
        bend = (start + end) / 2 + rng.normal(0, 0.35, 2) * size * scale
        points = (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t ** 2 * end
        width = max(1, round(rng.uniform(0.6, 1.6) * size / 256 * scale))
        draw.line([tuple(p) for p in points], fill=int(rng.uniform(120, 230)), width=width, joint="curve")
    alpha = np.asarray(canvas.reduce(scale), dtype=np.float32)[..., None] / 255
    hair = np.asarray(COLOURS["dark_brown"], dtype=np.float32) / 255 * np.float32(rng.uniform(0.5, 1.3))
    return image * (1 - alpha) + hair * alpha


# --- the lesion -----------------------------------------------------------------------------------------


def draw_lesion_shape(rng: np.random.Generator, grid: _Grid, atypia: float) -> tuple[np.ndarray, np.ndarray]:
    """Soft lesion mask in [0, 1] and normalised depth (1 at the centre, 0 at the border), both (S, S)."""
    size = grid.size
    cx, cy = np.clip(rng.normal(0, 0.06, 2), -0.15, 0.15)
    r0 = float(np.clip(rng.normal(0.36 + 0.2 * atypia, 0.09), 0.14, 0.72))
    aspect = float(rng.uniform(0.68, 1.0))
    tilt = float(rng.uniform(0, np.pi))

    phi = np.linspace(0, 2 * np.pi, _TABLE, endpoint=False)
    ellipse = aspect / np.sqrt((aspect * np.cos(phi - tilt)) ** 2 + np.sin(phi - tilt) ** 2)
    bumps = np.zeros_like(phi)
    low = 0.02 + 0.18 * atypia ** 1.3    # lobes: harmonics 2..6, odd ones break the symmetry
    notch = 0.003 + 0.025 * atypia ** 2  # notches: harmonics 7..18
    for k in range(2, 19):
        amp = (low * (2 / k) ** 1.3) if k < 7 else (notch * 7 / k)
        bumps += amp * rng.normal() * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    radius_table = (r0 * ellipse * np.maximum(1 + bumps, 0.3)).astype(np.float32)

    dx, dy = grid.x - np.float32(cx), grid.y - np.float32(cy)
    r = np.sqrt(dx * dx + dy * dy)
    angle = np.arctan2(dy, dx)
    index = ((angle + np.float32(np.pi)) * np.float32(_TABLE / (2 * np.pi))).astype(np.int32) % _TABLE
    border = np.roll(radius_table, -_TABLE // 2)[index]  # table starts at angle 0, index at -pi
    rough = np.float32(0.012 + 0.16 * atypia * rng.uniform(0.5, 1.5))
    r_eff = r * (1 + rough * fractal_noise(rng, size, (3, 6, 12, 24)))
    width = np.float32(rng.uniform(0.004, 0.008) + 0.025 * atypia * rng.random())
    mask = _sigmoid((border - r_eff) / width)
    depth = np.clip(1 - r_eff / border, 0, 1)
    return mask, depth


def lesion_region(mask: np.ndarray, floor: float = 1e-3) -> tuple[slice, slice]:
    """The bounding box of the lesion (mask above floor): colour work outside it would not show."""
    rows, cols = np.flatnonzero((mask > floor).any(axis=1)), np.flatnonzero((mask > floor).any(axis=0))
    if len(rows) == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def pigment_network(rng: np.random.Generator, grid: _Grid, period_px: float, thickness: float,
                    warp: float = 0.3) -> np.ndarray:
    """A warped honeycomb of lines in [0, 1] (1 on a line), from three plane waves at 120 degrees."""
    size = grid.size
    k = np.float32(2 * np.pi / (period_px * 2 / size))
    cells = max(2, round(size / (1.5 * period_px)))
    shift = np.float32(warp * period_px * 2 / size)
    x = grid.x + shift * smooth_noise(rng, size, cells)
    y = grid.y + shift * smooth_noise(rng, size, cells)
    base = rng.uniform(0, 2 * np.pi)
    waves = np.zeros((size, size), dtype=np.float32)
    for j in range(3):
        a = base + j * 2 * np.pi / 3
        waves += np.cos(k * (np.float32(np.cos(a)) * x + np.float32(np.sin(a)) * y))
    return _sigmoid((np.float32(-0.3) - waves) / np.float32(thickness))


def spots(rng: np.random.Generator, size: int, mask: np.ndarray, count: int, radius_px: tuple[float, float],
          periphery: float = 0.0) -> np.ndarray:
    """Soft dots in [0, 1] placed where the lesion mask is high, optionally nearer its border."""
    ys, xs = np.nonzero(mask > 0.6)
    if count == 0 or len(xs) == 0:
        return np.zeros((size, size), dtype=np.float32)
    layer = Image.new("L", (size, size), 0)
    weights = np.ones(len(xs)) if periphery == 0 else 1 + periphery * (1 - mask[ys, xs]) * 4
    picks = rng.choice(len(xs), size=count, p=weights / weights.sum())
    draw = ImageDraw.Draw(layer)
    scale = size / 256
    for i in picks:
        rad = rng.uniform(*radius_px) * scale
        x, y = xs[i] + rng.uniform(-0.5, 0.5), ys[i] + rng.uniform(-0.5, 0.5)
        draw.ellipse((x - rad, y - rad, x + rad, y + rad), fill=int(rng.uniform(150, 255)))
    layer = layer.filter(ImageFilter.GaussianBlur(0.7 * scale + 0.3))
    return np.asarray(layer, dtype=np.float32) / 255


def _blend(base: np.ndarray, colour: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """base + (colour - base) * weight, in place on base (a float32 (S, S, 3) array)."""
    step = np.subtract(colour, base, dtype=np.float32)
    step *= weight[..., None]
    base += step
    return base


def _patch(rng: np.random.Generator, grid: _Grid, depth: np.ndarray, coverage: float, cells: int,
           region: tuple[slice, slice]) -> np.ndarray:
    """A soft, blotchy sub-region of the lesion (within `region`) covering roughly `coverage` of it."""
    field = fractal_noise(rng, grid.size, (cells, cells * 2))[region]
    threshold = np.float32(NormalDist().inv_cdf(1 - coverage))  # the field is ~N(0, 1)
    return _sigmoid((field - threshold) / np.float32(0.25)) * np.minimum(depth * 4, 1)


def draw_lesion_colour(rng: np.random.Generator, grid: _Grid, mask: np.ndarray, depth: np.ndarray,
                       atypia: float, diagnosis: str, region: tuple[slice, slice]) -> np.ndarray:
    """The lesion's own colour field, float32 (S, S, 3), valid inside `region`; composited by its mask."""
    size = grid.size
    depth = depth[region]
    outer = _colour(rng, "tan" if rng.random() < 0.4 else "light_brown")
    inner = _colour(rng, "mid_brown" if rng.random() < 0.8 - 0.5 * atypia else "dark_brown")
    full = np.zeros((size, size, 3), dtype=np.float32)
    colour = full[region]
    colour[:] = outer
    centre = depth * np.float32(rng.uniform(1.2, 2.5))
    centre += fractal_noise(rng, size, (5, 10, 20))[region] * np.float32(0.05 + 0.4 * atypia)
    _blend(colour, inner, np.clip(centre, 0, 1) * np.float32(0.4 + 0.6 * atypia))
    colour *= (1 + np.float32(0.05) * fractal_noise(rng, size, (32, 64))[region])[..., None]

    if rng.random() < 0.6:  # pigment network: regular and fading at the rim, or broken and uneven
        period = rng.uniform(5, 7) * (1 + atypia * rng.uniform(0, 0.5))
        lines = pigment_network(rng, grid, period, thickness=0.5 + 0.4 * atypia, warp=0.3 + 0.25 * atypia)[region]
        lines *= np.float32(rng.uniform(0.1, 0.28) * (1 + 0.6 * atypia))
        patchy = smooth_noise(rng, size, 6)[region]
        lines *= np.clip(np.float32(0.8) + np.float32(0.4 + 1.2 * atypia) * patchy, 0, 2)
        if atypia < 0.5:
            lines *= np.clip(0.2 + depth * 3, 0, 1)
        _blend(colour, inner * np.float32(0.6), np.clip(lines, 0, 1))

    if diagnosis == "seborrheic_keratosis":  # waxy, cerebriform surface with milia-like cysts
        colour *= (1 + np.float32(0.12) * fractal_noise(rng, size, (16, 32))[region])[..., None]
        milia = spots(rng, size, mask, int(rng.integers(3, 14)), (0.8, 2.2))[region]
        _blend(colour, _colour(rng, "white"), milia * np.float32(0.75))

    if rng.random() < 0.05 + 0.9 * atypia ** 1.5:  # eccentric dark blotch
        blotch = _patch(rng, grid, depth, rng.uniform(0.1, 0.35), 3, region)
        _blend(colour, _colour(rng, "dark_brown" if rng.random() < 0.6 else "black"), blotch * np.float32(0.85))
    if rng.random() < 0.03 + 0.75 * atypia ** 1.5:  # blue-grey veil
        veil = _patch(rng, grid, depth, rng.uniform(0.1, 0.3), 4, region)
        veil *= np.clip(0.8 + 0.3 * smooth_noise(rng, size, 24)[region], 0, 1)
        _blend(colour, _colour(rng, "blue_grey"), veil * np.float32(rng.uniform(0.4, 0.7)))
    if rng.random() < 0.02 + 0.65 * atypia ** 1.5:  # white scar-like regression
        regression = _patch(rng, grid, depth, rng.uniform(0.06, 0.2), 5, region)
        regression *= np.clip(0.7 + 0.25 * fractal_noise(rng, size, (12, 24))[region], 0, 1)
        _blend(colour, _colour(rng, "white"), regression * np.float32(rng.uniform(0.35, 0.6)))
    dots = int(rng.poisson(2 + 30 * atypia ** 2))
    if rng.random() < 0.1 + 0.85 * atypia ** 1.5:  # black dots and globules, more at the periphery
        layer = spots(rng, size, mask, dots, (0.5, 0.8 + 2.0 * atypia), periphery=atypia)[region]
        _blend(colour, _colour(rng, "black"), layer * np.float32(rng.uniform(0.55, 0.9)))
    np.clip(colour, 0, 1, out=colour)
    return full


def _check_args(**args: object) -> None:
    """Reject values no phantom can be made from, naming the argument and what is accepted."""
    def integer(v: object, low: int) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low

    checks = {
        "n": (lambda v: integer(v, 0), "an integer >= 0"),
        "seed": (lambda v: integer(v, 0), "an integer >= 0"),
        "index": (lambda v: integer(v, 0), "an integer >= 0"),
        "size": (lambda v: integer(v, MIN_SIZE), f"an integer >= {MIN_SIZE}"),
        "malignant_fraction": (lambda v: isinstance(v, numbers.Real) and 0 <= v <= 1, "a number in [0, 1]"),
    }
    for name, value in args.items():
        valid, accepted = checks[name]
        if not valid(value):
            raise UserError(f"phantom {name}={value!r} is not valid; accepted: {accepted}")
