"""A self-contained report (HTML with embedded figures, and Markdown) for any skingan run folder.

The report discovers what a folder holds — a prepared set, GAN runs, GAN evaluations, classifier runs, an
experiment, or a quickstart holding all of them — and writes one section per thing it finds.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skingan.errors import UserError

MAX_DEPTH = 3


@dataclass
class Block:
    """One piece of a section: a paragraph, a table, a figure or a code listing."""

    kind: str  # "text" | "table" | "figure" | "code"
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    png: bytes = b""


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def text(self, text: str) -> None:
        self.blocks.append(Block("text", text=text))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(Block("table", header=header, rows=rows))

    def figure(self, path: Path, caption: str) -> None:
        if path.is_file() and path.stat().st_size > 0:
            self.blocks.append(Block("figure", text=caption, png=path.read_bytes()))

    def figure_bytes(self, png: bytes, caption: str) -> None:
        self.blocks.append(Block("figure", text=caption, png=png))

    def code(self, text: str) -> None:
        self.blocks.append(Block("code", text=text))

    def markdown(self, text: str) -> None:
        """Headings, paragraphs and pipe tables of a small Markdown file, as blocks."""
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith("|"):
                table = []
                while i < len(lines) and lines[i].strip().startswith("|"):
                    table.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                    i += 1
                body = [row for row in table[1:] if not all(set(c) <= set("-: ") for c in row)]
                self.table([_plain(c) for c in table[0]], [[_plain(c) for c in row] for row in body])
                continue
            if line:
                self.text(_plain(line.lstrip("#").strip()) if line.startswith("#") else _plain(line))
            i += 1


# ---------------------------------------------------------------- discovery


def kind_of(folder: Path) -> str | None:
    """What a folder is, judged by the files each stage writes."""
    if (folder / "prepare.json").is_file() and (folder / "metadata.csv").is_file():
        return "prepared"
    if (folder / "quickstart.json").is_file():
        return "quickstart"
    if (folder / "experiment.json").is_file():
        return "experiment"
    if (folder / "manifest.csv").is_file() and (folder / "sample.json").is_file():
        return "samples"
    metrics = _read_json(folder / "metrics.json")
    if (folder / "checkpoints" / "last.pt").is_file() and (folder / "metrics.csv").is_file():
        return "gan"
    if metrics and "fd" in metrics:
        return "gan-evaluation"
    if metrics and ("auc" in metrics or "test" in metrics) and (folder / "config.yaml").is_file():
        return "classifier"
    return None


def discover(root: Path) -> list[tuple[str, Path]]:
    """Every recognised folder under root (root first), not descending into recognised leaf runs."""
    found: list[tuple[str, Path]] = []

    def visit(folder: Path, depth: int) -> None:
        kind = kind_of(folder)
        if kind:
            found.append((kind, folder))
        if kind in ("prepared", "gan", "gan-evaluation", "classifier", "samples", "experiment") or depth >= MAX_DEPTH:
            return
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            visit(child, depth + 1)

    visit(root, 0)
    return found


# ---------------------------------------------------------------- small readers


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _read_csv_rows(path: Path, limit: int = 60) -> tuple[list[str], list[list[str]]]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        rows = list(reader)
    if not rows:
        return [], []
    return rows[0], [[_fmt(c) for c in row] for row in rows[1 : limit + 1]]


def _plain(text: str) -> str:
    return text.replace("**", "").replace("`", "")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if value.strip().lstrip("-").isdigit():
            return value
        return f"{number:.4g}"
    return str(value)


def _png_of_grid(images: np.ndarray, columns: int = 8) -> bytes:
    from PIL import Image

    n, h, w, _ = images.shape
    rows = (n + columns - 1) // columns
    canvas = np.full((rows * (h + 2), columns * (w + 2), 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + 2) : r * (h + 2) + h, c * (w + 2) : c * (w + 2) + w] = image
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


def _reproduce(section: Section, folder: Path) -> None:
    env = _read_json(folder / "environment.json")
    if env and env.get("command_line"):
        section.text("Command that made it:")
        section.code(" ".join(str(a) for a in env["command_line"]))


# ---------------------------------------------------------------- sections


def prepared_section(folder: Path, *, phantom_note: bool = True) -> Section:
    from skingan.data.prepared import CLASS_NAMES, open_prepared

    prepared = open_prepared(folder)
    section = Section(f"Data: {folder.name}")
    info = prepared.info
    sources = sorted(set(prepared.metadata.get("source", []).astype(str))) if "source" in prepared.metadata else []
    if phantom_note and "phantom" in sources:
        section.text("These images are procedural PHANTOMS (synthetic dermoscopy-like pictures made offline), "
                     "not patient data: numbers here show that the pipeline works, not clinical performance.")
    section.text(f"Source: {', '.join(sources) or 'unknown'} · {len(prepared)} images · cached sizes "
                 f"{', '.join(str(s) for s in prepared.sizes)} px · resize {info.get('resize') or info.get('parameters', {}).get('resize', '?')} · "
                 f"seed {info.get('seed', '?')} · content hash {prepared.hash[:12]}")
    counts = prepared.counts()
    rows = [[split, str(c["benign"]), str(c["malignant"]), str(c["benign"] + c["malignant"])]
            for split, c in counts.items()]
    section.table(["split", "benign", "malignant", "total"], rows)
    skipped = info.get("skipped") or []
    if skipped:
        section.text(f"{len(skipped)} input file(s) were skipped while preparing (listed in prepare.json).")
    size = min(prepared.sizes, key=lambda s: abs(s - 64)) if prepared.sizes else None
    if size:
        images = prepared.images(size)
        for target, name in enumerate(CLASS_NAMES):
            index = prepared.indices("train", [target])[:16]
            if len(index):
                section.figure_bytes(_png_of_grid(np.asarray(images[np.sort(index)])),
                                     f"Real training examples: {name} ({size} px)")
    metadata = prepared.metadata
    if "license" in metadata:
        licences = metadata["license"].fillna("").replace("", "unknown").value_counts()
        section.table(["licence", "images"], [[str(k), str(v)] for k, v in licences.items()])
    if "attribution" in metadata:
        attributions = metadata["attribution"].fillna("").replace("", "unknown").value_counts().head(8)
        section.table(["attribution (top 8)", "images"], [[str(k), str(v)] for k, v in attributions.items()])
    return section


def gan_section(folder: Path) -> Section:
    section = Section(f"GAN run: {folder.name}")
    config = (folder / "config.yaml").read_text(encoding="utf-8") if (folder / "config.yaml").is_file() else ""
    section.figure(folder / "loss_curves.png", "Losses and discriminator outputs over training")
    grids = sorted((folder / "samples").glob("*.png"))
    for path in _spread(grids, 3):
        section.figure(path, f"Samples from fixed noise: {path.stem}")
    metrics_csv = folder / "metrics.csv"
    if metrics_csv.is_file():
        header, rows = _read_csv_rows(metrics_csv, limit=100000)
        if rows:
            section.text(f"Trained {rows[-1][0]} steps (last logged row below).")
            section.table(header, [rows[-1]])
    if config:
        section.text("Resolved config:")
        section.code(config)
    _reproduce(section, folder)
    return section


def _spread(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    positions = np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in sorted(set(positions))]


DIRECTIONS = {"fd": "↓", "fd_noise_floor": "↓", "kid_mean": "↓", "precision": "↑", "recall": "↑",
              "density": "↑", "coverage": "↑", "psnr": "↑", "ssim": "↑", "ms_gmsd": "↓", "mdsi": "↓",
              "haarpsi": "↑"}


def evaluation_section(folder: Path) -> Section:
    metrics = _read_json(folder / "metrics.json") or {}
    section = Section(f"GAN evaluation: {folder.name}")
    table_md = folder / "metrics.md"
    if table_md.is_file():
        section.markdown(table_md.read_text(encoding="utf-8"))
    else:
        rows = [[k, DIRECTIONS.get(k, ""), _fmt(v)] for k, v in metrics.items() if isinstance(v, (int, float))]
        section.table(["metric", "better", "value"], rows)
    protocol = metrics.get("protocol")
    if isinstance(protocol, dict):
        section.table(["protocol", "value"], [[str(k), str(v)] for k, v in protocol.items()])
    for path in sorted(folder.glob("*.png")):
        section.figure(path, path.stem.replace("_", " "))
    _reproduce(section, folder)
    return section


def classifier_section(folder: Path) -> Section:
    metrics = _read_json(folder / "metrics.json") or {}
    section = Section(f"Classifier run: {folder.name}")
    test = metrics.get("test", metrics)
    keys = ["auc", "auc_ci_low", "auc_ci_high", "pr_auc", "balanced_accuracy", "sensitivity", "specificity",
            "f1", "threshold", "n", "n_pos"]
    rows = [[k, _fmt(test[k])] for k in keys if k in test]
    if rows:
        section.table(["test metric", "value"], rows)
    for name in ("curves.png", "roc.png", "pr.png", "confusion.png"):
        section.figure(folder / name, name[:-4].replace("_", " "))
    _reproduce(section, folder)
    return section


def experiment_section(folder: Path) -> Section:
    section = Section(f"Augmentation experiment: {folder.name}")
    conclusion = folder / "conclusion.md"
    if conclusion.is_file():
        section.markdown(conclusion.read_text(encoding="utf-8"))
    summary_md = folder / "summary.md"
    if summary_md.is_file():
        section.markdown(summary_md.read_text(encoding="utf-8"))
    for name, title in (("summary.csv", "Mean and 95 % CI across seeds"),
                        ("paired.csv", "Paired difference vs real-aug (across seeds)")):
        if name == "summary.csv" and summary_md.is_file():
            continue
        if (folder / name).is_file():
            header, rows = _read_csv_rows(folder / name, limit=200)
            section.text(title + ":")
            section.table(header, rows)
    section.figure(folder / "experiment.png", "Test metrics per condition (mean and 95 % CI)")
    rocs = sorted(folder.glob("cells/*/seed*/roc.png"))
    for path in rocs[:: max(1, len(rocs) // 4)][:4]:
        section.figure(path, f"ROC curve: {path.parent.parent.name}, {path.parent.name}")
    _reproduce(section, folder)
    return section


def samples_section(folder: Path) -> Section:
    import csv

    from PIL import Image

    section = Section(f"Synthetic samples: {folder.name}")
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_class: dict[str, list[str]] = {}
    for row in rows:
        by_class.setdefault(row.get("class", "?"), []).append(row["file"])
    section.text(f"{len(rows)} images: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(by_class.items())))
    for name, files in sorted(by_class.items()):
        images = [np.asarray(Image.open(folder / f).convert("RGB")) for f in files[:16]]
        if images and len({im.shape for im in images}) == 1:
            section.figure_bytes(_png_of_grid(np.stack(images)), f"Synthetic {name} images (first 16)")
    return section


def reproduce_section(root: Path) -> Section:
    section = Section("How to reproduce")
    state = _read_json(root / "quickstart.json")
    commands = (state or {}).get("commands") or []
    if commands:
        section.text("The commands this run executed, in order:")
        section.code("\n".join(commands))
    else:
        _reproduce(section, root)
    if not section.blocks:
        section.text("Each run folder holds its resolved config.yaml and environment.json (versions, seed, "
                     "command line).")
    return section


BUILDERS = {
    "prepared": prepared_section,
    "gan": gan_section,
    "samples": samples_section,
    "gan-evaluation": evaluation_section,
    "classifier": classifier_section,
    "experiment": experiment_section,
}


STUDY_ORDER = ["prepared", "gan", "samples", "gan-evaluation", "classifier", "experiment"]


def build_sections(root: Path) -> list[Section]:
    found = sorted(discover(root), key=lambda item: STUDY_ORDER.index(item[0]) if item[0] in STUDY_ORDER else 99)
    if not found:
        raise UserError(
            f"'{root}' holds no skingan run (no prepare.json, GAN checkpoints, metrics.json or experiment.json); "
            "give a run folder made by skingan"
        )
    sections = []
    for kind, folder in found:
        builder = BUILDERS.get(kind)
        if builder is not None:
            sections.append(builder(folder))
    sections.append(reproduce_section(root))
    return sections


# ---------------------------------------------------------------- rendering

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #8b2b2b;padding-bottom:.3em}h2{color:#8b2b2b;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3eeee}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
.note{background:#fff6e0;border-left:4px solid #e0a800;padding:.5em 1em}
"""


def render_html(title: str, sections: list[Section]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts.append("<nav><ul>" + "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>"
                                       for i, s in enumerate(sections)) + "</ul></nav>")
    for i, section in enumerate(sections):
        parts.append(f"<section id='s{i}'><h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if block.kind == "text":
                css = " class='note'" if "PHANTOM" in block.text else ""
                parts.append(f"<p{css}>{html.escape(block.text)}</p>")
            elif block.kind == "code":
                parts.append(f"<pre>{html.escape(block.text)}</pre>")
            elif block.kind == "table":
                head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
                body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                               for row in block.rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif block.kind == "figure":
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(f"<figure><img alt='{html.escape(block.text)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(block.text)}</figcaption></figure>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(title: str, sections: list[Section]) -> tuple[str, dict[str, bytes]]:
    """Markdown text plus the figure files it links to (written beside it under report_files/)."""
    lines = [f"# {title}", ""]
    files: dict[str, bytes] = {}
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if block.kind == "text":
                lines += [block.text, ""]
            elif block.kind == "code":
                lines += ["```", block.text.rstrip(), "```", ""]
            elif block.kind == "table":
                lines.append("| " + " | ".join(block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                lines += ["| " + " | ".join(row) + " |" for row in block.rows]
                lines.append("")
            elif block.kind == "figure":
                name = f"report_files/fig{len(files):03d}.png"
                files[name] = block.png
                lines += [f"![{block.text}]({name})", ""]
    return "\n".join(lines), files


def write_report(root: Path, out: Path | None = None) -> Path:
    """Write report.html (self-contained) and report.md (+ report_files/) for a run folder."""
    from skingan.runs import atomic_write_bytes, atomic_write_text

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"run folder '{root}' does not exist")
    out = Path(out) if out else root / "report.html"
    if out.suffix.lower() != ".html":
        raise UserError(f"--out '{out}': the report file must end in .html (report.md is written beside it)")
    sections = build_sections(root)
    title = f"skingan report: {root.resolve().name}"
    atomic_write_text(out, render_html(title, sections))
    markdown, files = render_markdown(title, sections)
    for name, data in files.items():
        atomic_write_bytes(out.parent / name, data)
    atomic_write_text(out.with_suffix(".md"), markdown)
    return out
