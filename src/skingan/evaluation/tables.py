"""metrics.md: the tables of one evaluation. Which metrics each table shows, their headings, arrows and
cells come from the metric registry; this module only lays the tables out."""

from __future__ import annotations

from collections.abc import Mapping

from skingan.evaluation import registry
from skingan.evaluation.folder import FIGURES
from skingan.evaluation.registry import fmt, lookup

PIQA_ROWS = (("seed: random real per fake (original study)", "iqa_seed"), ("nn: nearest real training image", "iqa_nn"))


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _record(m: Mapping, path: registry.KeyPath) -> Mapping:
    try:
        value = lookup(m, path)
    except KeyError:
        return {}
    return value if isinstance(value, Mapping) else {}


def distribution_table(m: Mapping) -> str:
    """The fakes' row, the fakes at the reference's N (when the reals were fewer), and the matched held-out
    real reference: the row to compare with. Below it, how N was matched and the real-halves FD."""
    p = m["protocol"]
    metrics = registry.all_metrics(registry.DISTRIBUTION)
    reference = _record(m, (registry.REFERENCE,))
    same_n = _record(reference, (registry.FAKES_SAME_N,))
    splits = "+".join(reference.get("splits") or []) or "held-out"
    rows = [["fakes", p["n_fake"], m]]
    if same_n:
        rows.append([f"fakes at the reference's N (mean of {same_n.get('draws')} subsets)", same_n.get("n"), same_n])
    rows.append([f"**held-out real ({splits}): compare with this**", reference.get("n"), reference])
    text = markdown_table(["row", "N fake", "N real", "extractor"] + [x.column(extractor=p["extractor"]) for x in metrics],
                          [[label, n, p["n_real"], p["extractor"]] + [x.text(record) for x in metrics]
                           for label, n, record in rows])
    if reference.get("reason"):
        text += f"\nHeld-out real reference: **not measurable** ({reference['reason']}).\n"
    elif reference.get("how"):
        text += (f"\nHeld-out real reference: real {p['class']} images never trained on, scored like the fakes "
                 f"(same {p['split']} reference, extractor, N): {reference['how']}.\n")
    if "fd_real_halves" in m:
        text += (f"\nFD between two random halves of the {p['n_real']} reference reals "
                 f"(2×{m.get('fd_real_halves_n')}): {fmt(m['fd_real_halves'])}. That is FD's small-sample bias at "
                 "N/2 vs N/2 of one set, NOT what a perfect generator scores; compare with the held-out real row.\n")
    return text


def c2st_table(m: Mapping) -> str:
    """The two-sample tests: the fakes, then real training images (what real scores), and the verdict."""
    metrics = registry.all_metrics(registry.C2ST)
    plain = _record(m, ("c2st",))
    reference = _record(m, (registry.REFERENCE,))
    rows = [["fakes vs held-out reals", plain.get("n")] + [x.text(m) for x in metrics],
            ["real training images vs held-out reals (what real scores)", _record(reference, ("c2st",)).get("n")]
            + [x.text(reference) if x.reference else fmt(None) for x in metrics]]
    text = markdown_table(["set", "N per set"] + [x.column() for x in metrics], rows)
    for x in metrics:
        record = _record(m, x.path[:-1])
        if record.get("how"):
            text += f"\n- {x.label}: {record['how']}" + (f" — not measured: {record['reason']}"
                                                          if record.get("reason") else "")
    seen = _record(m, ("c2st_as_classifier_sees",))
    if seen.get("verdict"):
        loud = seen.get("shortcut") is True
        text += "\n\n" + (f"**WARNING: {seen['verdict']}.**" if loud else f"{seen['verdict']}.") + "\n"
    return text + "\n"


def piqa_table(m: Mapping) -> str:
    """One row per pairing, one column per PIQA measure."""
    rows, header = [], ["protocol", "N pairs"]
    for label, protocol in PIQA_ROWS:
        metrics = [x for x in registry.all_metrics(registry.PIQA) if x.group == protocol]
        if len(header) == 2:
            header += [x.column() for x in metrics]
        rows.append([label, lookup(m, (protocol, metrics[0].path[1], "n"))] + [x.text(m) for x in metrics])
    return markdown_table(header, rows)


def diversity_table(m: Mapping) -> str:
    """Fakes' values, and the reals' beside them (each diversity record holds both)."""
    p, metrics = m["protocol"], registry.all_metrics(registry.DIVERSITY)
    return markdown_table(["set", "N"] + [x.column() for x in metrics],
                          [["fakes", p["n_fake"]] + [x.text(m) for x in metrics],
                           ["reals", p["n_real"]] + [lookup(m, (*x.path[:-1], "real")) for x in metrics]])


def memorisation_table(m: Mapping) -> str:
    """One row; 'not measurable' and the reason when the class had no held-out split to set the threshold."""
    memo, metrics = m["memorization"], registry.all_metrics(registry.MEMORISATION)
    split = memo.get("heldout_split", "val")  # files written before the fallback always used val
    measurable = memo.get("fraction_below_threshold") is not None
    cells = [x.text(m) for x in metrics] if measurable else ["not measurable" for _ in metrics]
    text = markdown_table(
        ["N fake", "N train", f"N held-out ({split or 'none'})", "threshold: 1st pct held-out→train"]
        + [x.column() for x in metrics] + ["expected if like real", "median fake→train", "median held-out→train"],
        [[memo["n_fake"], memo["n_train"], memo["n_heldout"], memo["threshold"]] + cells
         + [memo["expected_fraction_if_like_real"], memo["fake_nn_distance"]["median"],
            (memo.get("heldout_nn_distance") or {}).get("median")]])
    if not measurable:
        text += f"\nMemorisation fraction {memo.get('reason') or 'not measurable'}.\n"
    return text


def metrics_markdown(m: Mapping) -> str:
    p = m["protocol"]
    ext = p["extractor"]
    seen = m.get("c2st_as_classifier_sees") or {}
    parts = [
        f"# evaluate-gan: {p['model']}\n",
        *([f"> **WARNING: {seen['verdict']}.**\n"] if seen.get("shortcut") is True else []),
        f"{p['n_fake']} generated **{p['class']}** images ({p['image_size']} px, {p['image_format']}) vs "
        f"{p['n_real']} real {p['split']}/{p['class']} images of prepared set {p['prepared_hash'][:12]}; "
        f"features **{ext}** ({p['resize']}, weights sha256 {p['weights_sha256'][:12]}); seed {p['seed']}.\n"
        + ("" if ext == "inception" else f"FD here is FD_{ext}, not an Inception FID.\n")
        + (f"Scope: {p['class_scope']}.\n" if p.get("class_scope") else ""),
        "## Distribution\n",
        distribution_table(m),
        "## Two-sample tests (C2ST: a small CNN trained from scratch, out of fold; AUC 0.5 = indistinguishable)\n",
        c2st_table(m),
        "\n## PIQA metrics (images in [0, 1])\n",
        piqa_table(m),
        f"\n## Diversity (mean pairwise similarity over {m['diversity']['pairs']} random pairs; fakes far above "
        "reals = mode collapse)\n",
        diversity_table(m),
        f"\n## Memorisation ({ext} feature distance to the nearest real training image)\n",
        memorisation_table(m),
        f"\nFigures: {', '.join(FIGURES)}\n",
    ]
    return "\n".join(parts)
