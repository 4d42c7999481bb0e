"""Label text → target: 1, 0 or None (unknown), for `--target malignant` (the original study) or `melanoma`.

How each source labels its images:
  isic (current schema)  diagnosis_1 Malignant → 1, Benign → 0, Indeterminate → unknown;
                         melanoma: 'melanoma' in diagnosis_2..5 → 1, other Benign/Malignant → 0
  isic (legacy), json    benign_malignant malignant → 1, benign → 0 (indeterminate* → unknown);
                         melanoma: diagnosis 'melanoma' → 1, any other known diagnosis → 0
  ham10000               malignant: mel, bcc, akiec → 1; nv, bkl, df, vasc → 0; melanoma: mel → 1
  siim-isic-2020         malignant: benign_malignant; melanoma: the `target` column (it is melanoma)
  isic2017               the `melanoma` column in both modes (melanoma is its only malignant class)
  folder, phantom        the label column / sub-folder name through `label_to_target` (below)
"""

from __future__ import annotations

import re
from typing import Any

TARGETS = ("malignant", "melanoma")

UNKNOWN_WORDS = {"", "unknown", "other", "indeterminate", "nan", "none", "null", "na", "n/a", "?", "-"}
POSITIVE_WORDS = {"1", "true", "yes", "y", "positive", "pos"}
NEGATIVE_WORDS = {"0", "false", "no", "n", "negative", "neg"}
OTHER_MALIGNANT_WORDS = {"bcc", "scc", "akiec", "basal cell carcinoma", "squamous cell carcinoma",
                         "actinic keratosis / intraepithelial carcinoma", "malignant adnexal", "kaposi sarcoma"}
BENIGN_WORDS = {"benign", "nv", "nevus", "naevus", "bkl", "df", "vasc", "seborrheic keratosis",
                "benign keratosis", "dermatofibroma", "vascular lesion", "lentigo", "solar lentigo",
                "lentigo nos", "lentigo simplex", "lichenoid keratosis", "angioma", "angiokeratoma",
                "actinic keratosis", "cafe-au-lait macule", "atypical melanocytic proliferation",
                "pigmented benign keratosis", "verruca", "scar", "clear cell acanthoma", "neurofibroma"}


def _norm(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).replace("_", " ").strip().lower().split())
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):  # "1.0", "+1" → "1"
        text = text.split(".")[0].lstrip("+")
    return text


def label_to_target(value: Any, target: str = "malignant") -> int | None:
    """A label string → 1, 0 or None (unknown). 'Malignant', '1.0', 'yes', 'mel', 'nevus', 'bcc', ... all work.

    'malignant' (without a diagnosis) is unknown under --target melanoma; carcinomas are 0 there.
    """
    text = _norm(value)
    if text in UNKNOWN_WORDS:
        return None
    if text in POSITIVE_WORDS:
        return 1
    if text in NEGATIVE_WORDS:
        return 0
    if "melanoma" in text or text == "mel":
        return 1
    if text == "malignant":
        return 1 if target == "malignant" else None
    if text in OTHER_MALIGNANT_WORDS or "carcinoma" in text:
        return 1 if target == "malignant" else 0
    if text in BENIGN_WORDS or any(w in text for w in ("nevus", "naevus", "keratosis")) or text.startswith("benign"):
        return 0
    return None


def isic_fields_target(fields: dict[str, Any], target: str) -> tuple[int | None, str, str, str]:
    """ISIC metadata (current diagnosis_1..5 or legacy benign_malignant/diagnosis) → (target, label, diagnosis, b/m)."""
    get = {k: ("" if v is None else str(v).strip()) for k, v in fields.items()}
    first = get.get("diagnosis_1", "")
    if first:
        deeper = [get.get(f"diagnosis_{i}", "") for i in range(2, 6)]
        diagnosis = next((d for d in reversed(deeper) if d), first)
        label = " > ".join([first, *[d for d in deeper if d]])
        level = first.lower()
        if target == "malignant":
            value = {"malignant": 1, "benign": 0}.get(level)
        elif any("melanoma" in d.lower() for d in deeper):
            value = 1
        else:
            value = 0 if level in ("benign", "malignant") else None
        return value, label, diagnosis, level
    benign_malignant = get.get("benign_malignant", "")
    diagnosis = get.get("diagnosis", "")
    bm = benign_malignant.lower()
    label = f"{benign_malignant}/{diagnosis}".strip("/")
    if target == "malignant":
        if bm in ("malignant", "benign"):
            value = int(bm == "malignant")
        else:
            value = None if bm else label_to_target(diagnosis, "malignant")
    else:
        value = label_to_target(diagnosis, "melanoma") if diagnosis else (0 if bm == "benign" else None)
    return value, label, diagnosis, bm
