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


def distribution_table(m: Mapping) -> str:
    p = m["protocol"]
    metrics = registry.all_metrics(registry.DISTRIBUTION)
    return markdown_table(["N fake", "N real", "extractor"] + [x.column(extractor=p["extractor"]) for x in metrics],
                          [[p["n_fake"], p["n_real"], p["extractor"]] + [x.text(m) for x in metrics]])


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
    memo, metrics = m["memorization"], registry.all_metrics(registry.MEMORISATION)
    return markdown_table(
        ["N fake", "N train", "N val", "threshold: 1st pct val→train"] + [x.column() for x in metrics]
        + ["expected if like real", "median fake→train", "median val→train"],
        [[memo["n_fake"], memo["n_train"], memo["n_heldout"], memo["threshold"]] + [x.text(m) for x in metrics]
         + [memo["expected_fraction_if_like_real"], memo["fake_nn_distance"]["median"],
            memo["heldout_nn_distance"]["median"]]])


def metrics_markdown(m: Mapping) -> str:
    p = m["protocol"]
    ext = p["extractor"]
    parts = [
        f"# evaluate-gan: {p['model']}\n",
        f"{p['n_fake']} generated **{p['class']}** images ({p['image_size']} px, {p['image_format']}) vs "
        f"{p['n_real']} real {p['split']}/{p['class']} images of prepared set {p['prepared_hash'][:12]}; "
        f"features **{ext}** ({p['resize']}, weights sha256 {p['weights_sha256'][:12]}); seed {p['seed']}.\n"
        + ("" if ext == "inception" else f"FD here is FD_{ext}, not an Inception FID.\n"),
        "## Distribution\n",
        distribution_table(m),
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
