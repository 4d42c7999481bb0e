"""The report's document model: sections of blocks (paragraphs, tables, figures, code), independent of
how they are rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
                self.table([plain(c) for c in table[0]], [[plain(c) for c in row] for row in body])
                continue
            if line:
                self.text(plain(line.lstrip("#").strip()) if line.startswith("#") else plain(line))
            i += 1


def plain(text: str) -> str:
    """Markdown emphasis and code marks removed."""
    return text.replace("**", "").replace("`", "")
