"""Run folders, atomic writes, seeds, devices and the environment record every run leaves behind."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skingan.errors import UserError

log = logging.getLogger("skingan")

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str | Path, tag: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, on failure remove it.

    The temporary is named `.tmp-NAME.TAG`; without a tag, 122 random bits (never an existing file). A caller
    that tags by process id lets a later run tell a dead writer's leftovers from a live one's; a leftover under
    this very name can only be a dead process's (the id was reused) and is replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.parent / f"{TMP_PREFIX}{path.name}.{uuid.uuid4().hex if tag is None else tag}"
    if tag is not None:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
    try:  # created inside the try: a Ctrl-C at any moment after creation still removes it
        # 0666 less the umask, as open() gives (mkstemp's 0600 would hide a shared data set from colleagues)
        os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes, tag: str | None = None) -> None:
    with atomic_path(path, tag) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def process_exists(pid: int) -> bool:
    """Whether a process with this pid runs on this host (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def safe_torch_load(path: str | Path, map_location: Any = "cpu") -> Any:
    """Load a checkpoint without running pickled code; a clear error for truncated or foreign files."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise UserError(f"checkpoint '{path}' is a folder, not a checkpoint file; pass a file such as "
                        f"'{path / 'checkpoints' / 'last.pt'}'")
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for corrupt/unsafe files
        detail = "the file is empty" if path.stat().st_size == 0 else (str(error).splitlines() or [repr(error)])[0]
        raise UserError(
            f"checkpoint '{path}' cannot be loaded safely (truncated, not a skingan checkpoint, "
            f"or it holds arbitrary Python objects): {detail[:200]}"
        ) from error


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete temporary files an interrupted process left behind; return how many."""
    count = 0
    folder = Path(folder)
    if folder.is_dir():
        for tmp in folder.rglob(f"{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                count += 1
    return count


def seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def resolve_device(name: str = "auto") -> str:
    """'auto' → cuda, mps or cpu; an explicit device that is not present is a user error."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps: no Apple MPS device is available here; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {name!r}: accepted values are auto, cpu, cuda, mps")
    return name


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


_URL_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")


def redact_credentials(text: str) -> str:
    """Hide credentials written into a URL (http://user:token@host/...) before it reaches a message or a record."""
    return _URL_USERINFO.sub("***@", str(text))


def environment_record(*, seed: int | None, device: str | None, extra: dict | None = None) -> dict:
    """Versions, git commit, device, seed and command line: enough to say how a result was made."""
    import importlib.metadata as metadata

    versions = {}
    for package in ("skingan", "torch", "torchvision", "numpy", "pandas", "pillow", "albumentations",
                    "efficientnet_pytorch", "efficientnet-lite-pytorch", "piqa", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    record: dict[str, Any] = {
        "command_line": [Path(sys.argv[0]).name, *map(redact_credentials, sys.argv[1:])],
        "cwd": str(Path.cwd()),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": seed,
        "device": device,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "git_commit": git_commit(),
        "versions": versions,
    }
    try:
        import torch

        record["torch_threads"] = torch.get_num_threads()
        record["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            record["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:  # pragma: no cover
        pass
    if extra:
        record.update(extra)
    return record


def init_run_dir(out: str | Path, *, config: Any = None, seed: int | None = None, device: str | None = None,
                 resume: bool = False, extra: dict | None = None, marker: str = "config.yaml") -> Path:
    """Create (or reopen with `resume`) a run folder and describe it before any work starts.

    A folder that already holds a run is never silently overwritten: without `resume` it is an error.
    """
    from skingan.config import to_yaml

    out = Path(out)
    existing = out.is_dir() and (out / marker).exists()
    if existing and not resume:
        raise UserError(
            f"'{out}' already holds a run; pass --resume to continue it, or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    if config is not None:
        text = to_yaml(config) if not isinstance(config, dict) else _yaml_dump(config)
        if existing and resume and (out / "config.yaml").exists():
            atomic_write_text(out / "config.resumed.yaml", text)
        else:
            atomic_write_text(out / "config.yaml", text)
    name = "environment.json" if not (existing and resume) else f"environment.resume-{int(time.time())}.json"
    atomic_write_json(out / name, environment_record(seed=seed, device=device, extra=extra))
    attach_log_file(out / "log.txt")
    return out


def _yaml_dump(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


class RunLogHandler(logging.FileHandler):
    """The run folder's log.txt. When it cannot be written (a full disk), it says so in one line and stops,
    instead of logging's default of a traceback on stderr for every later message."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        logging.getLogger("skingan").removeHandler(self)
        with contextlib.suppress(OSError):
            self.close()
        print(f"skingan: warning: cannot write {self.baseFilename} ({error.strerror or error}); the log "
              "continues on the terminal only", file=sys.stderr)


def attach_log_file(path: Path) -> None:
    """Also write the `skingan` logger to `path` (appending, so resumed runs keep their history)."""
    logger = logging.getLogger("skingan")
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            logger.removeHandler(handler)
            handler.close()
    handler = RunLogHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
