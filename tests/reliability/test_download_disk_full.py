"""The disk fills up in the middle of `skingan download` (after the free-space check passed: another program took
the space): the run stops with one line saying what happened and how to go on, no partial image is in images/,
and the same command, once there is space, ends with exactly the files of an uninterrupted download."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from isic_mock_server import MockIsicServer, build_images
from skingan.cli import main
from skingan.data import isic
from skingan.data.isic import transfer

N_IMAGES = 40  # the real full-resolution originals, ~0.4 MB each
ROOM = 5_000_000  # bytes the "disk" takes before it is full: about a third of the download


pytestmark = pytest.mark.usefixtures("fast_retries")


class FillingDisk:
    """Stands in for `open` inside skingan.data.isic.transfer (where image bytes are written): writes succeed
    until `room` bytes are used, then ENOSPC."""

    def __init__(self, room: int):
        self.room = room
        self.failures = 0

    def __call__(self, file, mode="r", *args, **kwargs):
        handle = open(file, mode, *args, **kwargs)  # noqa: SIM115 (returned to the caller's with-block)
        if "b" not in mode or not any(m in mode for m in "wa"):
            return handle
        disk = self
        real_write = handle.write

        def write(data) -> int:
            if len(data) > disk.room:
                disk.failures += 1
                real_write(bytes(data[: disk.room]))
                disk.room = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
            disk.room -= len(data)
            return real_write(data)

        handle.write = write
        return handle


def files_under(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != isic.LOCK_FILE}


def test_disk_full_mid_download_stops_cleanly_and_the_rerun_finishes(shared_data, tmp_path, capsys, monkeypatch):
    images = build_images(shared_data, N_IMAGES)
    served = {f"images/{im.isic_id}.jpg": hashlib.sha256(im.full).hexdigest() for im in images}
    with MockIsicServer(images) as server:
        args = ["download", "--api-url", server.api_url, "--workers", "3"]
        assert main([*args, "--out", str(tmp_path / "reference")]) == 0
        reference = files_under(tmp_path / "reference")
        capsys.readouterr()

        disk = FillingDisk(ROOM)
        monkeypatch.setattr(transfer, "open", disk, raising=False)
        out = tmp_path / "isic"
        code = main([*args, "--out", str(out)])
        err = capsys.readouterr().err
        monkeypatch.undo()
        monkeypatch.setenv(isic.BACKOFF_ENV, "0.01")
        lines = [line for line in err.splitlines() if "error:" in line]
        assert code == 1 and disk.failures >= 1, err
        assert len(lines) == 1 and "skingan/" not in err  # (the mock server thread may print its own resets)
        assert "No space left on device" in lines[0] and "run the same command again" in lines[0]
        whole = sorted((out / "images").glob("*.jpg"))
        assert 0 < len(whole) < N_IMAGES
        for path in whole:  # every file in images/ is complete; the cut-off bytes stayed in .partial/
            assert files_under(out)[f"images/{path.name}"] == served[f"images/{path.name}"]
        assert not (out / "metadata.csv").exists()  # not mistaken for a finished download

        assert main([*args, "--out", str(out)]) == 0
    assert files_under(out) == reference
    assert {k: v for k, v in reference.items() if k.startswith("images/")} == served
