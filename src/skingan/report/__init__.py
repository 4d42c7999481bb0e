"""A self-contained report (HTML with embedded figures, and Markdown) for any skingan run folder.

The report discovers what a folder holds — a prepared set, GAN runs, GAN evaluations, classifier runs, an
experiment, or a quickstart holding all of them — and writes one section per thing it finds:

    discover.py   what each folder is, judged by the files its stage writes
    sections.py   one section per kind of folder (document.py: sections of text, tables, figures, code)
    render.py     HTML (self-contained) and Markdown
"""

from __future__ import annotations

from pathlib import Path

from skingan.errors import UserError
from skingan.report.render import render_html, render_markdown
from skingan.report.sections import build_sections
from skingan.runs import atomic_write_bytes, atomic_write_text


def write_report(root: Path, out: Path | None = None) -> Path:
    """Write report.html (self-contained) and report.md (+ report_files/) for a run folder."""
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


__all__ = ["write_report"]
