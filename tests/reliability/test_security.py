"""Security: checkpoints never run pickled code, names from remote or CSV data never escape the output folder,
the downloader never follows a redirect to a non-http(s) scheme, and secrets stay out of logs and run folders."""

from __future__ import annotations

import ast
import builtins
import csv
import hashlib
import os
import pickle
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import torch

from conftest import REPO, assert_clean_error, run_skingan
from isic_mock_server import MockIsicServer, build_images
from reliability.conftest import real_rows
from skingan.config import setting
from skingan.data.prepared import open_prepared
from skingan.errors import UserError
from skingan.runs import atomic_torch_save, init_run_dir, safe_torch_load

SECRET = "tok_9f8e7d6c5b4a_do_not_log"


pytestmark = pytest.mark.usefixtures("fast_retries")


# ----------------------------------------------------------------------------------------- checkpoints
class SystemCall:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class ExecCall:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


class EvalCall:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"__import__('pathlib').Path({str(self.marker)!r}).touch()",))


PAYLOADS = {"os.system": SystemCall, "builtins.exec": ExecCall, "builtins.eval": EvalCall}


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_a_pickled_payload_in_a_checkpoint_never_runs(tmp_path, payload, zip_format):
    marker = tmp_path / "PWNED"
    checkpoint = {"step": 10, "generator": {"weight": torch.zeros(2)}, "extra": PAYLOADS[payload](marker)}
    path = tmp_path / "last.pt"
    torch.save(checkpoint, path, pickle_module=pickle, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UserError) as error:
        safe_torch_load(path)
    assert "cannot be loaded safely" in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


def test_a_plain_pickle_named_pt_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"state": SystemCall(marker)}))
    with pytest.raises(UserError):
        safe_torch_load(path)
    assert not marker.exists()


def test_honest_checkpoints_still_load(tmp_path):
    checkpoint = {"step": 7, "config": {"model": {"arch": "sngan", "sizes": [64, 128]}}, "loss": 0.25,
                  "rng": torch.get_rng_state(), "generator": {"w": torch.arange(6.0).reshape(2, 3)}}
    atomic_torch_save(checkpoint, tmp_path / "ok.pt")
    loaded = safe_torch_load(tmp_path / "ok.pt")
    assert loaded["step"] == 7 and loaded["config"]["model"]["sizes"] == [64, 128]
    assert torch.equal(loaded["generator"]["w"], checkpoint["generator"]["w"])
    assert torch.equal(loaded["rng"], checkpoint["rng"])


def test_no_code_loads_checkpoints_without_weights_only():
    """Every torch.load in the package is the safe one (a source scan, so a later change cannot slip past)."""
    unsafe = []
    for path in sorted((REPO / "src" / "skingan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" \
                    and getattr(node.func.value, "id", "") == "torch":
                keywords = {k.arg: k.value for k in node.keywords}
                value = keywords.get("weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    unsafe.append(f"{path.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr in ("loads", "load") \
                    and getattr(node.value, "id", "") in ("pickle", "dill", "cloudpickle"):
                unsafe.append(f"{path.relative_to(REPO)}:{node.lineno} ({node.value.id}.{node.attr})")
    assert unsafe == []


# ------------------------------------------------------------------------------------ names and paths
def listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture(scope="module")
def images(shared_data: Path):
    return build_images(shared_data, 40)


def test_hostile_names_in_remote_records_stay_inside_out(tmp_path, images):
    hostile = [
        {"isic_id": "ISIC_0000002\n", "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
        {"isic_id": "ISIC_0000001\x00.jpg", "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
        {"isic_id": "/etc/passwd", "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
        {"isic_id": "..\\..\\ISIC_1234567", "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
        {"isic_id": "ISIC_7000001", "copyright_license": "CC-0/../../../x",
         "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
        {"isic_id": "ISIC_7000002", "copyright_license": "CC\x00-0", "files": {"full": {"url": "http://127.0.0.1:9/a.jpg"}}},
        {"isic_id": "ISIC_7000003", "files": {"full": {"url": "http://127.0.0.1:9/%2e%2e/%2e%2e/x.sh"}}},
    ]
    sandbox = tmp_path / "sandbox"
    out = sandbox / "isic"
    with MockIsicServer(images[:2], extra_records=hostile) as server:
        result = run_skingan("download", "--out", out, "--api-url", server.api_url, timeout=120)
    assert result.returncode == 1 and "failed 7" in result.stderr and "Traceback" not in result.stderr
    assert {p.split("/")[0] for p in listing(sandbox)} == {"isic"}
    assert {p for p in listing(out / "images")} == {f"{im.isic_id}.jpg" for im in images[:2]}
    assert listing(out / "licenses") == {"CC-0.txt"}
    with open(out / "failures.csv", newline="", encoding="utf-8") as handle:
        reasons = [row["reason"] for row in csv.DictReader(handle)]
    assert len(reasons) == 7  # every one refused before any request, none merely unreachable
    assert all(any(w in r for w in ("does not match", "not a licence name", "has extension")) for r in reasons)


def test_hostile_names_in_a_csv_stay_inside_out(tmp_path, isic2017):
    rows = real_rows(isic2017, 6)
    sandbox = tmp_path / "sandbox"
    data = sandbox / "data"
    data.mkdir(parents=True)
    lines = [f"{isic2017 / p},{t},{i}" for p, t, i in zip(rows["image"], rows["target"], rows["isic_id"], strict=True)]
    lines += ["../../../../etc/passwd,1,../../../escaped", "/etc/hostname,0,/tmp/abs_id",
              "x\x00y.jpg,1,nul\x00id", f"{isic2017 / rows['image'].iat[0]},1,../../prepared/../../../evil"]
    (data / "labels.csv").write_text("image,target,id\n" + "\n".join(lines) + "\n")
    before = listing(sandbox)
    out = sandbox / "prepared"
    result = run_skingan("prepare", "--source", "folder", "--input", data, "--labels", "labels.csv", "--id-col", "id",
                         "--sizes", "32", "--out", out, timeout=120)
    assert result.returncode == 0, result.stderr
    assert listing(sandbox) - before == {"prepared", "prepared/prepare.json", "prepared/metadata.csv",
                                         "prepared/cache", "prepared/cache/32.npy"}
    prepared = open_prepared(out)
    assert len(prepared) == 12  # the duplicate picture under a hostile id is dropped as the same bytes
    skipped = {s["image_id"] for s in prepared.info["skipped"]}
    assert skipped == {"../../../escaped", "/tmp/abs_id", "nul\x00id"}
    assert not Path("/tmp/abs_id").exists()


# --------------------------------------------------------------------------------------------- redirects
@dataclass
class Redirects:
    """/redirect/<name> answers 302 to targets[name]; a search can be made to redirect too."""

    targets: dict[str, str] = field(default_factory=dict)
    search_to: str | None = None


class RedirectingServer(MockIsicServer):
    def __init__(self, *args, redirects: Redirects, **kwargs):
        self.redirects = redirects
        super().__init__(*args, **kwargs)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler()
        server = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                if self.path.startswith("/redirect/") and name in server.redirects.targets:
                    return self.send(302, b"", "text/plain", {"Location": server.redirects.targets[name]})
                if server.redirects.search_to and "/images/search/" in self.path:
                    return self.send(302, b"", "text/plain", {"Location": server.redirects.search_to})
                return super().do_GET()

        return Handler


SCHEMES = {"ISIC_8000001.jpg": "file:///etc/passwd", "ISIC_8000002.jpg": "ftp://127.0.0.1/x.jpg",
           "ISIC_8000003.jpg": "gopher://127.0.0.1/x.jpg", "ISIC_8000004.jpg": "data:image/jpeg;base64,/9j/4AAQ",
           "ISIC_8000005.jpg": "javascript:alert(1)"}


def test_downloads_never_follow_redirects_to_other_schemes(tmp_path, images):
    out = tmp_path / "isic"
    with RedirectingServer(images[:2], redirects=Redirects(dict(SCHEMES))) as server:
        server.extra_records.extend(
            {**images[0].record, "isic_id": name[:-4],
             "files": {"full": {"url": f"{server.base}/redirect/{name}", "size": 100}}} for name in SCHEMES)
        result = run_skingan("download", "--out", out, "--api-url", server.api_url, timeout=120)
        followed = [path for _, path, _, _ in server.log if path.startswith("/redirect/")]
    assert result.returncode == 1 and "Traceback" not in result.stderr and "failed 5" in result.stderr
    assert len(followed) == len(SCHEMES)  # each asked once; nothing fetched from the redirect targets
    assert listing(out / "images") == {f"{im.isic_id}.jpg" for im in images[:2]}
    reasons = (out / "failures.csv").read_text()
    for name in SCHEMES:
        assert name[:-4] in reasons
    passwd = Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else b"root:"
    digest = hashlib.sha256(passwd).hexdigest()
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() != digest for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/api/v2/images/search/"])
def test_the_api_search_never_follows_a_redirect_to_another_scheme(tmp_path, images, target):
    with RedirectingServer(images[:2], redirects=Redirects(search_to=target)) as server:
        result = run_skingan("download", "--out", tmp_path / "isic", "--api-url", server.api_url, timeout=120)
    assert_clean_error(result, "cannot reach the ISIC API")
    assert not any((tmp_path / "isic").rglob("*.jpg"))


# ------------------------------------------------------------------------------------------------ secrets
def test_credentials_in_the_api_url_never_reach_messages_or_files(tmp_path, images):
    out = tmp_path / "isic"
    with MockIsicServer(images[:3]) as server:
        secret_url = server.api_url.replace("http://", f"http://alice:{SECRET}@")
        ok = run_skingan("download", "--out", out, "--api-url", secret_url, env={"ISIC_TOKEN": SECRET}, timeout=120)
        bad_query = run_skingan("download", "--out", tmp_path / "x", "--api-url", secret_url, "--query", "colour:x",
                                timeout=120)
    unreachable = run_skingan("download", "--out", tmp_path / "y", "--api-url", f"http://alice:{SECRET}@127.0.0.1:9/",
                              timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert bad_query.returncode == 2 and unreachable.returncode == 2
    for result in (ok, bad_query, unreachable):
        assert SECRET not in result.stdout + result.stderr
    assert "***@127.0.0.1" in unreachable.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@dataclass
class TinyConfig:
    steps: int = setting(3, min=1)
    api_url: str = "https://api.isic-archive.com/api/v2/"


def test_secret_environment_values_stay_out_of_run_folders(tmp_path, monkeypatch, isic2017):
    monkeypatch.setenv("ISIC_TOKEN", SECRET)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setattr("sys.argv", ["skingan", "train-gan", "--api-url", f"https://bob:{SECRET}@example.org/"])
    run = init_run_dir(tmp_path / "run", config=TinyConfig(), seed=1, device="cpu")
    import logging

    logging.getLogger("skingan").info("a line in the log")
    for handler in list(logging.getLogger("skingan").handlers):  # leave no log file attached for later tests
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == run:
            logging.getLogger("skingan").removeHandler(handler)
            handler.close()
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.yaml", "environment.json", "log.txt"}
    for path in files:
        assert SECRET not in path.read_text(encoding="utf-8"), path
    assert "https://***@example.org/" in (run / "environment.json").read_text()
    rows = real_rows(isic2017, 3)
    labels = tmp_path / "labels.csv"
    labels.write_text("image,target\n" + "\n".join(f"{isic2017 / p},{t}" for p, t in
                                                     zip(rows["image"], rows["target"], strict=True)) + "\n")
    result = run_skingan("prepare", "--source", "folder", "--input", tmp_path, "--labels", labels, "--sizes", "32",
                         "--out", tmp_path / "prepared", env={"ISIC_TOKEN": SECRET}, timeout=120)
    assert result.returncode == 0, result.stderr
    for path in (tmp_path / "prepared").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


def test_unknown_api_url_scheme_is_refused_before_any_request(tmp_path):
    result = run_skingan("download", "--out", tmp_path / "isic", "--api-url", f"file://u:{SECRET}@/etc/", timeout=60)
    assert_clean_error(result, "is not an http(s) URL")
    assert SECRET not in result.stderr and not (tmp_path / "isic").exists()
