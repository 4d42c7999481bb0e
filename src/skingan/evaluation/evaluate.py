"""The evaluate-gan pipeline: fakes (a samples folder or a generator) vs the prepared real set →
metrics.json, metrics.md and figures; and `compare` → one table across runs."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from skingan.data.prepared import CLASS_NAMES, PreparedSet, class_index
from skingan.errors import UserError
from skingan.evaluation import iqa
from skingan.evaluation.distribution import DC_K, PR_K, distribution_metrics
from skingan.evaluation.features import (
    Extractor,
    build_extractor,
    cached_features,
    default_cache_dir,
    real_cache_key,
)
from skingan.evaluation.memorization import memorization
from skingan.runs import atomic_write_json, atomic_write_text

log = logging.getLogger("skingan")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MIN_IMAGES = DC_K + 2  # k-NN radii need more than k points per set


@dataclass
class FakeSet:
    """Generated images of one class, uint8 (N, S, S, 3), and where they came from."""

    images: np.ndarray
    class_name: str
    source: dict = field(default_factory=dict)


@dataclass
class EvalSettings:
    split: str = "train"
    n: int = 2000
    features: str = "lite0"
    inception_weights: str | None = None
    resize: int | None = None
    batch_size: int = 64
    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    diversity_pairs: int = 500
    feature_cache: Path | None = None  # None: no cache
    device: str = "cpu"


# ---------------------------------------------------------------- loading fakes

def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise UserError(f"'{path}' is not a readable image: {error}") from error


def _stack(paths: list[Path], where: Path) -> np.ndarray:
    arrays = [_read_image(p) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise UserError(f"images in '{where}' have different sizes {sorted(shapes)[:4]}; all fakes must share one size")
    shape = shapes.pop()
    if shape[0] != shape[1]:
        raise UserError(f"images in '{where}' are {shape[1]}x{shape[0]}; square images are expected")
    return np.stack(arrays)


def resolve_class(requested: str | None, available: list[str], where: str) -> str:
    if requested is not None:
        name = CLASS_NAMES[class_index(requested)]
        if available and name not in available:
            raise UserError(f"--class {requested}: {where} has only {', '.join(available)}")
        return name
    if len(available) == 1:
        return available[0]
    if not available:
        raise UserError(f"{where} does not say which class its images are; pass --class benign|malignant")
    raise UserError(f"{where} holds several classes ({', '.join(available)}); choose one with --class")


def load_samples_dir(folder: str | Path, class_name: str | None, n: int) -> FakeSet:
    """A `skingan sample` folder (manifest.csv) or a plain folder of PNG/JPEG images (then --class is needed)."""
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--samples '{folder}' is not a folder")
    manifest = folder / "manifest.csv"
    source: dict = {"kind": "samples", "path": str(folder)}
    if manifest.is_file():
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        if not {"file", "class"} <= set(table.columns):
            raise UserError(f"'{manifest}' lacks the columns file and class (is it a 'skingan sample' manifest?)")
        name = resolve_class(class_name, sorted(table["class"].astype(str).unique()), f"'{manifest}'")
        rows = table[table["class"].astype(str) == name]
        if "index" in rows.columns:
            rows = rows.iloc[np.argsort(pd.to_numeric(rows["index"], errors="coerce").to_numpy(), kind="stable")]
        rows = rows.head(n)
        paths = [folder / f for f in rows["file"]]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"'{manifest}' lists '{missing[0]}', which does not exist ({len(missing)} missing)")
        first = rows.iloc[0].to_dict() if len(rows) else {}
        for key in ("checkpoint", "step", "arch", "image_size", "config_hash", "prepared_hash", "train_split"):
            if key in first and first[key] != "":
                source[key] = first[key]
    else:
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise UserError(f"--samples '{folder}' holds no manifest.csv and no PNG/JPEG images")
        if class_name is None:
            raise UserError(f"--samples '{folder}' has no manifest.csv; say which class its images are "
                            "with --class benign|malignant")
        name = CLASS_NAMES[class_index(class_name)]
        paths = paths[:n]
    if not paths:
        raise UserError(f"--samples '{folder}' has no images of class {name}")
    source["image_format"] = ",".join(sorted({p.suffix.lower().lstrip(".") for p in paths}))
    return FakeSet(_stack(paths, folder), name, source)


def find_run_checkpoint(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    checkpoint = run_dir / "checkpoints" / "last.pt"
    if not checkpoint.is_file():
        raise UserError(f"--run '{run_dir}' has no checkpoints/last.pt (is it a 'skingan train-gan' run folder?)")
    return checkpoint


def generate_fakes(checkpoint: str | Path, class_name: str | None, n: int, seed: int, device: str,
                   batch_size: int = 64) -> FakeSet:
    """Sample n images of one class from a GAN checkpoint (EMA weights), in memory (lossless, like PNG)."""
    try:
        from skingan.gan.sample import generate_images, load_generator
    except ImportError as error:
        raise UserError("evaluating a checkpoint needs skingan.gan.sample, which this installation lacks; "
                        "write images with another tool and pass --samples DIR") from error
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise UserError(f"--checkpoint '{checkpoint}' does not exist")
    generator, meta = load_generator(checkpoint, device=device, use_ema=True)
    classes = [str(c) for c in (meta.get("classes") or [])]
    name = resolve_class(class_name, classes, f"generator '{checkpoint}'")
    images = generate_images(generator, meta, n, name, seed, batch_size=batch_size, device=device)
    source = {"kind": "checkpoint", "checkpoint": str(checkpoint), "image_format": "uint8 in memory (lossless)",
              **{k: meta.get(k) for k in ("arch", "step", "image_size", "config_hash", "prepared_hash",
                                          "train_split", "conditional")}}
    return FakeSet(np.asarray(images, dtype=np.uint8), name, source)


# ---------------------------------------------------------------- the pipeline

def _real_features(extractor: Extractor, prepared: PreparedSet, images: np.ndarray, indices: np.ndarray,
                   split: str, class_name: str, settings: EvalSettings) -> tuple[np.ndarray, bool]:
    key = real_cache_key(extractor, prepared_hash=prepared.hash, split=split, class_name=class_name,
                         image_size=images.shape[1], indices=indices)
    return cached_features(extractor, images[indices], key, settings.feature_cache, settings.batch_size)


def check_prepared_hash(fakes: FakeSet, prepared: PreparedSet) -> bool | None:
    expected = fakes.source.get("prepared_hash")
    if not expected:
        return None
    if str(expected) != prepared.hash:
        log.warning("WARNING: the generator was trained on prepared set %s…, but --data '%s' is %s…; "
                    "the real reference differs from its training data", str(expected)[:12], prepared.root,
                    prepared.hash[:12])
        return False
    return True


def evaluate(fakes: FakeSet, prepared: PreparedSet, settings: EvalSettings, out: str | Path, *,
             name: str | None = None, extractor: Extractor | None = None) -> dict:
    """Compute every metric of metrics.json, write it with metrics.md and the figures, and return it."""
    out = Path(out)
    size = fakes.images.shape[1]
    all_reals = prepared.images(size)
    target = class_index(fakes.class_name)
    ref_idx = prepared.indices(settings.split, [target])
    train_idx = prepared.indices("train", [target])
    val_idx = prepared.indices("val", [target])
    for label, count in (("fake", len(fakes.images)), (f"real {settings.split}/{fakes.class_name}", len(ref_idx)),
                         (f"real train/{fakes.class_name}", len(train_idx))):
        if count < MIN_IMAGES:
            raise UserError(f"only {count} {label} images; at least {MIN_IMAGES} are needed (k-NN metrics, k={DC_K})")
    if len(fakes.images) < settings.n:
        log.warning("only %d fakes of class %s (asked --n %d); evaluating all of them",
                    len(fakes.images), fakes.class_name, settings.n)

    extractor = extractor or build_extractor(settings.features, device=settings.device, resize=settings.resize,
                                             inception_weights=settings.inception_weights)
    log.info("features (%s, %d px): %d fakes, %d real %s/%s", extractor.name, extractor.resize,
             len(fakes.images), len(ref_idx), settings.split, fakes.class_name)
    ref_feats, ref_hit = _real_features(extractor, prepared, all_reals, ref_idx, settings.split,
                                        fakes.class_name, settings)
    train_feats, train_hit = (ref_feats, ref_hit) if settings.split == "train" else _real_features(
        extractor, prepared, all_reals, train_idx, "train", fakes.class_name, settings)
    fake_feats = extractor.features(fakes.images, settings.batch_size)

    metrics: dict = distribution_metrics(ref_feats, fake_feats, seed=settings.seed, kid_subsets=settings.kid_subsets,
                                         kid_subset_size=settings.kid_subset_size)
    ref_images, train_images = all_reals[ref_idx], all_reals[train_idx]
    if len(val_idx) >= 2:
        val_feats, _ = _real_features(extractor, prepared, all_reals, val_idx, "val", fakes.class_name, settings)
        memo = memorization(fake_feats, train_feats, val_feats)
    else:
        log.warning("no val images of class %s: memorisation compares against train↔train instead", fakes.class_name)
        memo = memorization(fake_feats, train_feats, train_feats)
    nearest = memo.pop("_nearest_train")
    metrics["iqa_seed"] = iqa.seed_protocol(fakes.images, ref_images, seed=settings.seed)
    metrics["iqa_nn"] = iqa.nn_protocol(fakes.images, train_images, nearest)
    metrics["diversity"] = iqa.diversity(fakes.images, ref_images, pairs=settings.diversity_pairs,
                                         seed=settings.seed)
    metrics["memorization"] = memo
    metrics["protocol"] = {
        "model": name or model_name(fakes), **extractor.describe(),
        "n_fake": int(len(fakes.images)), "n_real": int(len(ref_idx)), "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)), "split": settings.split, "class": fakes.class_name, "image_size": int(size),
        "image_format": fakes.source.get("image_format"), "seed": settings.seed,
        "prepared": str(prepared.root), "prepared_hash": prepared.hash,
        "prepared_hash_match": check_prepared_hash(fakes, prepared),
        "k_precision_recall": PR_K, "k_density_coverage": DC_K,
        "fd_sqrt": "float64, eigen-decomposition of PSD matrices (symmetric form)",
        "real_features_cached": bool(ref_hit and train_hit), "source": fakes.source,
    }
    write_outputs(metrics, fakes, ref_images, train_images, out)
    return metrics


def model_name(fakes: FakeSet) -> str:
    source = fakes.source
    if source.get("checkpoint"):
        checkpoint = Path(str(source["checkpoint"]))
        run = checkpoint.parent.parent.name if checkpoint.parent.name == "checkpoints" else checkpoint.stem
        return f"{run}" + (f" @ step {source['step']}" if source.get("step") not in (None, "") else "")
    return Path(str(source.get("path", "samples"))).name


def write_outputs(metrics: dict, fakes: FakeSet, ref_images: np.ndarray, train_images: np.ndarray,
                  out: Path) -> None:
    from skingan.evaluation import figures

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.md", metrics_markdown(metrics))
    p = metrics["protocol"]
    figures.save_sample_grid(fakes.images, ref_images, out / "samples_vs_real.png",
                             f"{p['model']}: {p['class']} fakes vs real {p['split']} images")
    figures.save_closest_pairs(fakes.images, train_images, metrics["memorization"]["closest_pairs"],
                               metrics["memorization"]["threshold"], out / "closest_pairs.png")
    figures.save_metric_bars(metrics, out / "metric_bars.png")
    atomic_write_json(out / "metrics.json", metrics)  # last: its presence means the evaluation is complete


# ---------------------------------------------------------------- tables

ARROW = {"higher": "↑", "lower": "↓"}


def _fmt(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.1f}"
    return str(value)


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def metrics_markdown(m: dict) -> str:
    p, memo, div = m["protocol"], m["memorization"], m["diversity"]
    ext = p["extractor"]
    parts = [
        f"# evaluate-gan: {p['model']}\n",
        f"{p['n_fake']} generated **{p['class']}** images ({p['image_size']} px, {p['image_format']}) vs "
        f"{p['n_real']} real {p['split']}/{p['class']} images of prepared set {p['prepared_hash'][:12]}; "
        f"features **{ext}** ({p['resize']}, weights sha256 {p['weights_sha256'][:12]}); seed {p['seed']}.\n"
        + ("" if ext == "inception" else f"FD here is FD_{ext}, not an Inception FID.\n"),
        "## Distribution\n",
        _table(["N fake", "N real", "extractor", f"FD_{ext} ↓", "FD noise floor ↓", "KID ↓ (mean ± std)",
                "precision ↑", "recall ↑", "density ↑", "coverage ↑"],
               [[p["n_fake"], p["n_real"], ext, m["fd"], f"{_fmt(m['fd_noise_floor'])} (2×{m['fd_noise_floor_n']})",
                 f"{_fmt(m['kid_mean'])} ± {_fmt(m['kid_std'])}", m["precision"], m["recall"], m["density"],
                 m["coverage"]]]),
        "\n## PIQA metrics (images in [0, 1])\n",
        _table(["protocol", "N pairs"] + [f"{iqa.LABELS[k]} {ARROW[iqa.DIRECTIONS[k]]}" for k in iqa.IQA_METRICS],
               [[label, m[key]["psnr"]["n"]] + [m[key][k]["mean"] for k in iqa.IQA_METRICS]
                for label, key in (("seed: random real per fake (original study)", "iqa_seed"),
                                   ("nn: nearest real training image", "iqa_nn"))]),
        f"\n## Diversity (mean pairwise similarity over {div['pairs']} random pairs; fakes far above reals = "
        "mode collapse)\n",
        _table(["set", "N", "SSIM", "HaarPSI"],
               [["fakes", p["n_fake"], div["ssim"]["fake"], div["haarpsi"]["fake"]],
                ["reals", p["n_real"], div["ssim"]["real"], div["haarpsi"]["real"]]]),
        f"\n## Memorisation ({ext} feature distance to the nearest real training image)\n",
        _table(["N fake", "N train", "N val", "threshold: 1st pct val→train", "fakes below ↓",
                "expected if like real", "median fake→train", "median val→train"],
               [[memo["n_fake"], memo["n_train"], memo["n_heldout"], memo["threshold"],
                 memo["fraction_below_threshold"], memo["expected_fraction_if_like_real"],
                 memo["fake_nn_distance"]["median"], memo["heldout_nn_distance"]["median"]]]),
        "\nFigures: samples_vs_real.png, closest_pairs.png, metric_bars.png\n",
    ]
    return "\n".join(parts)


# The original study's reported table (seed protocol: 15 index-paired images, min-max stretched).
SEED_STUDY_TABLE = [
    ("DC-GAN 64", 12.92, 0.35, 0.29, 0.45, 0.39), ("AC-GAN 64", 12.17, 0.32, 0.27, 0.49, 0.31),
    ("AC-GAN 128", 11.81, 0.39, 0.25, 0.47, 0.31), ("W-GAN 64", 12.63, 0.30, 0.27, 0.50, 0.35),
    ("W-GAN 128", 12.27, 0.31, 0.14, 0.44, 0.40), ("SN-GAN 64", 12.21, 0.21, 0.26, 0.49, 0.41),
    ("SN-GAN 128", 12.18, 0.24, 0.15, 0.52, 0.45),
]
COMPARE_COLUMNS = [
    ("psnr", "PSNR ↑"), ("ssim", "SSIM ↑"), ("ms_gmsd", "MS-GMSD ↓"), ("mdsi", "MDSI ↓"), ("haarpsi", "HaarPSI ↑"),
    ("fd", "FD ↓"), ("fd_noise_floor", "FD floor ↓"), ("kid_mean", "KID ↓"), ("precision", "precision ↑"),
    ("recall", "recall ↑"), ("density", "density ↑"), ("coverage", "coverage ↑"),
    ("memorized", "memorised ↓"),
]


def load_metrics(path: str | Path) -> dict:
    path = Path(path)
    candidates = [path] if path.is_file() else [path / "metrics.json", path / "evaluation" / "metrics.json"]
    for candidate in candidates:
        if candidate.is_file():
            try:
                metrics = json.loads(candidate.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise UserError(f"'{candidate}' is not valid JSON: {error}") from error
            if not isinstance(metrics, dict) or "protocol" not in metrics or "fd" not in metrics:
                raise UserError(f"'{candidate}' is not an evaluate-gan metrics.json (no fd/protocol)")
            return metrics
    raise UserError(f"--compare '{path}': no metrics.json there; run 'skingan evaluate-gan ... --out {path}' first")


def compare_rows(paths: list[str | Path]) -> list[dict]:
    rows = []
    for path in paths:
        m = load_metrics(path)
        p = m["protocol"]
        row = {"model": p.get("model") or Path(path).name, "n_fake": p["n_fake"], "n_real": p["n_real"],
               "extractor": p["extractor"], "class": p["class"], "split": p["split"]}
        row.update({k: m["iqa_seed"][k]["mean"] for k in iqa.IQA_METRICS})
        row.update({k: m[k] for k in ("fd", "fd_noise_floor", "kid_mean", "kid_std", "precision", "recall",
                                      "density", "coverage")})
        row["memorized"] = m["memorization"]["fraction_below_threshold"]
        rows.append(row)
    return rows


def compare_markdown(rows: list[dict]) -> str:
    header = ["model", "class", "N fake", "N real", "extractor"] + [label for _, label in COMPARE_COLUMNS]
    body = [[r["model"], r["class"], r["n_fake"], r["n_real"], r["extractor"]] + [r[k] for k, _ in COMPARE_COLUMNS]
            for r in rows]
    text = ("# GAN comparison\n\nPSNR…HaarPSI: seed protocol (each fake vs a random real image, as the original "
            "study — unrelated lesions, so only for comparison with its table). FD/KID/precision/recall/density/"
            "coverage: fakes vs real images of the class in the named feature space; memorised: fraction of fakes "
            "nearer a training image than the 1st percentile of real val→train distances (≈0.01 if like real).\n\n"
            + _table(header, body))
    if len({(r["extractor"], r["n_fake"], r["n_real"]) for r in rows}) > 1:
        text += "\n**Warning:** rows differ in extractor or N; FD and KID are only comparable at the same both.\n"
    text += ("\n## Reported by the original study (15 index-paired images, min-max stretched; no distribution "
             "metrics)\n\n"
             + _table(["model"] + [label for _, label in COMPARE_COLUMNS[:5]], [list(r) for r in SEED_STUDY_TABLE]))
    return text


def compare(paths: list[str | Path], out: str | Path) -> str:
    """One table across runs (metrics.json files or folders holding one) → compare.md/.csv/.json; returns the md."""
    import pandas as pd

    out = Path(out)
    rows = compare_rows(paths)
    text = compare_markdown(rows)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.md", text)
    atomic_write_text(out / "compare.csv", pd.DataFrame(rows).to_csv(index=False))
    atomic_write_json(out / "compare.json", rows)
    return text


def settings_dict(settings: EvalSettings) -> dict:
    data = asdict(settings)
    data["feature_cache"] = str(settings.feature_cache) if settings.feature_cache else None
    return data


__all__ = ["EvalSettings", "FakeSet", "compare", "default_cache_dir", "evaluate", "find_run_checkpoint",
           "generate_fakes", "load_samples_dir", "settings_dict"]
