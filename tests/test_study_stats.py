"""The study's statistics: Holm across the study, DeLong on the pooled test images, power / MDE, finite pairs."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats
from statsmodels.stats.multitest import multipletests

from skingan.classifier import delong as D
from skingan.classifier.config import ClassifierConfig
from skingan.classifier.metrics import roc_auc, roc_auc_batch
from skingan.classifier.study_delong import delong_table
from skingan.classifier.study_plan import Cell, StudyConfig
from skingan.classifier.study_power import minimum_detectable_difference, seeds_needed
from skingan.classifier.study_stats import METRICS, holm, paired_differences, summarise
from skingan.classifier.study_text import conclusion_text, paired_markdown

CONDITIONS = ("real-aug", "c1", "c2", "c3", "c4", "c5")


def simulated_results(rng: np.random.Generator, *, seeds: int = 3, test_sets: tuple[str, ...] = ("test", "ood:x"),
                      effects: dict[str, float] | None = None, seed_sd: float = 0.02,
                      noise: float = 0.01) -> pd.DataFrame:
    """One study's results table: per test set and seed a shared base AUC (training luck that every condition of
    that seed shares), each condition adds its effect and its own noise."""
    effects = effects or {}
    rows = []
    for test_set in test_sets:
        for seed in range(seeds):
            base = 0.8 + rng.normal(0, seed_sd)
            for condition in CONDITIONS:
                row = {"condition": condition, "seed": seed, "test_set": test_set}
                row.update({m: base + effects.get(condition, 0.0) + rng.normal(0, noise) for m in METRICS})
                rows.append(row)
    return pd.DataFrame(rows)


def claims_effect(text: str) -> bool:
    return "raised AUC" in text or "lowered AUC" in text


# ------------------------------------------------------------------------------------------ multiplicity
def test_holm_by_hand_and_nan_left_out():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005])
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → 0.06 (monotone)
    assert holm(p) == pytest.approx([0.03, 0.06, np.nan, 0.06, 0.02], nan_ok=True)


def test_p_adjusted_is_holm_over_every_auc_comparison_of_the_study():
    results = simulated_results(np.random.default_rng(3), seeds=4, effects={"c2": 0.03})
    paired = paired_differences(results, "real-aug")
    auc = paired[paired["metric"] == "auc"]
    assert len(auc) == 5 * 2  # all conditions × both test sets form one family
    assert auc["p_adjusted"].to_numpy() == pytest.approx(multipletests(auc["p_value"], method="holm")[1])
    secondary = paired[paired["metric"] != "auc"]
    assert set(secondary["family"]) == {"secondary"} and set(auc["family"]) == {"primary"}
    assert secondary["p_adjusted"].to_numpy() == pytest.approx(
        multipletests(secondary["p_value"], method="holm")[1])
    assert (paired["p_adjusted"] >= paired["p_value"] - 1e-12).all()
    table = paired_markdown(paired, 0.95)
    assert "p (Holm)" in table and f"{auc['p_adjusted'].iloc[0]:.3g}" in table


def test_conclusion_claims_only_what_survives_holm():
    paired = paired_differences(simulated_results(np.random.default_rng(5)), "real-aug")
    paired.loc[paired["metric"] == "auc", ["difference", "ci_low", "ci_high", "p_value", "p_adjusted"]] = (
        0.02, 0.001, 0.039, 0.03, 0.3)  # significant alone, not after the adjustment
    summary = summarise(simulated_results(np.random.default_rng(5)))
    text = conclusion_text(paired, summary, "real-aug", 3, 0.95)
    assert not claims_effect(text) and "insufficient" in text and "Holm p = 0.3" in text
    paired.loc[(paired["metric"] == "auc") & (paired["condition"] == "c3"), "p_adjusted"] = 0.01
    text = conclusion_text(paired, summary, "real-aug", 3, 0.95)
    assert text.count("'c3' raised AUC by 0.020") == 2 and text.count("raised AUC") == 2


def test_null_simulation_claims_an_effect_in_at_most_5_percent_of_studies():
    """200 studies with no true effect (5 conditions, 3 seeds, 2 test sets): the conclusion claims an effect in
    ≤ 5 % of them; reading the unadjusted p-values instead would claim one far more often."""
    rng = np.random.default_rng(2024)
    claimed = unadjusted = 0
    gc.freeze()  # statsmodels' Holm calls gc.collect(); frozen, it skips the test session's objects
    try:
        for _ in range(200):
            results = simulated_results(rng)
            paired = paired_differences(results, "real-aug")
            claimed += claims_effect(conclusion_text(paired, summarise(results), "real-aug", 3, 0.95))
            unadjusted += bool((paired.loc[paired["metric"] == "auc", "p_value"] < 0.05).any())
    finally:
        gc.unfreeze()
    print(f"null simulation: effect claimed in {claimed}/200 studies (Holm), {unadjusted}/200 by raw p")
    assert claimed / 200 <= 0.05
    assert unadjusted / 200 >= 0.2  # ten tests at 5 % each: the issue measured 24 %
    assert unadjusted > 3 * max(claimed, 1)


# ---------------------------------------------------------------------------------------- finite pairs
def test_pairs_count_only_finite_values():
    results = simulated_results(np.random.default_rng(1), seeds=4, test_sets=("test",))
    results.loc[(results["condition"] == "c1") & (results["seed"] == 2), "auc"] = np.nan
    results.loc[(results["condition"] == "real-aug") & (results["seed"] == 0), "auc"] = np.nan
    paired = paired_differences(results, "real-aug")
    row = paired[(paired["condition"] == "c1") & (paired["metric"] == "auc")].iloc[0]
    assert row["pairs"] == 2
    a = results[results["condition"] == "c1"].set_index("seed")["auc"]
    b = results[results["condition"] == "real-aug"].set_index("seed")["auc"]
    assert row["difference"] == pytest.approx((a[[1, 3]] - b[[1, 3]]).mean())
    assert row["p_value"] == pytest.approx(stats.ttest_rel(a[[1, 3]], b[[1, 3]]).pvalue)
    other = paired[(paired["condition"] == "c2") & (paired["metric"] == "auc")].iloc[0]
    assert other["pairs"] == 3
    assert paired[(paired["condition"] == "c1") & (paired["metric"] == "sensitivity")]["pairs"].iloc[0] == 4
    with pytest.raises(ValueError, match="two rows for condition 'c1', seed 0 on test set 'test'"):
        paired_differences(pd.concat([results, results[results["condition"] == "c1"].head(1)]), "real-aug")


# ---------------------------------------------------------------------------------------------- power
def noncentral_t_power(d: float, n: int, alpha: float) -> float:
    """Two-sided paired t-test power by integrating over the chi-square of the SD (no noncentral-t code)."""
    df, crit, shift = n - 1, stats.t.ppf(1 - alpha / 2, n - 1), d * np.sqrt(n)

    def given_v(v: float) -> float:
        scale = crit * np.sqrt(v / df)
        return (stats.norm.cdf(shift - scale) + stats.norm.cdf(-shift - scale)) * stats.chi2.pdf(v, df)

    return integrate.quad(given_v, 0, np.inf, limit=200)[0]


@pytest.mark.parametrize(("sd", "n", "alpha"), [(0.015, 3, 0.05), (0.004, 5, 0.05), (0.02, 10, 0.1), (0.01, 2, 0.05)])
def test_mde_matches_the_noncentral_t_power(sd, n, alpha):
    d = optimize.brentq(lambda x: noncentral_t_power(x, n, alpha) - 0.8, 0.01, 50)
    assert minimum_detectable_difference(sd, n, alpha) == pytest.approx(d * sd, rel=1e-3)
    nct = stats.nct(n - 1, d * np.sqrt(n))
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    if n > 2:  # scipy's noncentral t agrees where it is well behaved
        assert nct.sf(crit) + nct.cdf(-crit) == pytest.approx(0.8, abs=1e-3)


@pytest.mark.parametrize("sd", [0.001, 0.006, 0.012, 0.03])
def test_seeds_needed_is_the_smallest_n_with_80_percent_power(sd):
    n = int(seeds_needed(sd, 3, 0.05))
    assert noncentral_t_power(0.02 / sd, n, 0.05) >= 0.8 - 1e-4
    if n > 2:
        assert noncentral_t_power(0.02 / sd, n - 1, 0.05) < 0.8


def test_power_is_undefined_without_spread_or_pairs():
    for sd, n in ((0.0, 3), (0.01, 1), (float("nan"), 3)):
        assert np.isnan(minimum_detectable_difference(sd, n, 0.05)) and np.isnan(seeds_needed(sd, n, 0.05))


def test_paired_table_and_conclusion_carry_the_mde():
    results = simulated_results(np.random.default_rng(8), seeds=3, test_sets=("test",))
    paired = paired_differences(results, "real-aug")
    row = paired[(paired["condition"] == "c1") & (paired["metric"] == "auc")].iloc[0]
    a = results[results["condition"] == "c1"]["auc"].to_numpy()
    b = results[results["condition"] == "real-aug"]["auc"].to_numpy()
    sd = np.std(a - b, ddof=1)
    assert row["mde"] == pytest.approx(minimum_detectable_difference(sd, 3, 0.05))
    assert row["seeds_for_0.02"] == seeds_needed(sd, 3, 0.05)
    text = conclusion_text(paired, summarise(results), "real-aug", 3, 0.95)
    assert f"An effect smaller than ±{row['mde']:.3f} cannot be excluded" in text
    same = results.copy()
    same.loc[same["condition"] == "c1", "auc"] = same.loc[same["condition"] == "real-aug", "auc"].to_numpy() + 0.01
    flat = paired_differences(same, "real-aug")
    flat_row = flat[(flat["condition"] == "c1") & (flat["metric"] == "auc")].iloc[0]
    assert np.isnan(flat_row["mde"]) and np.isnan(flat_row["seeds_for_0.02"]) and np.isnan(flat_row["p_value"])
    assert "| n/a |" in paired_markdown(flat, 0.95)


def test_significant_only_before_holm_is_called_suggestive_and_a_delong_only_difference_is_named():
    """The study's own case: unadjusted p 0.018 (CI excludes 0), Holm p 0.053, DeLong Holm p 0.049."""
    results = simulated_results(np.random.default_rng(8), seeds=3, test_sets=("test",))
    paired = paired_differences(results, "real-aug")
    auc = (paired["condition"] == "c1") & (paired["metric"] == "auc")
    paired.loc[auc, ["difference", "ci_low", "ci_high", "p_value", "p_adjusted", "delong_z", "delong_p",
                     "delong_p_adjusted"]] = [-0.078, -0.123, -0.033, 0.0176, 0.0528, -2.40, 0.0164, 0.0493]
    text = conclusion_text(paired, summarise(results), "real-aug", 3, 0.95)
    sentence = text.split("'c1'")[1].split("'c2'")[0]
    assert "significant before but not after the multiplicity correction" in sentence
    assert "suggestive, not established" in sentence and "no detectable difference" not in sentence
    assert "cannot be excluded" not in sentence  # the observed effect is larger than the MDE: the sentence would mislead
    assert "DeLong's test on the pooled test images does find a difference (Holm p = 0.0493)" in sentence
    assert "lowered AUC" not in text and "insufficient to claim" in text
    paired.loc[auc, "delong_p_adjusted"] = 0.2
    assert "does find a difference" not in conclusion_text(paired, summarise(results), "real-aug", 3, 0.95)


# ---------------------------------------------------------------------------------------------- DeLong
def correlated_scores(rng: np.random.Generator, n_pos: int, n_neg: int, shift_b: float = 0.0,
                      rho: float = 0.6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(int)
    shared = rng.normal(size=len(y))
    a = y * 1.0 + np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.normal(size=len(y))
    b = y * (1.0 + shift_b) + np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.normal(size=len(y))
    return y, a, b


def test_structural_components_and_covariance_match_the_pairwise_definition():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(9), np.zeros(14)].astype(int)
    a = np.round(rng.normal(y * 0.8, 1), 1)  # rounded: ties between and within classes
    b = np.round(0.5 * a + rng.normal(0, 1, len(y)), 1)
    aucs, cov = D.auc_covariance(y, np.vstack([a, b]))
    components = []
    for s in (a, b):
        psi = (s[y == 1][:, None] > s[y == 0][None, :]) + 0.5 * (s[y == 1][:, None] == s[y == 0][None, :])
        components.append((psi.mean(axis=1), psi.mean(axis=0)))
    assert aucs == pytest.approx([roc_auc(y, a), roc_auc(y, b)])
    m, n = 9, 14
    for i in range(2):
        for j in range(2):
            (x_i, y_i), (x_j, y_j) = components[i], components[j]
            s10 = np.sum((x_i - x_i.mean()) * (x_j - x_j.mean())) / (m - 1)
            s01 = np.sum((y_i - y_i.mean()) * (y_j - y_j.mean())) / (n - 1)
            assert cov[i, j] == pytest.approx(s10 / m + s01 / n)
    result = D.paired_test(y, a, b)
    assert result.difference == pytest.approx(aucs[0] - aucs[1])
    assert result.z == pytest.approx(result.difference / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))


def test_delong_variance_of_the_difference_matches_the_bootstrap():
    rng = np.random.default_rng(11)
    y, a, b = correlated_scores(rng, 80, 220, shift_b=0.3)
    result = D.paired_test(y, a, b)
    idx = np.random.default_rng(12).integers(0, len(y), size=(3000, len(y)))
    boot = roc_auc_batch(y[idx], a[idx]) - roc_auc_batch(y[idx], b[idx])
    assert result.variance == pytest.approx(np.var(boot, ddof=1), rel=0.12)


def test_delong_under_the_null_is_calibrated_and_identical_predictors_give_p_one():
    rng = np.random.default_rng(7)
    p = np.array([D.paired_test(*correlated_scores(rng, 40, 110)).p_value for _ in range(300)])
    assert 0.02 <= np.mean(p < 0.05) <= 0.09
    assert stats.kstest(p, "uniform").pvalue > 0.01
    y, a, _ = correlated_scores(rng, 20, 30)
    same = D.paired_test(y, a, a)
    assert (same.z, same.p_value) == (0.0, 1.0)


def test_the_seed_pooled_test_uses_the_covariance_of_all_models():
    rng = np.random.default_rng(4)
    y, a, b = correlated_scores(rng, 30, 70, shift_b=0.2)
    one = D.paired_test(y, a, b)
    copies = D.paired_mean_test(y, np.vstack([a, a, a]), np.vstack([b, b, b]))
    assert copies.z == pytest.approx(one.z)  # three identical seeds are one seed, not three (Stouffer: ×√3)
    a2, b2 = a + rng.normal(0, 0.5, len(y)), b + rng.normal(0, 0.5, len(y))
    pooled = D.paired_mean_test(y, np.vstack([a, a2]), np.vstack([b, b2]))
    contrast = np.array([0.5, 0.5, -0.5, -0.5])
    aucs, cov = D.auc_covariance(y, np.vstack([a, a2, b, b2]))
    assert pooled.difference == pytest.approx(contrast @ aucs)
    assert pooled.variance == pytest.approx(contrast @ cov @ contrast)


def write_cell(out, condition: str, seed: int, y: np.ndarray, scores: np.ndarray, ood: np.ndarray | None = None):
    folder = out / "cells" / condition / f"seed{seed}"
    folder.mkdir(parents=True)
    ids = [f"ISIC_{k:07d}" for k in range(len(y))]
    rows = ["split,image_id,target,probability"] + [f"val,VAL_{k},{t},0.5" for k, t in enumerate(y[:6])]
    rows += [f"test,{i},{t},{p:.6f}" for i, t, p in zip(ids, y, scores, strict=True)]
    (folder / "predictions.csv").write_text("\n".join(rows) + "\n")
    if ood is not None:
        lines = ["image_id,target,probability"] + [f"O{i},{t},{p:.6f}" for i, (t, p) in enumerate(zip(y, ood, strict=True))]
        (folder / "ood-x-predictions.csv").write_text("\n".join(lines) + "\n")
    return f"cells/{condition}/seed{seed}/predictions.csv"


def test_delong_table_reads_each_cells_predictions_and_notes_missing_ones(tmp_path):
    rng = np.random.default_rng(9)
    y = np.r_[np.ones(25), np.zeros(60)].astype(int)
    probs = {(c, s): 1 / (1 + np.exp(-(y * (1.2 if c == "c1" else 0.8) + rng.normal(0, 1, len(y)))))
             for c in ("real-aug", "c1") for s in (0, 1, 2)}
    rows = []
    for (condition, seed), p in probs.items():
        rel = write_cell(tmp_path, condition, seed, y, p, ood=p[::-1] if seed < 2 else None)
        rows.append({"condition": condition, "seed": seed, "test_set": "test", "predictions": rel})
        rows.append({"condition": condition, "seed": seed, "test_set": "ood:x",
                     "predictions": rel.replace("predictions.csv", "ood-x-predictions.csv")})
    table = delong_table(pd.DataFrame(rows), tmp_path, "real-aug").set_index("test_set")
    rounded = {k: np.round(v, 6) for k, v in probs.items()}
    expected = D.paired_mean_test(y, np.vstack([rounded["c1", s] for s in range(3)]),
                                  np.vstack([rounded["real-aug", s] for s in range(3)]))
    assert table.at["test", "delong_z"] == pytest.approx(expected.z)
    assert table.at["test", "delong_p"] == pytest.approx(expected.p_value)
    assert table.at["test", "delong_note"] == "" and table.at["test", "delong_seeds"] == 3
    assert table.at["ood:x", "delong_seeds"] == 2 and np.isfinite(table.at["ood:x", "delong_z"])
    assert "over 2 of 3 seed pairs" in table.at["ood:x", "delong_note"]
    assert "cells/c1/seed2/ood-x-predictions.csv is missing" in table.at["ood:x", "delong_note"]
    old = pd.DataFrame(rows).drop(columns="predictions")  # a results table from before predictions were named
    note = delong_table(old, tmp_path, "real-aug")["delong_note"].iloc[0]
    assert "no predictions file recorded" in note
    results = pd.DataFrame(rows).assign(**{m: 0.8 for m in METRICS})
    paired = paired_differences(results, "real-aug", delong=delong_table(pd.DataFrame(rows), tmp_path, "real-aug"))
    auc = paired[paired["metric"] == "auc"].set_index("test_set")
    assert auc.at["test", "delong_z"] == pytest.approx(expected.z)
    assert auc["delong_p_adjusted"].to_numpy() == pytest.approx(multipletests(auc["delong_p"], method="holm")[1])
    assert paired.loc[paired["metric"] != "auc", "delong_p"].isna().all()


def test_delong_table_names_a_broken_predictions_file(tmp_path):
    y = np.r_[np.ones(5), np.zeros(5)].astype(int)
    rows = []
    for condition in ("real-aug", "c1"):
        rel = write_cell(tmp_path, condition, 0, y, np.linspace(0, 1, 10))
        rows.append({"condition": condition, "seed": 0, "test_set": "test", "predictions": rel})
    (tmp_path / "cells" / "c1" / "seed0" / "predictions.csv").write_text("image_id,score\nA,0.3\n")
    note = delong_table(pd.DataFrame(rows), tmp_path, "real-aug")["delong_note"].iloc[0]
    assert "cells/c1/seed0/predictions.csv" in note and "lacks column(s) target, probability" in note


# ------------------------------------------------------------------------------------ OOD interval level
def test_run_cell_scores_ood_sets_at_the_configured_interval_level(tmp_path, monkeypatch):
    from skingan.classifier import evaluate, experiment

    config = ClassifierConfig()
    config.eval.ci = 0.8
    cell = Cell("real-aug", "real-aug", None, 0, config)
    cell.folder(tmp_path).mkdir(parents=True)
    (cell.folder(tmp_path) / "metrics.json").write_text("{}")
    seen = {}
    monkeypatch.setattr(evaluate, "evaluate_checkpoint", lambda *args, **kwargs: seen.update(kwargs))
    experiment.run_cell(cell, tmp_path / "data", tmp_path, {"x": tmp_path / "ood"}, "cpu", StudyConfig())
    assert seen["level"] == 0.8 and seen["prefix"] == "ood-x-"


def test_detectable_effect_is_a_positive_scalar_where_statsmodels_returns_an_array():
    """statsmodels' solve_power returns a 1-element array at some n (73: the negative root -0.332); the MDE
    and the seeds needed must still be positive scalars between their neighbours'."""
    from skingan.classifier.study_power import detectable_effect_size, seeds_needed

    d73, d64, d128 = (detectable_effect_size(n, 0.05) for n in (73, 64, 128))
    assert isinstance(d73, float) and d128 < d73 < d64
    assert seeds_needed(0.09, 3, 0.05) > 3  # bisects through n where the array case happens
