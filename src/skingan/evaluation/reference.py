"""The matched real reference: held-out real images of the fakes' class (val and test, never train) scored
exactly like the fakes — against the same reference split, with the same extractor, at the same N.

It is the row to compare a generator with: what a generator that drew new images of the real distribution
would score here. (Two halves of the reference set, `fd_real_halves`, only show FD's small-sample bias at N/2
vs N/2; they are not that.) N is matched one of two ways, recorded in `how`:

- more held-out reals than fakes: N of them are drawn without replacement (seeded);
- fewer: all of them are used, and the fakes are scored again at the reals' N (mean over random subsets
  without replacement, `fakes_same_n`). The reals are not bootstrapped up to N: a repeated image is its own
  k-th neighbour at distance 0, which collapses recall's k-NN radii (recall → 0 at N = 13 × the reals, as
  with 2,000 fakes and ISIC 2017's 147 held-out melanomas), biases the unbiased KID upwards through identical
  pairs, and leaves FD seeing only the distinct images anyway.
"""

from __future__ import annotations

import numpy as np

from skingan.evaluation.distribution import distribution_metrics
from skingan.evaluation.registry import FAKES_SAME_N

HELDOUT_SPLITS = ("val", "test")
SAME_N_DRAWS = 5


def heldout_splits(reference_split: str) -> tuple[str, ...]:
    """The splits held-out reals come from: val and test, minus the one the fakes are scored against."""
    return tuple(split for split in HELDOUT_SPLITS if split != reference_split)


def _mean_record(draws: list[dict]) -> dict:
    """The mean of each float over repeated metric records (counts are the same in every draw)."""
    return {key: float(np.mean([d[key] for d in draws])) if isinstance(draws[0][key], float) else draws[0][key]
            for key in draws[0]}


def matched_reference(reference: np.ndarray, heldout: np.ndarray, fakes: np.ndarray, *, splits: tuple[str, ...],
                      min_images: int, seed: int = 0, kid_subsets: int = 100, kid_subset_size: int = 1000) -> dict:
    """The distribution metrics of held-out real features against `reference`, at the fakes' N (or the fakes
    also at the reals' N, when the reals are fewer), or a record saying why it was not measured."""
    n_fake, available = len(fakes), len(heldout)
    record: dict = {"n": 0, "n_available": int(available), "splits": list(splits), "how": None, "reason": None,
                    FAKES_SAME_N: None}
    if available < min_images:
        record["reason"] = (f"only {available} held-out real images of the class in {'+'.join(splits) or 'no split'}; "
                            f"at least {min_images} are needed (k-NN metrics)")
        return record
    rng = np.random.default_rng(seed)
    options = {"seed": seed, "kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size, "halves": False}
    if available >= n_fake:
        chosen = np.sort(rng.choice(available, n_fake, replace=False))
        record.update(distribution_metrics(reference, heldout[chosen], **options))
        record["n"] = int(n_fake)
        record["how"] = (f"subsampled without replacement: {n_fake} of the {available} held-out reals "
                         f"({'+'.join(splits)}), the fakes' N")
        return record
    record.update(distribution_metrics(reference, heldout, **options))
    record["n"] = int(available)
    draws = [distribution_metrics(reference, fakes[np.sort(rng.choice(n_fake, available, replace=False))], **options)
             for _ in range(SAME_N_DRAWS)]
    record[FAKES_SAME_N] = {**_mean_record(draws), "n": int(available), "draws": SAME_N_DRAWS}
    record["how"] = (f"fewer held-out reals ({available}, {'+'.join(splits)}) than fakes ({n_fake}): all {available} "
                     f"reals, and the fakes scored again at N = {available} (mean of {SAME_N_DRAWS} random subsets "
                     "without replacement, fakes_same_n); reals are not bootstrapped to N (repeats zero the k-NN "
                     "radii and bias KID)")
    return record
