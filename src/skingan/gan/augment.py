"""DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout on real and fake images
before the discriminator.

Unlike the reference implementation, random numbers come from a `torch.Generator` owned by the augmenter
(never the global RNG), the policy is resolved once when it is built, and the generator state is saved in
checkpoints so a resumed run draws the same augmentations. Under DDP every rank draws the parameters for
the whole global batch and keeps its own strided share, so N processes augment exactly as one would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> list[str]:
    """'color,translation,cutout' → names; '' or 'none' → no augmentation."""
    if policy.strip().lower() in ("", "none", "off"):
        return []
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"DiffAugment policy '{name}' is not known; accepted: {', '.join(POLICIES)}")
    return names


class DiffAugment:
    def __init__(self, policy: str = "color,translation,cutout", seed: int = 0, rank: int = 0, world: int = 1,
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.5) -> None:
        self.names = parse_policy(policy)
        self.generator = torch.Generator().manual_seed(seed)
        self.rank, self.world = rank, world
        self.translation_ratio, self.cutout_ratio = translation_ratio, cutout_ratio

    @property
    def enabled(self) -> bool:
        return bool(self.names)

    def state_dict(self) -> dict:
        return {"policy": ",".join(self.names), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def observe(self, scalars: dict[str, torch.Tensor]) -> None:
        """A fixed policy: nothing to adapt."""

    def scalars(self) -> dict[str, float]:
        return {}

    def _rand(self, n: int, *shape: int) -> torch.Tensor:
        values = torch.rand(n * self.world, *shape, generator=self.generator)
        return values[self.rank::self.world]

    def _randint(self, low: int, high: int, n: int) -> torch.Tensor:
        values = torch.randint(low, high, (n * self.world,), generator=self.generator)
        return values[self.rank::self.world]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.names:
            x = getattr(self, name)(x)
        return x

    def color(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        brightness, saturation, contrast = (self._rand(n, 1, 1, 1).to(x.device, x.dtype) for _ in range(3))
        x = x + (brightness - 0.5)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (saturation * 2) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (contrast + 0.5) + mean

    def translation(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        sh, sw = int(h * self.translation_ratio + 0.5), int(w * self.translation_ratio + 0.5)
        tx = self._randint(-sh, sh + 1, n).to(x.device).view(n, 1, 1)
        ty = self._randint(-sw, sw + 1, n).to(x.device).view(n, 1, 1)
        gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                    torch.arange(w, device=x.device), indexing="ij")
        gx = torch.clamp(gx + tx + 1, 0, h + 1)
        gy = torch.clamp(gy + ty + 1, 0, w + 1)
        padded = F.pad(x, [1, 1, 1, 1])
        return padded.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)

    def cutout(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        ch, cw = int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5)
        ox = self._randint(0, h + (1 - ch % 2), n).to(x.device).view(n, 1, 1)
        oy = self._randint(0, w + (1 - cw % 2), n).to(x.device).view(n, 1, 1)
        gb, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                                    torch.arange(cw, device=x.device), indexing="ij")
        gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
        gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
        mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
        mask[gb, gx, gy] = 0
        return x * mask.unsqueeze(1)
