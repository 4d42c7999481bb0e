"""Which generator learns ISIC melanomas? Equal wall-clock training, then judges the generators never trained against.

    python scripts/bench_gan_quality.py --minutes 8 --out outputs/bench/gan-quality \
        --set stylegan2-64:stylegan2.channel_base=2048 --set stylegan2-64:stylegan2.channel_max=128
    python scripts/bench_gan_quality.py --minutes 10 --device cuda --configs sngan64 projected64 stylegan2-64

Every config trains on the TRAINING melanomas of one prepared set (made from ../shared/data/isic2017-256 when
--data is not given) for the same `train.max_minutes`. Then N fakes (N = the held-out melanomas: validation +
test split) are scored against those held-out real melanomas H, and so is a row of N TRAINING melanomas scored
the same way: what "as good as real" is at this N (FD is biased at small N; the row pays the same bias).
Judges, per row: FD/KID/precision/recall/coverage in Lite0 features (the projected family's D sees Lite0, so
this space may flatter it), FD/KID/recall in Lite2 features (a network no generator trains against), and a
classifier two-sample test (a small CNN trained from scratch to tell the row's images from H; AUC 0.5 =
indistinguishable). Writes results.json, results.md and grids.png (one column of samples per model, then H).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "isic2017-256"
DEFAULT_CONFIGS = ["sngan64", "acgan64", "projected64", "stylegan2-64"]


def skingan(*args: str) -> None:
    command = [sys.executable, "-m", "skingan", *args]
    print("$ skingan " + " ".join(args), flush=True)
    subprocess.run(command, check=True)


def prepared_set(out: Path, data: Path | None, seed: int) -> Path:
    if data is not None:
        return data
    target = out / "prepared"
    if not (target / "prepare.json").is_file():
        skingan("prepare", "--source", "isic2017", "--input", str(SHARED), "--sizes", "64", "128",
                "--seed", str(seed), "--out", str(target))
    return target


def train(config: str, data: Path, out: Path, minutes: float, device: str, seed: int, extra: list[str]) -> dict:
    run = out / "runs" / config
    if not (run / "checkpoints" / "last.pt").is_file():
        start = time.perf_counter()
        skingan("train-gan", "--config", config, "--data", str(data), "--out", str(run), "--device", device,
                "--seed", str(seed), "--no-progress", "--set", "train.steps=10000000",
                "--set", f"train.max_minutes={minutes}", "--set", "train.checkpoint_every=1000000",
                "--set", "train.sample_every=1000000", "--set", "train.log_every=25", *extra)
        (run / "bench_wall_s.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    import pandas as pd

    metrics = pd.read_csv(run / "metrics.csv")
    return {"run": str(run), "steps": int(metrics["step"].iloc[-1]),
            "images_per_s": float(metrics["images_per_s"].iloc[1:].median() if len(metrics) > 1
                                  else metrics["images_per_s"].iloc[-1]),
            "wall_s": float((run / "bench_wall_s.txt").read_text()) if (run / "bench_wall_s.txt").is_file() else None}


def fakes_of(run: Path, n: int, seed: int, device: str) -> np.ndarray:
    from skingan.gan.sample import generate_images, load_generator

    G, meta = load_generator(run / "checkpoints" / "last.pt", device=device)
    return generate_images(G, meta, n, "malignant" if meta["conditional"] else None, seed, device=device)


def judge(row: np.ndarray, held_out: np.ndarray, features: dict, held_features: dict, seed: int,
          device: str) -> dict:
    from skingan.evaluation.c2st import C2STSettings, c2st
    from skingan.evaluation.distribution import distribution_metrics

    out: dict = {}
    for space, feats in features.items():  # the library's metrics, exactly as evaluate-gan computes them
        ref = held_features[space]
        out[space] = distribution_metrics(ref, feats, seed=seed, kid_subsets=100,
                                          kid_subset_size=min(len(ref), len(feats)), halves=False)
    out["c2st"] = c2st(row, held_out, settings=C2STSettings(size=64), seed=seed, device=device)
    return out


def grids_figure(columns: dict[str, np.ndarray], path: Path, rows: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, len(columns), figsize=(1.6 * len(columns), 1.6 * rows), squeeze=False)
    for j, (name, images) in enumerate(columns.items()):
        for i in range(rows):
            axes[i][j].imshow(images[i])
            axes[i][j].set_xticks([])
            axes[i][j].set_yticks([])
        axes[0][j].set_title(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results: dict) -> str:
    header = ("| row | steps | images/s | FD_lite0 | KID_lite0 ×1e3 | precision | recall | coverage | FD_lite2 | "
              "KID_lite2 ×1e3 | recall_lite2 | C2ST AUC [95 % CI] |")
    lines = [header, "|" + "---|" * 12]
    for name, r in results["rows"].items():
        a, b, c = r["lite0"], r["lite2"], r["c2st"]
        steps = r.get("steps", "—")
        rate = f"{r['images_per_s']:.0f}" if "images_per_s" in r else "—"
        lines.append(f"| {name} | {steps} | {rate} | {a['fd']:.1f} | {1e3 * a['kid_mean']:.1f} | "
                     f"{a['precision']:.2f} | {a['recall']:.2f} | {a['coverage']:.2f} | {b['fd']:.1f} | "
                     f"{1e3 * b['kid_mean']:.1f} | {b['recall']:.2f} | {c['auc']:.2f} [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}] |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    parser.add_argument("--minutes", type=float, default=8.0, help="train.max_minutes for every config")
    parser.add_argument("--data", type=Path, help="a prepared set (default: made from ../shared/data/isic2017-256)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "gan-quality")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="[CONFIG:]KEY=VALUE",
                        help="an extra train-gan override for every config, or for one (stylegan2-64:stylegan2.channel_max=128)")
    args = parser.parse_args()

    from skingan.data.prepared import open_prepared
    from skingan.evaluation.features import build_extractor

    args.out.mkdir(parents=True, exist_ok=True)
    data = prepared_set(args.out, args.data, args.seed)
    prepared = open_prepared(data)
    cache = prepared.images(64)
    held_idx = np.concatenate([prepared.indices(split=s, classes=["malignant"]) for s in ("val", "test")])
    train_idx = prepared.indices(split="train", classes=["malignant"])
    held_out = cache[np.sort(held_idx)]
    n = len(held_out)
    rng = np.random.default_rng(args.seed)
    train_row = cache[np.sort(rng.choice(train_idx, size=min(n, len(train_idx)), replace=False))]
    print(f"prepared set {data}: {len(train_idx)} training and {n} held-out melanomas; N = {n}", flush=True)

    def overrides(config: str) -> list[str]:
        chosen = [s.split(":", 1)[1] if ":" in s.split("=", 1)[0] else s for s in args.set
                  if ":" not in s.split("=", 1)[0] or s.split(":", 1)[0] == config]
        return [item for value in chosen for item in ("--set", value)]

    trained = {config: train(config, data, args.out, args.minutes, args.device, args.seed, overrides(config))
               for config in args.configs}

    extractors = {name: build_extractor(name, device=args.device) for name in ("lite0", "lite2")}

    def features(images: np.ndarray) -> dict:
        return {name: e.features(images) for name, e in extractors.items()}

    held_features = features(held_out)
    rows: dict = {}
    columns: dict[str, np.ndarray] = {}
    for config, info in trained.items():
        fakes = fakes_of(Path(info["run"]), n, args.seed, args.device)
        columns[config] = fakes
        rows[config] = {**info, **judge(fakes, held_out, features(fakes), held_features, args.seed, args.device)}
        print(f"{config}: {json.dumps({k: v for k, v in rows[config].items() if k != 'run'}, default=float)[:400]}",
              flush=True)
    rows["held-out real (training melanomas, same N)"] = judge(train_row, held_out, features(train_row),
                                                               held_features, args.seed, args.device)
    columns["real (held out)"] = held_out
    results = {"n": n, "minutes": args.minutes, "device": args.device, "seed": args.seed, "prepared": str(data),
               "prepared_hash": prepared.hash, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    table = markdown(results)
    (args.out / "results.md").write_text(table)
    grids_figure(columns, args.out / "grids.png")
    print(table)
    print(f"results in {args.out / 'results.json'}, {args.out / 'results.md'}; figure {args.out / 'grids.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
