"""Benchmark `skingan download`: images/s with N workers vs 1 against the local ISIC API v2 mock.

The mock (tests/isic_mock_server.py) answers every request after a fixed latency (default 20 ms) and serves real
ISIC bytes: the 40 full-resolution UDA-1 JPEGs, then 256-px ISIC 2017 JPEGs under synthetic ids.

    .venv/bin/python scripts/bench_download.py --images 500 --latency 0.02 --workers 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from isic_mock_server import Faults, MockIsicServer, build_images  # noqa: E402
from skingan.data import isic  # noqa: E402


def time_download(api_url: str, out: Path, workers: int) -> tuple[float, isic.DownloadSummary]:
    policy = isic.RetryPolicy()
    client = isic.IsicClient(api_url, isic.build_session(policy, pool_size=workers + 2), policy)
    request = isic.DownloadRequest(out=out, workers=workers)
    start = time.perf_counter()
    summary = isic.Downloader(client, request).run(isic.DownloadSummary(out=out))
    return time.perf_counter() - start, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()

    images = build_images(args.shared_data, args.images)
    total_bytes = sum(len(im.full) for im in images)
    results = {}
    with MockIsicServer(images, Faults(latency=args.latency)) as server, tempfile.TemporaryDirectory() as tmp:
        for workers in (1, args.workers):
            seconds, summary = time_download(server.api_url, Path(tmp) / f"w{workers}", workers)
            assert summary.downloaded == args.images and summary.failed == 0, summary
            results[workers] = {"seconds": round(seconds, 2), "images_per_s": round(args.images / seconds, 1),
                                "MB_per_s": round(total_bytes / seconds / 1e6, 2)}
            print(f"workers={workers:2d}: {args.images} images ({total_bytes / 1e6:.1f} MB) in {seconds:.2f} s "
                  f"= {args.images / seconds:.1f} images/s", flush=True)
    ratio = results[args.workers]["images_per_s"] / results[1]["images_per_s"]
    print(f"speed-up {args.workers} vs 1 workers: {ratio:.1f}x (latency {args.latency * 1000:.0f} ms per request)")
    print(json.dumps({"images": args.images, "latency_s": args.latency, "bytes": total_bytes, "results": results,
                      "ratio": round(ratio, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
