"""Adaptive discriminator augmentation (ADA, Karras et al. 2020), in plain PyTorch ops.

Every image shown to D (real and fake, in the D and G steps and in R1) passes through a differentiable
pipeline in which each operation is applied to each sample with probability p:

- geometric (one resampling of the composed 2-D transform, bilinear, reflect padding): x-flip, 90° rotations,
  integer translation (±12.5 %), isotropic scaling (log2 ~ N(0, 0.2²)), arbitrary rotation (twice, around the
  anisotropic scaling, each with probability 1 − √(1 − p)), anisotropic scaling (log2 ~ N(0, 0.2²)),
  fractional translation (N(0, 0.125²)). Integer-valued transforms (flips, 90° rotations, integer shifts)
  move pixels exactly;
- colour (one 4×4 matrix on RGB in [-1, 1]): brightness (+N(0, 0.2²)), contrast (log2 ~ N(0, 0.5²)), luma
  flip, hue rotation (±180°) around the luma axis, saturation (log2 ~ N(0, 1));
- cutout (not in the default `bgc` pipeline): a square of half the image size set to 0.

The sampler is written with gathers, so R1's second derivative flows through it (torch's grid_sample has no
double backward, the reason stylegan2-ada ships its own).

p adapts to the overfitting heuristic r_t = E[sign D(real)]: the loss reports the batch mean of sign D(real)
after every D update (`observe`); every `interval` D updates the means are averaged (all-reduced under DDP, so
every rank gets the same r_t and p) and p moves by sign(r_t − target) · batch · interval / (kimg · 1000),
clamped to [0, 1). With kimg 100, p can go from 0 to 1 in 100k real images shown to D.

Unlike stylegan2-ada, everything the schedule needs (p, the accumulated sum and count, the last r_t, the
number of adjustments and the RNG state) is in `state_dict`, so a resumed run continues exactly. Random
numbers come from the augmenter's own `torch.Generator`; under DDP each rank draws for the global batch and
keeps its strided share (as DiffAugment), so N processes augment exactly as one.
"""

from __future__ import annotations

import math

import torch

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
OPS = (*GEOMETRIC, *COLOR, "cutout")
PRESETS = {
    "bgc": GEOMETRIC + COLOR,  # stylegan2-ada's default
    "bg": GEOMETRIC,
    "blit": ("xflip", "rotate90", "xint"),
    "bgcc": GEOMETRIC + COLOR + ("cutout",),
}
P_MAX = 1.0 - 1e-6  # p stays below 1: some samples always pass unaugmented

# stylegan2-ada's magnitudes (images in [-1, 1]; translations as fractions of the image size)
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD, CUTOUT_SIZE = 0.2, 0.5, 1.0, 1.0, 0.5


def parse_ops(text: str) -> tuple[str, ...]:
    """'bgc' (or another preset) or a comma list of operation names; '' / 'none' → no operation."""
    text = text.strip().lower()
    if text in ("", "none", "off"):
        return ()
    if text in PRESETS:
        return PRESETS[text]
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in OPS:
            raise ValueError(f"ADA operation '{name}' is not known; accepted: {', '.join(PRESETS)} or a comma "
                             f"list of {', '.join(OPS)}")
    return tuple(op for op in OPS if op in names)  # the canonical order, whatever order was given


class AdaptiveAugment:
    """The ADA augmenter (see the module docstring); implements the `Augmenter` protocol."""

    def __init__(self, ops: str = "bgc", *, p: float = 0.0, target: float = 0.6, interval: int = 4,
                 kimg: float = 100.0, batch_size: int = 32, adjust: bool = True, seed: int = 0, rank: int = 0,
                 world: int = 1) -> None:
        self.ops = parse_ops(ops)
        self.p = float(p)
        self.target, self.interval, self.kimg, self.batch_size, self.adjust = target, interval, kimg, batch_size, adjust
        self.rank, self.world = rank, world
        self.generator = torch.Generator().manual_seed(seed)
        self.rt = float("nan")  # the last r_t (nan before the first adjustment)
        self.updates = 0
        self._sum: torch.Tensor | None = None  # sum of per-D-step means of sign D(real), on the device
        self._count = 0

    # ------------------------------------------------------------------------------------ the schedule
    def observe(self, scalars: dict[str, torch.Tensor]) -> None:
        if "d_real_sign" not in scalars:
            raise ValueError("ADA needs the loss to report d_real_sign (the mean of sign D(real))")
        value = scalars["d_real_sign"].detach().to(torch.float64)
        self._sum = value if self._sum is None else self._sum.to(value.device) + value  # no device sync
        self._count += 1
        if self._count >= self.interval:
            self._update()

    def _update(self) -> None:
        assert self._sum is not None
        stats = torch.stack([self._sum.reshape(()), torch.tensor(float(self._count), dtype=torch.float64,
                                                                 device=self._sum.device)])
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(stats)
        total, count = (float(v) for v in stats.cpu())
        self.rt = total / count
        if self.adjust:
            step = self.batch_size * self._count / (self.kimg * 1000.0)
            sign = (self.rt > self.target) - (self.rt < self.target)
            self.p = min(max(self.p + sign * step, 0.0), P_MAX)
        self.updates += 1
        self._sum, self._count = None, 0

    def scalars(self) -> dict[str, float]:
        return {"augment_p": self.p, "ada_rt": self.rt}

    def state_dict(self) -> dict:
        return {"kind": "ada", "ops": ",".join(self.ops), "p": self.p, "rt": self.rt, "updates": self.updates,
                "sum": float(self._sum) if self._sum is not None else 0.0, "count": self._count,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") != "ada":
            raise ValueError("the checkpoint's augment_state is not ADA's (was the run trained without ADA?)")
        self.p, self.rt, self.updates = float(state["p"]), float(state["rt"]), int(state["updates"])
        self._count = int(state["count"])
        self._sum = torch.tensor(float(state["sum"]), dtype=torch.float64) if self._count else None
        self.generator.set_state(state["generator"])

    # ----------------------------------------------------------------------------------- random numbers
    def _rand(self, n: int, *shape: int) -> torch.Tensor:
        return torch.rand(n * self.world, *shape, generator=self.generator, dtype=torch.float64)[self.rank::self.world]

    def _randn(self, n: int, *shape: int) -> torch.Tensor:
        return torch.randn(n * self.world, *shape, generator=self.generator, dtype=torch.float64)[self.rank::self.world]

    def _mask(self, n: int, p: float) -> torch.Tensor:
        return self._rand(n) < p

    # -------------------------------------------------------------------------------- the augmentation
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0.0 or not self.ops:
            return x
        n = x.shape[0]
        geometric = self._geometric_matrices(n, x.shape[3], x.shape[2])
        if geometric is not None:
            x = resample(x, geometric)
        color = self._color_matrices(n)
        if color is not None:
            x = apply_color(x, color)
        if "cutout" in self.ops:
            x = self._cutout(x)
        return x

    def _geometric_matrices(self, n: int, width: int, height: int) -> torch.Tensor | None:
        """(n, 3, 3) maps from output to input coordinates in [-1, 1] (float64, CPU); None: all identity."""
        ops, p = self.ops, self.p
        if not any(op in ops for op in GEOMETRIC):
            return None
        m = torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)
        if "xflip" in ops:
            mask = self._mask(n, p)
            flip = torch.floor(self._rand(n) * 2)
            m = m @ scale2d(1 - 2 * torch.where(mask, flip, 0.0), torch.ones(n, dtype=torch.float64))
        if "rotate90" in ops:
            mask = self._mask(n, p)
            k = torch.where(mask, torch.floor(self._rand(n) * 4), 0.0).long()
            cos = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=torch.float64)[k]
            sin = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=torch.float64)[k]
            m = m @ rotate2d(cos, sin)
        if "xint" in ops:
            mask = self._mask(n, p)
            t = torch.where(mask[:, None], (self._rand(n, 2) * 2 - 1) * XINT_MAX, 0.0)
            # whole pixels (2/size per pixel in [-1, 1] coordinates)
            m = m @ translate2d(2 * torch.round(t[:, 0] * width) / width, 2 * torch.round(t[:, 1] * height) / height)
        if "scale" in ops:
            mask = self._mask(n, p)
            s = torch.where(mask, torch.exp2(self._randn(n) * SCALE_STD), 1.0)
            m = m @ scale2d(s, s)
        p_rot = 1 - math.sqrt(max(1 - p, 0.0))  # two rotations: the total probability is p
        if "rotate" in ops:
            mask = self._mask(n, p_rot)
            theta = torch.where(mask, (self._rand(n) * 2 - 1) * math.pi * ROTATE_MAX, 0.0)
            m = m @ rotate2d(torch.cos(theta), torch.sin(theta))
        if "aniso" in ops:
            mask = self._mask(n, p)
            s = torch.where(mask, torch.exp2(self._randn(n) * ANISO_STD), 1.0)
            m = m @ scale2d(s, 1 / s)
        if "rotate" in ops:
            mask = self._mask(n, p_rot)
            theta = torch.where(mask, (self._rand(n) * 2 - 1) * math.pi * ROTATE_MAX, 0.0)
            m = m @ rotate2d(torch.cos(theta), torch.sin(theta))
        if "xfrac" in ops:
            mask = self._mask(n, p)
            t = torch.where(mask[:, None], self._randn(n, 2) * XFRAC_STD, 0.0)
            m = m @ translate2d(2 * t[:, 0], 2 * t[:, 1])
        if torch.equal(m, torch.eye(3, dtype=torch.float64).expand(n, 3, 3)):
            return None
        return m

    def _color_matrices(self, n: int) -> torch.Tensor | None:
        """(n, 4, 4) affine maps on homogeneous RGB (float64, CPU); None: all identity."""
        ops, p = self.ops, self.p
        if not any(op in ops for op in COLOR):
            return None
        c = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
        v = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=torch.float64) / math.sqrt(3)  # the luma axis
        vv = torch.outer(v, v)
        eye = torch.eye(4, dtype=torch.float64)
        if "brightness" in ops:
            mask = self._mask(n, p)
            b = torch.where(mask, self._randn(n) * BRIGHTNESS_STD, 0.0)
            t = eye.repeat(n, 1, 1)
            t[:, :3, 3] = b[:, None]
            c = t @ c
        if "contrast" in ops:
            mask = self._mask(n, p)
            s = torch.where(mask, torch.exp2(self._randn(n) * CONTRAST_STD), 1.0)
            t = eye.repeat(n, 1, 1)
            t[:, 0, 0] = t[:, 1, 1] = t[:, 2, 2] = s
            c = t @ c
        if "lumaflip" in ops:
            mask = self._mask(n, p)
            flip = torch.where(mask, torch.floor(self._rand(n) * 2), 0.0)
            c = (eye - 2 * vv * flip[:, None, None]) @ c
        if "hue" in ops:
            mask = self._mask(n, p)
            theta = torch.where(mask, (self._rand(n) * 2 - 1) * math.pi * HUE_MAX, 0.0)
            c = rotate3d(v[:3], theta) @ c
        if "saturation" in ops:
            mask = self._mask(n, p)
            s = torch.where(mask, torch.exp2(self._randn(n) * SATURATION_STD), 1.0)
            c = (vv + (eye - vv) * s[:, None, None]) @ c
        if torch.equal(c, torch.eye(4, dtype=torch.float64).expand(n, 4, 4)):
            return None
        return c

    def _cutout(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        mask = self._mask(n, self.p)
        centre = self._rand(n, 2)
        if not bool(mask.any()):
            return x
        cx = centre[:, 0].to(x.device, torch.float32).view(n, 1, 1, 1)
        cy = centre[:, 1].to(x.device, torch.float32).view(n, 1, 1, 1)
        gx = ((torch.arange(w, device=x.device, dtype=torch.float32) + 0.5) / w).view(1, 1, 1, w)
        gy = ((torch.arange(h, device=x.device, dtype=torch.float32) + 0.5) / h).view(1, 1, h, 1)
        keep = ((gx - cx).abs() >= CUTOUT_SIZE / 2) | ((gy - cy).abs() >= CUTOUT_SIZE / 2)
        keep = keep | ~mask.to(x.device).view(n, 1, 1, 1)
        return x * keep.to(x.dtype)


# ------------------------------------------------------------------------------------------ the matrices
def _matrix(rows: list[list[torch.Tensor | float]], n: int) -> torch.Tensor:
    out = torch.zeros(n, len(rows), len(rows[0]), dtype=torch.float64)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            out[:, i, j] = value
    return out


def scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _matrix([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]], sx.shape[0])


def rotate2d(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return _matrix([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]], cos.shape[0])


def translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _matrix([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]], tx.shape[0])


def rotate3d(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(n, 4, 4) rotations by theta around the unit `axis` (3,) (Rodrigues)."""
    x, y, z = (float(a) for a in axis)
    cos, sin = torch.cos(theta), torch.sin(theta)
    one = 1 - cos
    return _matrix([
        [cos + x * x * one, x * y * one - z * sin, x * z * one + y * sin, 0.0],
        [y * x * one + z * sin, cos + y * y * one, y * z * one - x * sin, 0.0],
        [z * x * one - y * sin, z * y * one + x * sin, cos + z * z * one, 0.0],
        [0.0, 0.0, 0.0, 1.0]], theta.shape[0])


# --------------------------------------------------------------------------------------- applying them
def reflect_index(i: torch.Tensor, size: int) -> torch.Tensor:
    """Integer coordinates mirrored into [0, size − 1] (… 2 1 | 0 1 … size−1 | size−2 …)."""
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - i, i)


def resample(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling of x (n, c, h, w) at matrices @ (u, v, 1) for every output pixel centre (u, v) in
    [-1, 1], reflect padding. Built from gathers: differentiable twice (R1 through the augmentation)."""
    n, c, h, w = x.shape
    channels_last = _is_channels_last(x)
    dtype, x = x.dtype, x.float()  # bf16/fp16 inputs (AMP) are blended in fp32
    theta = matrices[:, :2, :].to(torch.float64)
    u = (2 * torch.arange(w, dtype=torch.float64) + 1) / w - 1
    v = (2 * torch.arange(h, dtype=torch.float64) + 1) / h - 1
    base = torch.stack([u.view(1, w).expand(h, w), v.view(h, 1).expand(h, w), torch.ones(h, w, dtype=torch.float64)], -1)
    src = torch.einsum("nij,hwj->nhwi", theta, base)  # (n, h, w, 2), float64 on the CPU: exact for pixel moves
    px = (src[..., 0] + 1) * (w / 2) - 0.5
    py = (src[..., 1] + 1) * (h / 2) - 0.5
    px = torch.where((px - px.round()).abs() < 1e-6, px.round(), px)  # integer moves stay exact
    py = torch.where((py - py.round()).abs() < 1e-6, py.round(), py)
    x0, y0 = torch.floor(px), torch.floor(py)
    fx, fy = (px - x0).to(x.device, torch.float32), (py - y0).to(x.device, torch.float32)
    x0, y0 = x0.long(), y0.long()
    flat = x.reshape(n, c, h * w)

    def tap(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        index = (reflect_index(yi, h) * w + reflect_index(xi, w)).reshape(n, 1, h * w).to(x.device)
        return flat.gather(2, index.expand(n, c, h * w)).reshape(n, c, h, w)

    fx, fy = fx.unsqueeze(1), fy.unsqueeze(1)
    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    out = (top * (1 - fy) + bottom * fy).to(dtype)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def apply_color(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    m = matrices.to(x.device, torch.float32)
    out = torch.einsum("nij,njp->nip", m[:, :3, :3], x.float().reshape(n, c, h * w)) + m[:, :3, 3:]
    out = out.reshape(n, c, h, w).to(x.dtype)
    return out.contiguous(memory_format=torch.channels_last) if _is_channels_last(x) else out


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
