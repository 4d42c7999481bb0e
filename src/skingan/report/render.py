"""Rendering the report's sections: one self-contained HTML page (figures embedded as data URIs, no network)
and a Markdown file whose figures are written beside it."""

from __future__ import annotations

import base64
import html

from skingan.report.document import Section

FIGURE_FOLDER = "report_files"

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
                css = " class='note'" if "PHANTOM" in block.text or block.text.startswith("WARNING:") else ""
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
                name = f"{FIGURE_FOLDER}/fig{len(files):03d}.png"
                files[name] = block.png
                lines += [f"![{block.text}]({name})", ""]
    return "\n".join(lines), files
