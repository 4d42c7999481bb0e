"""`skingan report`: a self-contained HTML (and Markdown) report for any run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from skingan.commands._common import add_common

NAME = "report"
HELP = "write report.html (figures embedded, opens offline) and report.md for any skingan run folder"
EXAMPLE = "skingan report outputs/quickstart   # → outputs/quickstart/report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a quickstart, experiment, GAN, evaluation or classifier folder")
    add_common(parser, out_default=None, out_required=False,
               out_help="report file (default: RUN_DIR/report.html)")


def run(args: argparse.Namespace) -> int:
    from skingan.report import write_report

    out = write_report(args.run_dir, args.out)
    print(f"report written to {out} (and {out.with_suffix('.md')})")
    return 0
