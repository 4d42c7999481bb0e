"""The classifier two-sample tests of an evaluation (the test itself: c2st.py), each a metrics.json record.

    c2st                      fakes vs held-out reals of the class, both at the fakes' resolution (reals from
                              the prepared cache at that size), resized once to the classifier's input size
    reference.c2st            real TRAINING images vs the same held-out reals: what a generator that drew new
                              images of the training distribution would score (val/test may differ from train)
    c2st_as_classifier_sees   the images exactly as the classifier receives them: synthetic PNGs through its
                              synthetic-loading path (data.dataset.load_png_images at its size, the prepared
                              set's resize mode), held-out reals from the prepared cache at its size, both through
                              its evaluation transform (data.transforms.build_eval_transform). A high AUC here
                              and not in `c2st` is a format/resolution shortcut (registry.SHORTCUT_AUC)

A record that could not be measured keeps its keys with null values and says why in `reason`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from skingan.data.prepared import PreparedSet
from skingan.evaluation.c2st import C2STSettings, c2st
from skingan.evaluation.fakes import FakeSet
from skingan.evaluation.registry import SHORTCUT_AUC
from skingan.evaluation.settings import EvalSettings

log = logging.getLogger("skingan")
OFF = "turned off (--no-c2st)"
EMPTY = {"auc": None, "ci": [None, None], "level": None, "n": 0, "folds": None, "size": None, "epochs": None,
         "network": None}


def c2st_settings(settings: EvalSettings) -> C2STSettings:
    return C2STSettings(size=settings.c2st_size, folds=settings.c2st_folds, epochs=settings.c2st_epochs,
                        max_n=settings.c2st_max_n)


def _measured(a: np.ndarray, b: np.ndarray, settings: EvalSettings, how: str, **options: object) -> dict:
    n = min(len(a), len(b), settings.c2st_max_n)
    log.info("C2ST, %d images per set, %d folds × %d epochs: %s", n, settings.c2st_folds, settings.c2st_epochs, how)
    try:
        result = c2st(a, b, settings=c2st_settings(settings), seed=settings.seed, device=settings.device,
                      **options)  # type: ignore[arg-type]
    except ValueError as error:  # too few images for the folds
        return {**EMPTY, "how": how, "reason": str(error)}
    return {**result, "how": how, "reason": None}


def unmeasured(how: str, reason: str) -> dict:
    return {**EMPTY, "how": how, "reason": reason}


def as_classifier_loads(fakes: FakeSet, size: int, mode: str) -> np.ndarray:
    """The fakes as the classifier stores them: its own loader on their files, else the same resize on the
    in-memory images (what `skingan sample` writes is lossless PNG, so the pixels are the same)."""
    from PIL import Image

    from skingan.data.dataset import load_png_images, resize_like_prepared

    if fakes.paths:
        return load_png_images([Path(p) for p in fakes.paths], size, mode)
    return np.stack([resize_like_prepared(Image.fromarray(image), size, mode) for image in fakes.images])


def classifier_inputs(size: int):  # noqa: ANN201 (returns a callable of torch types, imported lazily)
    """uint8 (N, S, S, 3) → float (N, 3, S, S) through the classifier's evaluation transform."""
    import torch

    from skingan.data.transforms import build_eval_transform

    transform = build_eval_transform(size)

    def prepare(images: np.ndarray) -> torch.Tensor:
        batch = np.stack([transform(image=np.asarray(image))["image"] for image in images])
        return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).float()

    return prepare


def verdict(seen: dict, same_resolution: dict | None) -> tuple[bool | None, str]:
    """(shortcut?, the sentence the tables print) from the as-classifier-sees record and the plain one."""
    if seen.get("auc") is None:
        return None, f"not measured: {seen.get('reason')}"
    low, auc = seen["ci"][0], seen["auc"]
    if not low > SHORTCUT_AUC:
        return False, (f"no format/resolution shortcut found: AUC {auc:.3f} as the classifier receives the images "
                       f"(95 % CI lower bound {low:.3f} ≤ {SHORTCUT_AUC})")
    plain = (same_resolution or {}).get("auc")
    if plain is not None and same_resolution["ci"][1] < low:
        return True, (f"THE CLASSIFIER CAN TELL SYNTHETIC FROM REAL BY FORMAT/RESOLUTION: a from-scratch CNN separates "
                      f"them with AUC {auc:.3f} as the classifier receives them, but only {plain:.3f} at one "
                      "resolution; store synthetic and real images the same way (size, format) before training on them")
    return True, (f"THE CLASSIFIER CAN TELL SYNTHETIC FROM REAL as it receives them (AUC {auc:.3f}, CI lower bound "
                  f"{low:.3f} > {SHORTCUT_AUC}); at one resolution they are told apart as well "
                  f"(AUC {'–' if plain is None else f'{plain:.3f}'}), so content, not only format, gives them away")


def _splits(prepared: PreparedSet, indices: np.ndarray) -> str:
    return "+".join(sorted(set(prepared.metadata["split"].iloc[indices].astype(str)))) or "none"


def same_resolution(fakes: FakeSet, prepared: PreparedSet, heldout_idx: np.ndarray, settings: EvalSettings,
                    others: np.ndarray | None = None, what: str | None = None) -> dict:
    """`c2st`: the fakes (or `others`, real training images for the reference) vs held-out reals from the
    cache at the fakes' size, both resized to the C2ST size."""
    size = fakes.images.shape[1]
    what = what or ("fakes" if fakes.class_name != "all" else "fakes (whole folder)")
    how = (f"{what} ({size} px) vs held-out reals ({_splits(prepared, heldout_idx)}) from the {size}-px cache, "
           f"both resized to {settings.c2st_size} px (antialiased bilinear, [-1, 1])")
    if not settings.c2st:
        return unmeasured(how, OFF)
    held = np.asarray(prepared.images(size)[heldout_idx])
    return _measured(fakes.images if others is None else others, held, settings, how)


def as_classifier_sees(fakes: FakeSet, prepared: PreparedSet, heldout_idx: np.ndarray, settings: EvalSettings,
                       same: dict | None = None) -> dict:
    """`c2st_as_classifier_sees`, with the shortcut flag and its sentence (`same`: the `c2st` record)."""
    mode = str(prepared.info.get("resize", "crop"))
    size = settings.c2st_size
    how = (f"synthetic images through the classifier's loader (data.dataset.load_png_images at {size} px, resize "
           f"mode {mode}) vs held-out reals ({_splits(prepared, heldout_idx)}) from the {size}-px cache, both "
           "through data.transforms.build_eval_transform")
    if not settings.c2st:
        seen = unmeasured(how, OFF)
    elif size not in prepared.sizes:
        seen = unmeasured(how, f"the prepared set has no {size}-px cache (sizes {prepared.sizes}); pass "
                               "--c2st-size with the classifier's input size among them")
    else:
        seen = _measured(as_classifier_loads(fakes, size, mode), np.asarray(prepared.images(size)[heldout_idx]),
                         settings, how, prepare=classifier_inputs(size))
    return {**seen, **_flag(*verdict(seen, same))}


def two_sample_tests(fakes: FakeSet, prepared: PreparedSet, heldout_idx: np.ndarray, train_idx: np.ndarray,
                     settings: EvalSettings) -> tuple[dict, dict, dict]:
    """(c2st, reference c2st, c2st_as_classifier_sees) records; each unmeasured with a reason when off."""
    plain = same_resolution(fakes, prepared, heldout_idx, settings)
    reals = np.asarray(prepared.images(fakes.images.shape[1])[train_idx]) if settings.c2st else None
    reference = same_resolution(fakes, prepared, heldout_idx, settings, others=reals, what="real training images")
    return plain, reference, as_classifier_sees(fakes, prepared, heldout_idx, settings, plain)


def _flag(shortcut: bool | None, sentence: str) -> dict:
    return {"shortcut": shortcut, "rule": f"shortcut when the AUC's 95 % CI lower bound > {SHORTCUT_AUC}",
            "verdict": sentence}
