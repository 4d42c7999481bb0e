"""StyleGAN2 networks (Karras et al. 2020) in plain PyTorch ops: no custom CUDA kernels, no upfirdn2d.

Generator: z (normalised; a normalised class embedding concatenated when conditional) → mapping network
(equalized-lr FC layers with a learning-rate multiplier) → w; a learned constant 4×4 input; at every
resolution a modulated + demodulated 3×3 convolution (bilinear ×2 upsampling first, from 8×8 on) and a second
one, each followed by a per-pixel noise input with a learned strength, bias and leaky ReLU; a "skip" output:
a modulated 1×1 toRGB at each resolution, upsampled bilinearly and summed. No tanh (as the original): the
images are roughly in [-1, 1], and image writing clips.

Discriminator: "resnet": fromRGB at the image size, residual blocks (two 3×3 convolutions, average-pool ×2
downsampling, a 1×1 skip, both branches scaled by √½) down to 4×4, a minibatch-stddev layer, a 3×3
convolution, an FC layer and the output FC. Conditional: projection — the output FC gives `cmap_dim` values
that are dotted with a class embedding (mapped like G's) and scaled by 1/√cmap_dim.

Every layer uses the equalized learning rate: weights are stored N(0, 1)/lr_mul and scaled by
lr_mul/√fan_in at run time. Blur filters of the original are replaced by bilinear upsampling and average
pooling.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    return max(1, min(channel_base // resolution, channel_max))


def resolutions(image_size: int) -> list[int]:
    """4, 8, …, image_size (a power of two ≥ 8)."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image size {image_size} is not a power of two ≥ 8")
    return [2 ** i for i in range(2, int(math.log2(image_size)) + 1)]


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, act: bool, gain: float = 1.0) -> torch.Tensor:
    """x + bias (per channel, dim 1), then leaky ReLU(0.2)·√2 when `act`, then · gain."""
    if bias is not None:
        x = x + bias.to(x.dtype).view(1, -1, *([1] * (x.ndim - 2)))
    if act:
        x = F.leaky_relu(x, 0.2) * LRELU_GAIN
    return x * gain if gain != 1.0 else x


class EqLinear(nn.Module):
    """Fully connected layer with equalized learning rate (and an optional lr multiplier)."""

    def __init__(self, c_in: int, c_out: int, *, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 act: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(c_in)
        self.lr_mul, self.act = lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.lr_mul if self.bias is not None else None
        return bias_act(F.linear(x, w), b, act=self.act)


class EqConv2d(nn.Module):
    """Convolution with equalized learning rate; `down` average-pools ×2 before it (the blur + stride-2
    convolution of the original, at a quarter of the cost)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, bias: bool = True, act: bool = True,
                 down: bool = False, gain: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.padding, self.act, self.down, self.gain = kernel // 2, act, down, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        x = F.conv2d(x, self.weight.to(x.dtype) * self.weight_gain, padding=self.padding)
        return bias_act(x, self.bias, self.act, self.gain)


# --------------------------------------------------------------------------------------------- generator
class MappingNetwork(nn.Module):
    """z [+ class] → w: normalise z (and the class embedding), concatenate, `layers` FC layers with lr_mul."""

    def __init__(self, z_dim: int, n_classes: int, w_dim: int, layers: int, lr_mul: float) -> None:
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        self.embed = EqLinear(n_classes, w_dim) if n_classes else None
        features = [z_dim + (w_dim if n_classes else 0)] + [w_dim] * layers
        self.fcs = nn.ModuleList(EqLinear(a, b, lr_mul=lr_mul, act=True) for a, b in zip(features[:-1], features[1:], strict=True))

    def forward(self, z: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.z_dim:
            assert z is not None
            parts.append(normalize_2nd_moment(z.float()))
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional StyleGAN2 network needs class labels")
            parts.append(normalize_2nd_moment(self.embed(F.one_hot(labels, self.n_classes).float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for fc in self.fcs:
            x = fc(x)
        return x


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels are scaled per sample by a style s = A(w) (bias init 1), with
    optional demodulation: the per-sample weights w'·s are divided by their L2 norm over (in, k, k), so every
    output channel has unit norm. Two equal computations: `fused` (per-sample weights in one grouped
    convolution) and the default (scale the activations by s, one shared convolution, scale by the
    demodulation coefficients: what stylegan2-ada trains with; faster and channels_last-friendly)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, *, demodulate: bool = True,
                 up: bool = False) -> None:
        super().__init__()
        self.affine = EqLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.weight_gain = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.demodulate, self.up, self.padding = demodulate, up, kernel // 2

    def styles(self, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)
        return s if self.demodulate else s * self.weight_gain  # toRGB: the gain goes into the style

    def modulated_weight(self, styles: torch.Tensor) -> torch.Tensor:
        """The per-sample weights (B, out, in, k, k) after modulation and demodulation."""
        weight = self.weight.float() * (self.weight_gain if self.demodulate else 1.0)
        weight = weight.unsqueeze(0) * styles.float()[:, None, :, None, None]
        if self.demodulate:
            weight = weight * self.demod_coefficients(styles)[:, :, None, None, None]
        return weight

    def demod_coefficients(self, styles: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() * self.weight_gain
        return ((weight.unsqueeze(0) * styles.float()[:, None, :, None, None]).square().sum(dim=(2, 3, 4))
                + 1e-8).rsqrt()

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        styles = self.styles(w)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        b = x.shape[0]
        if fused:
            weight = self.modulated_weight(styles).to(x.dtype)
            out = F.conv2d(x.reshape(1, -1, *x.shape[2:]), weight.reshape(-1, *weight.shape[2:]),
                           padding=self.padding, groups=b)
            return out.reshape(b, -1, *out.shape[2:])
        weight = self.weight.to(x.dtype) * (self.weight_gain if self.demodulate else 1.0)
        x = x * styles.to(x.dtype)[:, :, None, None]
        x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            x = x * self.demod_coefficients(styles).to(x.dtype)[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution, + noise · learned strength (init 0), + bias, leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.resolution = resolution

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x, w)
        if noise is None:  # training: a fresh draw from the global RNG (checkpointed with the run)
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
        x = x + noise.to(x.dtype) * self.noise_strength.to(x.dtype)
        return bias_act(x, self.bias, act=True)


class ToRGB(nn.Module):
    def __init__(self, c_in: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return bias_act(self.conv(x, w), self.bias, act=False)


class Generator(nn.Module):
    """z (B, nz) [+ class labels (B,)] → images (B, 3, S, S), roughly in [-1, 1].

    In training mode the noise inputs are fresh draws from the global RNG (saved in checkpoints). In eval mode
    (sample grids, `skingan sample`, `evaluate-gan`) each image's noise is drawn from a generator seeded by a
    hash of its own z and label, and images are computed one at a time: an image depends only on its latent,
    bit for bit at any batch size, and drawing samples never touches the global RNG of a training run.
    """

    def __init__(self, *, nz: int, image_size: int, n_classes: int = 0, w_dim: int = 256, mapping_layers: int = 2,
                 mapping_lr_mul: float = 0.01, channel_base: int = 8192, channel_max: int = 256) -> None:
        super().__init__()
        self.nz, self.image_size, self.n_classes = nz, image_size, n_classes
        self.mapping = MappingNetwork(nz, n_classes, w_dim, mapping_layers, mapping_lr_mul)
        res = resolutions(image_size)
        ch = {r: channels_at(r, channel_base, channel_max) for r in res}
        self.const = nn.Parameter(torch.randn(ch[4], 4, 4))
        self.layers = nn.ModuleList()
        self.torgbs = nn.ModuleList()
        for r in res:
            if r > 4:
                self.layers.append(SynthesisLayer(ch[r // 2], ch[r], w_dim, r, up=True))
            self.layers.append(SynthesisLayer(ch[r], ch[r], w_dim, r))
            self.torgbs.append(ToRGB(ch[r], w_dim))

    def noise_shapes(self) -> list[int]:
        return [layer.resolution for layer in self.layers]

    def eval_noise(self, z: torch.Tensor, labels: torch.Tensor | None) -> list[torch.Tensor]:
        """Per-image noise maps seeded by the image's own latent (and label): reproducible, batch-independent."""
        sizes = self.noise_shapes()
        total = sum(r * r for r in sizes)
        zs = z.detach().float().cpu().numpy()
        ys = labels.detach().cpu().numpy() if labels is not None else None
        draws = []
        for i in range(zs.shape[0]):
            key = np.ascontiguousarray(zs[i]).tobytes() + (b"" if ys is None else int(ys[i]).to_bytes(8, "little"))
            seed = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & (2 ** 63 - 1)
            draws.append(torch.randn(total, generator=torch.Generator().manual_seed(seed)))
        flat = torch.stack(draws).to(z.device)
        maps, start = [], 0
        for r in sizes:
            maps.append(flat[:, start:start + r * r].reshape(-1, 1, r, r))
            start += r * r
        return maps

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes and labels is None:
            raise ValueError("a conditional generator needs class labels")
        if not self.training and z.shape[0] > 1:
            # one image at a time: matrix products round differently at different batch sizes, and a
            # sample must not change with --batch-size
            return torch.cat([self(z[i:i + 1], None if labels is None else labels[i:i + 1])
                              for i in range(z.shape[0])])
        w = self.mapping(z, labels if self.n_classes else None)
        noises: list[torch.Tensor | None] = (self.eval_noise(z, labels if self.n_classes else None)
                                             if not self.training else [None] * len(self.layers))
        x = self.const.unsqueeze(0).expand(z.shape[0], -1, -1, -1)
        img: torch.Tensor | None = None
        layer = 0
        for i, torgb in enumerate(self.torgbs):
            for _ in range(1 if i == 0 else 2):
                x = self.layers[layer](x, w, noises[layer])
                layer += 1
            y = torgb(x, w)
            img = y if img is None else F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + y
        assert img is not None
        return img


# ----------------------------------------------------------------------------------------- discriminator
class MinibatchStd(nn.Module):
    """Append the mean standard deviation over groups of `group_size` samples (strided, as the original:
    samples i, i + N/G, … form a group) as `channels` extra feature maps. The group is the largest size
    ≤ group_size that divides the batch."""

    def __init__(self, group_size: int = 4, channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.channels = group_size, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, n) + 1) if n % d == 0)
        f = self.channels
        y = x.float().reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # (N/G, F)
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)


class DBlock(nn.Module):
    """Residual block: conv 3×3 (c_in → c_in), pool + conv 3×3 (→ c_out); skip: pool + 1×1; sum · √½ each."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        gain = math.sqrt(0.5)
        self.conv0 = EqConv2d(c_in, c_in, 3)
        self.conv1 = EqConv2d(c_in, c_out, 3, down=True, gain=gain)
        self.skip = EqConv2d(c_in, c_out, 1, bias=False, act=False, down=True, gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv1(self.conv0(x))


class Discriminator(nn.Module):
    """images (B, 3, S, S) [+ labels] → (logits (B,), None); projection conditioning when n_classes > 1."""

    def __init__(self, *, image_size: int, n_classes: int = 0, channel_base: int = 8192, channel_max: int = 256,
                 mbstd_group: int = 4, mbstd_channels: int = 1, mapping_layers: int = 2,
                 mapping_lr_mul: float = 0.01) -> None:
        super().__init__()
        self.image_size, self.n_classes = image_size, n_classes
        res = resolutions(image_size)
        ch = {r: channels_at(r, channel_base, channel_max) for r in res}
        self.from_rgb = EqConv2d(3, ch[image_size], 1)
        self.blocks = nn.Sequential(*[DBlock(ch[r], ch[r // 2]) for r in reversed(res[1:])])
        c4 = ch[4]
        self.mbstd = MinibatchStd(mbstd_group, mbstd_channels) if mbstd_channels else None
        self.conv = EqConv2d(c4 + (mbstd_channels if mbstd_channels else 0), c4, 3)
        self.fc = EqLinear(c4 * 16, c4, act=True)
        self.cmap_dim = c4 if n_classes else 0
        self.out = EqLinear(c4, self.cmap_dim or 1)
        self.mapping = MappingNetwork(0, n_classes, c4, mapping_layers, mapping_lr_mul) if n_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        h = self.blocks(self.from_rgb(x))
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = self.fc(self.conv(h).flatten(1))
        out = self.out(h)
        if self.mapping is not None:
            if labels is None:
                raise ValueError("a conditional StyleGAN2 discriminator needs class labels (projection)")
            cmap = self.mapping(None, labels)
            out = (out * cmap.to(out.dtype)).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return out.flatten(), None
