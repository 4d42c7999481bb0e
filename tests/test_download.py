"""`skingan download` against a local mock of ISIC API v2 (127.0.0.1 only) serving real ISIC image bytes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO, assert_clean_error, run_skingan
from isic_mock_server import LICENCE_TEXT, Faults, MockIsicServer, build_images
from skingan.cli import main
from skingan.data import isic

FULLRES_IDS_FIRST = "ISIC_0000026"  # the first of the 40 real full-resolution images (created first)


pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture(scope="module")
def images150(shared_data: Path):
    return build_images(shared_data, 150)


@pytest.fixture(scope="module")
def images40(shared_data: Path):
    return build_images(shared_data, 40)


def download(capsys: pytest.CaptureFixture, server: MockIsicServer, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["download", "--out", str(out), "--api-url", server.api_url, "--workers", "4", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_complete(out: Path, images, thumbnails: bool = False) -> list[dict[str, str]]:
    """Every served image on disk byte for byte, one metadata row each, nothing left over."""
    for image in images:
        data = image.thumbnail if thumbnails else image.full
        assert sha(out / "images" / f"{image.isic_id}.jpg") == hashlib.sha256(data).hexdigest(), image.isic_id
    rows = read_csv(out / "metadata.csv")
    assert [r["isic_id"] for r in rows] == sorted(im.isic_id for im in images)
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{im.isic_id}.jpg" for im in images)
    assert not (out / isic.PARTIAL_DIR).exists()
    assert not (out / isic.JOURNAL).exists()
    assert read_csv(out / "failures.csv") == []
    return rows


# ------------------------------------------------------------------------------------------- the happy path
def test_full_download_equals_served_bytes(capsys, tmp_path, images150):
    with MockIsicServer(images150) as server:
        code, stdout, _ = download(capsys, server, tmp_path / "isic")
        searches = server.requests_for("/images/search/?") + server.requests_for("cursor=")
    assert code == 0
    assert "downloaded 150, skipped 0 (already present), failed 0" in stdout
    out = tmp_path / "isic"
    rows = assert_complete(out, images150)
    # two pages of 100: the second fetched through the absolute `next` URL with a cursor
    assert any("cursor=" in path for _, path, _, _ in searches)
    header = list(rows[0].keys())
    assert header[:3] == ["isic_id", "attribution", "copyright_license"]
    assert header[3:] == sorted(header[3:])
    assert {"diagnosis_1", "diagnosis_2", "pixels_x", "age_approx", "clin_size_long_diam_mm"} <= set(header)
    first = next(r for r in rows if r["isic_id"] == FULLRES_IDS_FIRST)
    assert (first["pixels_x"], first["pixels_y"], first["diagnosis_1"], first["sex"]) == ("1504", "1129", "Malignant", "female")
    assert first["copyright_license"] == "CC-0" and first["lesion_id"] == ""  # missing keys are empty
    attributions = (out / "attribution.txt").read_text().split("\n\n")
    assert attributions[-1].strip() == "Anonymous" and len(attributions) == 3
    for name in ("CC-0", "CC-BY", "CC-BY-NC"):
        assert (out / "licenses" / f"{name}.txt").read_text() == LICENCE_TEXT[name]


def test_rerun_skips_finished_files(capsys, tmp_path, images40):
    with MockIsicServer(images40) as server:
        assert download(capsys, server, tmp_path / "isic")[0] == 0
        before = len(server.requests_for("/files/"))
        code, stdout, _ = download(capsys, server, tmp_path / "isic")
        after = len(server.requests_for("/files/"))
    assert code == 0 and "downloaded 0, skipped 40" in stdout
    assert after == before  # sizes matched the records: not one file request
    assert_complete(tmp_path / "isic", images40)


def test_legacy_schema(capsys, tmp_path, shared_data):
    images = build_images(shared_data, 45, schema="legacy")
    with MockIsicServer(images, schema="legacy") as server:
        code, _, _ = download(capsys, server, tmp_path / "isic")
    assert code == 0
    rows = assert_complete(tmp_path / "isic", images)
    assert "benign_malignant" in rows[0] and "diagnosis_1" not in rows[0]
    first = next(r for r in rows if r["isic_id"] == FULLRES_IDS_FIRST)
    assert (first["benign_malignant"], first["diagnosis"]) == ("malignant", "melanoma")


def test_limit_across_pages(capsys, tmp_path, images150):
    with MockIsicServer(images150) as server:
        code, stdout, _ = download(capsys, server, tmp_path / "isic", "--limit", "103")
    assert code == 0 and "downloaded 103," in stdout
    assert_complete(tmp_path / "isic", images150[:103])  # creation order, across the page boundary


@pytest.mark.parametrize("collections", [[292], [60, 71]])
def test_query_and_collections(capsys, tmp_path, images150, collections):
    with MockIsicServer(images150) as server:
        code, _, _ = download(capsys, server, tmp_path / "isic", "--query", "diagnosis_1:Malignant",
                              "--collections", ",".join(map(str, collections)))
    assert code == 0
    expected = [im for im in images150 if set(collections) & set(im.collections)
                and im.record["metadata"]["clinical"]["diagnosis_1"] == "Malignant"]
    assert 10 <= len(expected) < 100
    assert_complete(tmp_path / "isic", expected)


def test_thumbnails(capsys, tmp_path, images150):
    with MockIsicServer(images150) as server:
        code, _, _ = download(capsys, server, tmp_path / "isic", "--collections", "60", "--limit", "500",
                              "--thumbnails")
        paths = [path for _, path, _, _ in server.requests_for("/files/")]
    assert code == 0
    expected = [im for im in images150 if 60 in im.collections]
    assert_complete(tmp_path / "isic", expected, thumbnails=True)
    assert len(paths) == len(expected) and all("/thumbnails/" in p for p in paths)
    fullres = build_images(Path(REPO.parent / "shared" / "data"), 1)[0]
    assert len(fullres.thumbnail) < len(fullres.full)  # the real thumbnails are smaller than the originals


def test_dry_run_counts_and_sizes_without_writing(capsys, tmp_path, images150):
    out = tmp_path / "isic"
    with MockIsicServer(images150) as server:
        code, stdout, _ = download(capsys, server, out, "--dry-run")
        assert code == 0
        assert "dry run: 150 images match (full images, " in stdout
        assert f"{sum(len(im.full) for im in images150)} bytes" in stdout
        code, stdout, _ = download(capsys, server, out, "--collections", "60", "--dry-run")
        in_60 = [im for im in images150 if 60 in im.collections]
        assert f"dry run: {len(in_60)} images match" in stdout
        assert f"{sum(len(im.full) for im in in_60)} bytes" in stdout
        code, stdout, _ = download(capsys, server, out, "--dry-run", "--thumbnails", "--limit", "120")
        assert code == 0
        assert "120 images match (thumbnails, " in stdout
        assert f"{sum(len(im.thumbnail) for im in images150[:120])} bytes" in stdout
        assert not server.requests_for("/files/")
    assert not out.exists()


def test_dry_run_prints_the_resolved_options(capsys, tmp_path, images150):
    import yaml

    from skingan.config import from_dict

    out = tmp_path / "isic"
    with MockIsicServer(images150) as server:
        code, stdout, _ = download(capsys, server, out, "--collections", "60,71", "--limit", "5", "--thumbnails",
                                   "--dry-run")
    assert code == 0 and not out.exists()
    options, line = stdout.split("dry run: ")
    printed = yaml.safe_load(options)
    assert printed == {"out": str(out), "query": "", "collections": [60, 71], "limit": 5, "thumbnails": True,
                       "workers": 4, "api_url": server.api_url}
    assert from_dict(isic.DownloadOptions, printed, origin="dry run").collections == [60, 71]
    assert line.startswith("5 images match (thumbnails, ")


def test_the_run_records_its_options(capsys, tmp_path, images40):
    out = tmp_path / "isic"
    with MockIsicServer(images40[:5]) as server:
        code, _, _ = download(capsys, server, out, "--query", "diagnosis_1:Malignant", "--limit", "3")
    assert code == 0
    assert json.loads((out / isic.RECORD).read_text()) == {"options": {
        "query": "diagnosis_1:Malignant", "collections": [], "limit": 3, "thumbnails": False, "workers": 4,
        "api_url": server.api_url}}


# ------------------------------------------------------------------------------------------------- faults
def test_429_with_retry_after_and_503_recovered(capsys, tmp_path, images40):
    ids = [im.isic_id for im in images40]
    faults = Faults(file_faults={ids[0]: ["429", "503"], ids[1]: ["503", "503", "503"]},
                    search_faults=["429", "503"], retry_after="1")
    with MockIsicServer(images40, faults) as server:
        start = time.monotonic()
        code, _, _ = download(capsys, server, tmp_path / "isic")
        elapsed = time.monotonic() - start
        statuses = [status for _, _, _, status in server.requests_for(f"/files/images/{ids[0]}")]
    assert code == 0
    assert statuses == [429, 503, 200]
    assert elapsed >= 1.9  # Retry-After: 1 honoured twice (search and file), not the 0.01 s backoff
    assert_complete(tmp_path / "isic", images40)


def test_truncated_body_and_dropped_connection_recovered(capsys, tmp_path, images40):
    ids = [im.isic_id for im in images40]
    faults = Faults(file_faults={ids[0]: ["truncate", "truncate"], ids[1]: ["drop"], ids[2]: ["drop-headers", "drop"],
                                 ids[3]: ["truncate", "drop", "503"]})
    with MockIsicServer(images40, faults) as server:
        code, _, _ = download(capsys, server, tmp_path / "isic")
        served = {i: len(server.requests_for(f"/files/images/{i}")) for i in ids[:4]}
    assert code == 0
    assert served == {ids[0]: 3, ids[1]: 2, ids[2]: 3, ids[3]: 4}
    assert_complete(tmp_path / "isic", images40)


def test_range_resume_of_a_partial_file(capsys, tmp_path, images40):
    out = tmp_path / "isic"
    big = max(images40, key=lambda im: len(im.full))
    half = len(big.full) // 2
    (out / isic.PARTIAL_DIR).mkdir(parents=True)
    (out / isic.PARTIAL_DIR / f"{big.isic_id}.jpg.part").write_bytes(big.full[:half])
    # a partial longer than the file: the server answers 416 and the file restarts from zero
    other = images40[0]
    (out / isic.PARTIAL_DIR / f"{other.isic_id}.jpg.part").write_bytes(other.full + b"junk")
    with MockIsicServer(images40) as server:
        code, _, _ = download(capsys, server, out)
        resumed = server.requests_for(f"/files/images/{big.isic_id}")
        restarted = [status for _, _, _, status in server.requests_for(f"/files/images/{other.isic_id}")]
    assert code == 0
    assert len(resumed) == 1 and resumed[0][2].get("Range") == f"bytes={half}-" and resumed[0][3] == 206
    assert restarted == [416, 200]
    assert_complete(out, images40)


def test_a_range_answer_shorter_than_its_content_range_is_not_accepted(capsys, tmp_path, images40):
    """A 206 whose Content-Length matches a short body, but whose Content-Range promises the whole file."""
    out = tmp_path / "isic"
    big = max(images40, key=lambda im: len(im.full))
    (out / isic.PARTIAL_DIR).mkdir(parents=True)
    (out / isic.PARTIAL_DIR / f"{big.isic_id}.jpg.part").write_bytes(big.full[:1000])
    with MockIsicServer(images40, Faults(file_faults={big.isic_id: ["short-206"]})) as server:
        code, _, _ = download(capsys, server, out)
        ranges = [headers.get("Range") for _, _, headers, _ in server.requests_for(f"/files/images/{big.isic_id}")]
    assert code == 0
    assert ranges == ["bytes=1000-", f"bytes={1000 + (len(big.full) - 1000) // 2}-"]
    assert_complete(out, images40)


def test_missing_file_fails_loudly_and_a_rerun_completes(capsys, tmp_path, images40):
    missing = images40[5].isic_id
    out = tmp_path / "isic"
    with MockIsicServer(images40, Faults(missing={missing})) as server:
        code, _, stderr = download(capsys, server, out)
        assert code == 1
        assert "failed 1" in stderr and "failures.csv" in stderr and missing in stderr
        failures = read_csv(out / "failures.csv")
        assert [f["isic_id"] for f in failures] == [missing] and "404" in failures[0]["reason"]
        rows = read_csv(out / "metadata.csv")
        assert missing not in {r["isic_id"] for r in rows} and len(rows) == 39
        assert not (out / "images" / f"{missing}.jpg").exists()
        assert (out / isic.JOURNAL).exists()  # kept while the set is incomplete
        server.faults.missing.clear()
        code, stdout, _ = download(capsys, server, out)
    assert code == 0 and "downloaded 1, skipped 39" in stdout
    assert_complete(out, images40)


def test_hostile_records_are_refused_and_nothing_escapes_out(capsys, tmp_path, images40):
    base = images40[0]
    hostile = [
        {"isic_id": "../x", "files": {"full": {"url": "http://127.0.0.1:9/files/images/x.jpg", "size": 1}}},
        {"isic_id": "ISIC_12", "files": {"full": {"url": "http://127.0.0.1:9/a.jpg", "size": 1}}},
        {"isic_id": "ISIC_1234567/../../../evil", "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
        {"isic_id": "ISIC_7654321", "files": {"full": {"url": "file:///etc/passwd.jpg", "size": 1}}},
        {"isic_id": "ISIC_7654322", "files": {"full": {"url": "ftp://127.0.0.1/a.jpg", "size": 1}}},
        {"isic_id": "ISIC_7654323", "files": {"full": {"url": "http://127.0.0.1:9/run.exe", "size": 1}}},
        {"isic_id": "ISIC_7654324", "copyright_license": "../../etc", **{k: v for k, v in base.record.items()
                                                                          if k not in ("isic_id", "copyright_license")},
         "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
    ]
    out = tmp_path / "dl" / "isic"
    with MockIsicServer(images40[:3], extra_records=hostile) as server:
        code, _, stderr = download(capsys, server, out)
    assert code == 1 and "failed 7" in stderr
    reasons = {f["isic_id"]: f["reason"] for f in read_csv(out / "failures.csv")}
    assert set(reasons) == {"../x", "ISIC_12", "ISIC_1234567/../../../evil", "ISIC_7654321", "ISIC_7654322",
                            "ISIC_7654323", "ISIC_7654324"}
    assert "not http(s)" in reasons["ISIC_7654321"] and "'.exe'" in reasons["ISIC_7654323"]
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{im.isic_id}.jpg" for im in images40[:3])
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["isic"]
    assert sorted(p.name for p in (out / "licenses").iterdir()) == ["CC-0.txt"]
    assert len(read_csv(out / "metadata.csv")) == 3


# ----------------------------------------------------------------------------------------- user mistakes
def test_unknown_collection_is_a_clear_error(tmp_path, images40):
    with MockIsicServer(images40) as server:
        result = run_skingan("download", "--out", tmp_path / "isic", "--api-url", server.api_url,
                             "--collections", "60,999", timeout=60)
    assert_clean_error(result, "collection 999 does not exist")
    assert not (tmp_path / "isic").exists()


@pytest.mark.parametrize("query, replacement", [
    ("benign_malignant:malignant", "diagnosis_1:Malignant"),
    ("diagnosis:melanoma AND age_approx:50", 'diagnosis_2:"Malignant melanocytic proliferations (Melanoma)"'),
])
def test_removed_field_query_names_the_replacement(capsys, tmp_path, images40, query, replacement):
    with MockIsicServer(images40) as server:
        code, _, stderr = download(capsys, server, tmp_path / "isic", "--query", query)
        assert not server.requests_for("/images/search/")  # refused before asking the server
    assert code == 2 and replacement in stderr and len(stderr.strip().splitlines()) == 1


def test_server_400_explains_the_query_syntax(capsys, tmp_path, images40):
    with MockIsicServer(images40) as server:
        code, _, stderr = download(capsys, server, tmp_path / "isic", "--query", "colour:blue")
    assert code == 2 and "could not parse" in stderr and "diagnosis_1:Malignant" in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flags, fragment", [
    (["--api-url", "ftp://example.org/api/v2/"], "not an http(s) URL"),
    (["--limit", "0"], "--limit 0"),
    (["--workers", "0"], "--workers 0"),
    (["--collections", "60;71"], "comma-separated"),
])
def test_bad_flags_are_clear_errors(capsys, tmp_path, flags, fragment):
    code = main(["download", "--out", str(tmp_path / "isic"), *flags])
    assert code == 2 and fragment in capsys.readouterr().err


def test_not_enough_disk_space_is_refused_before_downloading(capsys, tmp_path, images40, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10_000_000))
    with MockIsicServer(images40) as server:
        code, _, stderr = download(capsys, server, tmp_path / "isic")
        assert not server.requests_for("/files/")
    assert code == 2 and "10.0 MB free on disk, the download needs about 16.3 MB" in stderr


def test_api_url_from_environment(capsys, tmp_path, images40, monkeypatch):
    with MockIsicServer(images40[:5]) as server:
        monkeypatch.setenv(isic.API_URL_ENV, server.api_url)
        code = main(["download", "--out", str(tmp_path / "isic")])
    assert code == 0
    assert_complete(tmp_path / "isic", images40[:5])


# --------------------------------------------------------------------------------------- crash and resume
def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_download_then_rerun_completes_identically(tmp_path, shared_data):
    images = build_images(shared_data, 60)
    out = tmp_path / "isic"
    env = {**os.environ, isic.BACKOFF_ENV: "0.01", "PYTHONUNBUFFERED": "1"}
    faults = Faults(latency=0.02, body_delay=0.02)
    with MockIsicServer(images, faults) as server:
        command = [sys.executable, "-m", "skingan", "download", "--out", str(out), "--api-url", server.api_url,
                   "--workers", "3"]
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            done = lambda: len(list((out / "images").glob("*.jpg"))) >= 4 and any(  # noqa: E731
                p.stat().st_size > 0 for p in (out / isic.PARTIAL_DIR).glob("*.part"))
            assert _wait_for(done, 60), "the download never got going"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        finished = {p.stem for p in (out / "images").glob("*.jpg")}
        assert len(finished) < len(images)
        journal = [json.loads(line) for line in (out / isic.JOURNAL).read_text().splitlines()]
        assert len(journal) == len(images)  # the crash kept every record already fetched
        assert not (out / "metadata.csv").exists()

        server.faults.latency = server.faults.body_delay = 0
        first_run = len(server.log)
        result = run_skingan("download", "--out", out, "--api-url", server.api_url, "--workers", "3",
                             env={isic.BACKOFF_ENV: "0.01"}, timeout=120)
        second_run = server.log[first_run:]
    assert result.returncode == 0, result.stderr
    assert f"skipped {len(finished)} (already present)" in result.stdout
    refetched = {path.rsplit("/", 1)[1].split(".")[0] for _, path, _, _ in second_run if "/files/" in path}
    assert not refetched & finished  # nothing downloaded twice
    assert any(headers.get("Range") and status == 206 for _, _, headers, status in second_run)
    rows = assert_complete(out, images)  # complete, identical bytes, no stale partial files, no journal
    assert len({r["isic_id"] for r in rows}) == len(rows) == len(images)


def test_ctrl_c_stops_promptly_and_a_rerun_completes(tmp_path, images40):
    out = tmp_path / "isic"
    env = {**os.environ, isic.BACKOFF_ENV: "0.01", "PYTHONUNBUFFERED": "1"}
    with MockIsicServer(images40, Faults(body_delay=0.05)) as server:
        command = [sys.executable, "-m", "skingan", "download", "--out", str(out), "--api-url", server.api_url]
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            assert _wait_for(lambda: any(p.stat().st_size > 0 for p in (out / isic.PARTIAL_DIR).glob("*.part")), 60)
            process.send_signal(signal.SIGINT)
            start = time.monotonic()
            _, stderr = process.communicate(timeout=30)
            stopped_in = time.monotonic() - start
        finally:
            process.kill()
        assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
        assert stopped_in < 5  # running transfers stop at the next chunk instead of finishing their files
        server.faults.body_delay = 0
        result = run_skingan("download", "--out", out, "--api-url", server.api_url,
                             env={isic.BACKOFF_ENV: "0.01"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert_complete(out, images40)


def test_second_process_on_the_same_folder_is_refused(tmp_path, images40):
    out = tmp_path / "isic"
    out.mkdir()
    import fcntl

    with open(out / isic.LOCK_FILE, "w") as handle, MockIsicServer(images40[:2]) as server:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_skingan("download", "--out", out, "--api-url", server.api_url, timeout=60)
    assert_clean_error(result, "another 'skingan download' is writing to")


# ------------------------------------------------------------------------------------ the mock is faithful
def test_mock_pages_like_api_v2(images150):
    with MockIsicServer(images150) as server:
        url = server.api_url + "images/search/"
        first = requests.get(url, params={"limit": 500}, timeout=10).json()
        assert len(first["results"]) == 100 and first["count"] == 150
        assert first["next"].startswith(server.base) and "cursor=" in first["next"]
        second = requests.get(first["next"], timeout=10).json()
        assert second["count"] is None and second["next"] is None and len(second["results"]) == 50
        assert requests.get(url, params={"cursor": "not-a-cursor"}, timeout=10).status_code == 422
        assert requests.get(url, params={"query": "benign_malignant:benign"}, timeout=10).status_code == 400
        assert requests.get(server.api_url + "collections/1/", timeout=10).status_code == 404
        size = requests.get(url + "size/", timeout=10).json()["size"]
        assert size == sum(len(im.full) for im in images150)


# --------------------------------------------------------------------------------------------- unit checks
@pytest.mark.parametrize("isic_id", ["../x", "ISIC_12", "ISIC_00000001", "isic_0000001", "ISIC_000000a", "", None])
def test_parse_record_rejects_bad_ids(isic_id):
    raw = {"isic_id": isic_id, "files": {"full": {"url": "https://x.org/a.jpg", "size": 1}}}
    with pytest.raises(isic.BadRecord):
        isic.parse_record(raw)


def test_parse_record_takes_the_extension_from_the_url():
    raw = {"isic_id": "ISIC_0000001", "files": {"full": {"url": "https://x.org/images/ISIC_0000001.PNG?sig=a.jpg"}},
           "metadata": {"acquisition": {"pixels_x": 5}, "clinical": {"melanocytic": True, "age_approx": None}}}
    record = isic.parse_record(raw)
    assert record.filename == "ISIC_0000001.png"
    assert record.row == {"isic_id": "ISIC_0000001", "attribution": "", "copyright_license": "",
                          "pixels_x": "5", "melanocytic": "True"}


def test_help_shows_the_example():
    help_text = run_skingan("download", "--help", timeout=60).stdout
    assert "skingan download --out data/isic" in help_text and "--thumbnails" in help_text


# ------------------------------------------------------------------------------------------ the next stage
def test_prepare_reads_the_download(capsys, tmp_path, shared_data):
    from skingan.data.prepared import open_prepared

    images = build_images(shared_data, 60)
    out = tmp_path / "isic"
    with MockIsicServer(images) as server:
        assert download(capsys, server, out)[0] == 0
    code = main(["prepare", "--source", "isic", "--input", str(out), "--out", str(tmp_path / "prepared"),
                 "--sizes", "32", "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    prepared = open_prepared(tmp_path / "prepared")
    table = prepared.metadata.set_index("image_id")
    assert sorted(table.index) == sorted(im.isic_id for im in images)
    for image in images:
        expected = int(image.record["metadata"]["clinical"]["diagnosis_1"] == "Malignant")
        assert int(table.loc[image.isic_id, "target"]) == expected, image.isic_id
        assert table.loc[image.isic_id, "license"] == image.record["copyright_license"]
    assert prepared.images(32).shape == (60, 32, 32, 3)


def test_benchmark_script_runs(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_download.py"), "--images", "30",
                             "--latency", "0", "--workers", "4"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["images"] == 30 and figures["results"]["4"]["images_per_s"] > 0
