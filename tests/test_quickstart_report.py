"""The whole study end to end on phantoms (`skingan quickstart`), its resume, and the report in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_clean_error, run_skingan

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("quickstart") / "qs"
    result = run_skingan("quickstart", "--out", out, "--minutes", "0.1", "--device", "cpu", timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout + result.stderr


def test_quickstart_runs_every_stage_on_phantoms(quickstart):
    out, log = quickstart
    assert "report:" in log and (out / "report.html").is_file() and (out / "report.md").is_file()
    state = json.loads((out / "quickstart.json").read_text())
    assert state["phantom"] is True
    names = [c.split()[1] for c in state["commands"]]
    assert names == ["prepare", "train-gan", "sample", "evaluate-gan", "experiment", "report"]
    assert (out / "gan" / "checkpoints" / "last.pt").is_file()
    manifest = pd.read_csv(out / "samples" / "manifest.csv")
    assert set(manifest["class"]) == {"benign", "malignant"}
    metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
    assert metrics["fd"] > 0 and metrics["protocol"]["extractor"] == "lite0"
    summary = pd.read_csv(out / "experiment" / "summary.csv")
    conditions = set(summary["condition"].astype(str))
    for expected in ("real-aug", "balanced", "synthetic-only"):
        assert any(expected in c for c in conditions), conditions
    assert (out / "experiment" / "conclusion.md").read_text().strip()
    html = (out / "report.html").read_text()
    assert "PHANTOMS" in html and "data:image/png;base64," in html
    assert "src='http" not in html and 'src="http' not in html  # self-contained, opens offline


def test_running_it_again_reuses_every_finished_stage(quickstart):
    out, _ = quickstart
    before = (out / "gan" / "checkpoints" / "last.pt").stat().st_mtime_ns
    result = run_skingan("quickstart", "--out", out, "--minutes", "0.1", "--device", "cpu", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("already done") == 5
    assert (out / "gan" / "checkpoints" / "last.pt").stat().st_mtime_ns == before


def test_report_of_a_single_gan_run_and_of_an_empty_folder(quickstart, tmp_path):
    out, _ = quickstart
    result = run_skingan("report", out / "gan", "--out", tmp_path / "gan.html")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "gan.html").read_text()
    assert "GAN run: gan" in html and "Resolved config" in html
    assert_clean_error(run_skingan("report", tmp_path / "nothing"), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_clean_error(run_skingan("report", tmp_path / "empty"), "holds no skingan run")


def test_quickstart_bad_input_is_one_line(tmp_path):
    assert_clean_error(run_skingan("quickstart", "--source", "folder", "--out", tmp_path / "q"), "--input")
    assert_clean_error(run_skingan("quickstart", "--minutes", "0", "--out", tmp_path / "q"), "--minutes")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Chromium and chromedriver are not installed "
                    "(Debian: apt-get install chromium chromium-driver)")
def test_report_opens_in_headless_chromium(quickstart, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    out, _ = quickstart
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((out / "report.html").resolve().as_uri())
        widths = driver.execute_script("return [...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        screenshot = out / "report_screenshot.png"
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    assert len(widths) >= 8 and all(w > 0 for w in widths), widths
    assert errors == []
    assert screenshot.stat().st_size > 10_000
