"""`skingan download`: images, metadata, attribution and licences from the ISIC Archive API v2, resumably."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from skingan.commands._common import add_common
from skingan.errors import UserError

if TYPE_CHECKING:
    from skingan.data.isic import DownloadOptions, DownloadSummary, IsicClient, Outcome

NAME = "download"
HELP = "download ISIC Archive images + metadata (API v2); re-run the same command to resume"
EXAMPLE = "skingan download --out data/isic --query 'diagnosis_1:Malignant' --collections 60,71 --limit 500"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, out_default="data/isic",
               out_help="folder for images/, metadata.csv, attribution.txt, licenses/ and failures.csv")
    parser.add_argument("--query", default="",
                        help="ISIC search, e.g. 'diagnosis_1:Malignant' or "
                             "'diagnosis_2:\"Malignant melanocytic proliferations (Melanoma)\"' "
                             "(benign_malignant and diagnosis were removed from the API in 2025)")
    parser.add_argument("--collections", default="",
                        help="comma-separated collection ids (OR), e.g. 60,71 = ISIC 2017 training + validation")
    parser.add_argument("--limit", type=int, default=None, help="download at most this many images (None: all that match)")
    parser.add_argument("--thumbnails", action="store_true",
                        help="download the 256-px thumbnails instead of the full images (fast; fine for 64/128-px GANs)")
    parser.add_argument("--workers", type=int, default=8, help="parallel downloads (1-64)")
    parser.add_argument("--api-url", default=None,
                        help="ISIC API v2 base URL (default: $SKINGAN_ISIC_API_URL or "
                             "https://api.isic-archive.com/api/v2/)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved options and how many images match and their total size; "
                             "download nothing")


def resolve_options(args: argparse.Namespace) -> DownloadOptions:
    """The flags as typed options (skingan.config), checked before any request."""
    from skingan.commands._options import options_from_flags
    from skingan.data.isic import DownloadOptions, parse_collections, resolve_api_url

    values = {"out": str(args.out), "query": args.query, "collections": parse_collections(args.collections),
              "limit": args.limit, "thumbnails": args.thumbnails, "workers": args.workers,
              "api_url": resolve_api_url(args.api_url)}
    options = options_from_flags(DownloadOptions, values)
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out '{args.out}' exists and is not a folder")
    return options


class Progress:
    """A tqdm bar (images, bytes, rate) fed by the library's callbacks from worker threads."""

    def __init__(self, total: int | None):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="img", desc="download", file=sys.stderr, dynamic_ncols=True,
                        disable=None)
        self.lock = threading.Lock()
        self.bytes = 0
        self.failed = 0

    def on_bytes(self, n: int) -> None:
        with self.lock:
            self.bytes += n

    def on_outcome(self, outcome: Outcome) -> None:
        from skingan.data.isic import human_bytes

        with self.lock:
            self.failed += outcome.status == "failed"
            rate = self.bytes / max(self.bar.format_dict.get("elapsed", 0) or 1e-9, 1e-9)
            self.bar.set_postfix_str(f"{human_bytes(self.bytes)}, {human_bytes(rate)}/s, failed {self.failed}",
                                     refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run(args: argparse.Namespace) -> int:
    import logging

    from skingan.data import isic

    logging.getLogger("urllib3").setLevel(logging.ERROR)  # retries are expected; failures are reported below
    options = resolve_options(args)
    policy = isic.RetryPolicy.from_env()
    session = isic.build_session(policy, pool_size=options.workers + 2)
    client = isic.IsicClient(options.api_url, session, policy)
    client.check_collections(options.collections)
    if args.dry_run:
        return dry_run(client, options)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    planned = isic.estimate(client, options.query, options.collections, options.limit, options.thumbnails,
                            page_through=False)
    if planned.size:
        present = sum(f.stat().st_size for f in (out / "images").glob("ISIC_*")) if (out / "images").is_dir() else 0
        isic.check_free_space(out, max(planned.size - present, 0))
    progress = Progress(planned.count)
    try:
        with isic.exclusive_lock(out):
            isic.write_record(options)
            downloader = isic.Downloader(client, options, on_outcome=progress.on_outcome, on_bytes=progress.on_bytes)
            summary = downloader.run(isic.DownloadSummary(out=out, matched=planned.count))
    finally:
        progress.close()
    return report(summary)


def dry_run(client: IsicClient, options: DownloadOptions) -> int:
    from skingan.commands._options import print_options
    from skingan.data.isic import estimate, human_bytes

    print_options(options.shown())
    found = estimate(client, options.query, options.collections, options.limit, options.thumbnails)
    what = "thumbnails" if options.thumbnails else "full images"
    size = human_bytes(found.size) if found.size is not None else "unknown size"
    print(f"dry run: {found.count} images match ({what}, {size}, {found.size} bytes); nothing was downloaded "
          f"(would write to {options.out})")
    return 0


def report(s: DownloadSummary) -> int:
    from skingan.data.isic import human_bytes

    line = (f"downloaded {s.downloaded}, skipped {s.skipped} (already present), failed {s.failed}, "
            f"{human_bytes(s.bytes)} in {s.seconds:.1f} s")
    if s.failed:
        for failure in s.failures[:5]:
            print(f"  failed: {failure.isic_id or '-'} {failure.url} ({failure.reason})", file=sys.stderr)
        print(f"{line}. {s.failed} could not be fetched: see {s.out / 'failures.csv'}; run the same command "
              f"again to retry them. metadata.csv lists the {s.rows} images on disk.", file=sys.stderr)
        return 1
    print(f"{line} → {s.out} (metadata.csv: {s.rows} images, attribution.txt, licenses/)")
    return 0
