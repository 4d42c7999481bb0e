"""A faithful local mock of ISIC Archive API v2 (127.0.0.1 only), serving real ISIC image bytes.

What it copies from the real server (see docs/isic-api.md in the shared docs): cursor paging ordered by creation
time, `count` only on page 1, `limit` clamped to 100, absolute `next` URLs with sorted query parameters, 400 on
unknown (or removed) search fields, 422 on a bad cursor, 404 for unknown collections and images, the size
endpoint, licence files, and file URLs with Content-Length, HEAD and Range (206 / 416).

Fault injection for the client's reliability tests: 429 with Retry-After, 503, truncated bodies, connections
dropped before or during a body, permanently missing files, hostile records, latency and slow bodies.

Records come in two schemas: "current" (diagnosis_1..5, anatom_site_1) and "legacy" (benign_malignant,
diagnosis, anatom_site_general — the 2022-2024 records).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

LICENCE_TEXT = {
    "CC-0": "CC0 1.0 Universal\n\nTo the extent possible under law, the person who associated CC0 ...\n",
    "CC-BY": "Attribution 4.0 International (CC BY 4.0)\n\nYou are free to share and adapt ...\n",
    "CC-BY-NC": "Attribution-NonCommercial 4.0 International (CC BY-NC 4.0)\n\nNonCommercial ...\n",
}
SYNTHETIC_ATTRIBUTIONS = (
    ("ISIC 2017 challenge (re-served by the skingan mock)", "CC-BY-NC"),
    ("Memorial Sloan Kettering Cancer Center (mock)", "CC-BY"),
    ("Anonymous", "CC-0"),
)
COLLECTIONS = {60: "Challenge 2017: Training", 69: "Challenge 2017: Test", 71: "Challenge 2017: Validation",
               292: "UDA-1"}
CURRENT_FIELDS = {"isic_id", "copyright_license", "attribution", "public", "image_type", "age_approx", "sex",
                  "anatom_site_1", "diagnosis_1", "diagnosis_2", "diagnosis_3", "diagnosis_confirm_type",
                  "melanocytic", "lesion_id", "patient_id", "pixels_x", "pixels_y"}
LEGACY_FIELDS = {"isic_id", "copyright_license", "attribution", "public", "image_type", "age_approx", "sex",
                 "anatom_site_general", "benign_malignant", "diagnosis", "diagnosis_confirm_type",
                 "melanocytic", "pixels_x", "pixels_y"}


@dataclass
class MockImage:
    isic_id: str
    created: int
    record: dict  # the v2 record without "files"
    full: bytes
    thumbnail: bytes
    extension: str = ".jpg"
    collections: tuple[int, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.full).hexdigest()


@dataclass
class Faults:
    """Per-file lists of faults served in order on successive GETs, then normal answers."""

    # isic_id → faults for its next GETs: "429", "503", "truncate", "drop", "drop-headers", "short-206"
    file_faults: dict[str, list[str]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # permanent 404
    search_faults: list[str] = field(default_factory=list)  # faults for the next search requests
    retry_after: str = "1"
    latency: float = 0.0  # seconds before every answer
    body_delay: float = 0.0  # seconds between 16 kB chunks of a file body
    range_support: bool = True


# ------------------------------------------------------------------------------------------ building records
def _thumbnail(data: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (256, 256))
    image = image.convert("RGB")
    image.thumbnail((256, 256))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@lru_cache(maxsize=4)
def _fullres_images(folder: str) -> tuple[tuple[str, dict, bytes, bytes], ...]:
    root = Path(folder)
    items = []
    for json_path in sorted((root / "isic_json").glob("ISIC_*.json")):
        v1 = json.loads(json_path.read_text())
        data = (root / "images" / f"{v1['name']}.jpg").read_bytes()
        items.append((v1["name"], v1, data, _thumbnail(data)))
    return tuple(items)


@lru_cache(maxsize=4)
def _small_images(folder: str) -> tuple[tuple[str, str, bytes], ...]:
    import csv

    root = Path(folder)
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return tuple((row["isic_id"], row.get("split", ""), (root / row["image"]).read_bytes()) for row in rows)


def _clinical(v1: dict, schema: str) -> dict:
    clinical = dict(v1["meta"].get("clinical", {}))
    malignant = clinical.get("benign_malignant") == "malignant"
    out: dict[str, Any] = {k: v for k, v in clinical.items() if v is not None and k in
                           ("age_approx", "sex", "diagnosis_confirm_type", "melanocytic")}
    if schema == "legacy":
        for key in ("benign_malignant", "diagnosis"):
            if clinical.get(key) is not None:
                out[key] = clinical[key]
        out["anatom_site_general"] = "anterior torso"
    else:
        out["diagnosis_1"] = "Malignant" if malignant else "Benign"
        if clinical.get("diagnosis") == "melanoma":
            out["diagnosis_2"] = "Malignant melanocytic proliferations (Melanoma)"
            out["diagnosis_3"] = "Melanoma, NOS"
        elif clinical.get("diagnosis") == "nevus":
            out["diagnosis_2"] = "Benign melanocytic proliferations"
            out["diagnosis_3"] = "Nevus"
        out["anatom_site_1"] = "Trunk"
    return out


def _acquisition(v1: dict) -> dict:
    acquisition = v1["meta"].get("acquisition", {})
    out = {"image_type": acquisition.get("image_type", "dermoscopic")}
    if "pixelsX" in acquisition:
        out["pixels_x"], out["pixels_y"] = acquisition["pixelsX"], acquisition["pixelsY"]
    return out


def build_images(shared_data: Path, n: int | None = None, schema: str = "current") -> list[MockImage]:
    """The 40 real full-resolution UDA-1 images first, then 256-px ISIC 2017 images under synthetic ids."""
    images: list[MockImage] = []
    for isic_id, v1, full, thumb in _fullres_images(str(shared_data / "isic-archive-fullres")):
        record = {"isic_id": isic_id, "public": True, "copyright_license": "CC-0", "attribution": "Anonymous",
                  "metadata": {"acquisition": _acquisition(v1), "clinical": _clinical(v1, schema)}}
        images.append(MockImage(isic_id, len(images), record, full, thumb, collections=(292,)))
    n = len(images) if n is None else n
    small = _small_images(str(shared_data / "isic2017-256")) if n > len(images) else ()
    k = 0
    while len(images) < n:
        source_id, split, data = small[k % len(small)]
        attribution, licence = SYNTHETIC_ATTRIBUTIONS[k % len(SYNTHETIC_ATTRIBUTIONS)]
        malignant = k % 3 == 0
        clinical: dict[str, Any] = {"age_approx": 30 + 5 * (k % 10), "sex": ("female", "male")[k % 2],
                                    "patient_id": f"IP_{1000000 + k // 2:07d}", "lesion_id": f"IL_{1000000 + k:07d}"}
        if schema == "legacy":
            clinical.update(benign_malignant="malignant" if malignant else "benign",
                            diagnosis="melanoma" if malignant else "nevus")
        else:
            clinical.update(diagnosis_1="Malignant" if malignant else "Benign")
        if k % 4 == 1:
            clinical["clin_size_long_diam_mm"] = "4.5"  # decimals may arrive as strings
        record = {"isic_id": f"ISIC_9{k:06d}", "public": True, "copyright_license": licence,
                  "attribution": attribution,
                  "metadata": {"acquisition": {"image_type": "dermoscopic", "pixels_x": 256, "pixels_y": 256},
                               "clinical": clinical}}
        collection = {"train": 60, "val": 71, "test": 69}.get(split, 60)
        images.append(MockImage(record["isic_id"], len(images), record, data, data, collections=(collection,)))
        k += 1
    return images[:n]


# ---------------------------------------------------------------------------------------------- the search
def _split_terms(query: str) -> list[str]:
    return [t for t in re.split(r"\s+AND\s+", query.strip()) if t]


def _term_matches(term: str, fields: dict) -> bool:
    negate = term.startswith("-")
    name, _, value = term.lstrip("-").partition(":")
    value = value.strip().strip('"')
    actual = fields.get(name)
    if value.endswith("*"):
        hit = actual is not None and str(actual).startswith(value[:-1])
    else:
        hit = actual is not None and str(actual).lower() == value.lower()
    return hit != negate


def parse_query(query: str, known: set[str]) -> list[str] | None:
    """`field:value AND ...` terms; None when a field is unknown (the server answers 400)."""
    terms = _split_terms(query)
    for term in terms:
        name, colon, _ = term.lstrip("-").partition(":")
        if not colon or name not in known:
            return None
    return terms


def _fields(image: MockImage) -> dict:
    flat = {k: v for k, v in image.record.items() if k != "metadata"}
    for section in image.record["metadata"].values():
        flat.update(section)
    return flat


def _encode_cursor(created: int) -> str:
    return base64.urlsafe_b64encode(f"p={created}".encode()).decode()


def _decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        return int(text.removeprefix("p=")) if text.startswith("p=") else None
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------------------------- the server
class MockIsicServer:
    """`with MockIsicServer(images) as server:` → `server.api_url` ('http://127.0.0.1:PORT/api/v2/')."""

    def __init__(self, images: list[MockImage], faults: Faults | None = None, schema: str = "current",
                 extra_records: list[dict] | None = None):
        self.images = sorted(images, key=lambda im: im.created)
        self.by_id = {im.isic_id: im for im in self.images}
        self.faults = faults or Faults()
        self.schema = schema
        self.extra_records = extra_records or []  # raw (possibly hostile) records appended to every search
        self.log: list[tuple[str, str, dict, int]] = []  # (method, path, request headers, status)
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v2/"

    def __enter__(self) -> MockIsicServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def file_url(self, image: MockImage, kind: str) -> str:
        if kind == "thumbnail_256":
            return f"{self.base}/files/thumbnails/{image.isic_id}_thumbnail.jpg"
        return f"{self.base}/files/images/{image.isic_id}{image.extension}"

    def full_record(self, image: MockImage) -> dict:
        return {**image.record, "files": {
            "full": {"url": self.file_url(image, "full"), "size": len(image.full)},
            "thumbnail_256": {"url": self.file_url(image, "thumbnail_256"), "size": len(image.thumbnail)}}}

    def requests_for(self, path_fragment: str) -> list[tuple[str, str, dict, int]]:
        with self.lock:
            return [entry for entry in self.log if path_fragment in entry[1]]

    def next_fault(self, key: str) -> str | None:
        with self.lock:
            queue = self.faults.search_faults if key == "search" else self.faults.file_faults.get(key)
            return queue.pop(0) if queue else None

    def matching(self, query: str, collections: list[int]) -> list[MockImage] | None:
        known = CURRENT_FIELDS if self.schema == "current" else LEGACY_FIELDS
        terms = parse_query(query, known)
        if terms is None:
            return None
        return [im for im in self.images
                if (not collections or set(collections) & set(im.collections))
                and all(_term_matches(t, _fields(im)) for t in terms)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers do; otherwise Nagle + delayed ACK add 40 ms

            def log_message(self, *args: Any) -> None:
                pass

            # --- plumbing
            def send(self, status: int, body: bytes, content_type: str = "application/json",
                     headers: dict | None = None) -> None:
                with server.lock:
                    server.log.append((self.command, self.path, dict(self.headers), status))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def send_json(self, status: int, obj: Any, headers: dict | None = None) -> None:
                self.send(status, json.dumps(obj).encode(), headers=headers)

            def fault(self, kind: str | None) -> bool:
                """Serve an injected status fault; True when the request was answered."""
                if kind == "429":
                    self.send_json(429, {"detail": "Too many requests"}, {"Retry-After": server.faults.retry_after})
                elif kind == "503":
                    self.send_json(503, {"detail": "Service unavailable"})
                elif kind == "drop-headers":
                    with server.lock:
                        server.log.append((self.command, self.path, dict(self.headers), 0))
                    self.close_connection = True
                    self.connection.shutdown(2)
                else:
                    return False
                return True

            # --- routes
            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                if server.faults.latency:
                    time.sleep(server.faults.latency)
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                path = parts.path
                if path.startswith("/files/"):
                    return self.serve_file(path)
                if not path.startswith("/api/v2/"):
                    return self.send_json(404, {"detail": "Not Found"})
                route = path[len("/api/v2/"):]
                if route in ("images/search/", "images/"):
                    if self.fault(server.next_fault("search")):
                        return None
                    return self.search(params)
                if route == "images/search/size/":
                    found = server.matching(params.get("query", ""), _ints(params.get("collections", "")))
                    if found is None:
                        return self.send_json(400, {"message": "Could not parse search query."})
                    return self.send_json(200, {"size": sum(len(im.full) for im in found)})
                match = re.fullmatch(r"images/([^/]+)/", route)
                if match:
                    image = server.by_id.get(match.group(1))
                    return (self.send_json(200, server.full_record(image)) if image
                            else self.send_json(404, {"detail": "Not Found"}))
                match = re.fullmatch(r"collections/(\d+)/", route)
                if match:
                    cid = int(match.group(1))
                    if cid not in COLLECTIONS:
                        return self.send_json(404, {"detail": "Not Found"})
                    return self.send_json(200, {"id": cid, "name": COLLECTIONS[cid], "public": True})
                match = re.fullmatch(r"zip-download/license-file/([^/]+)/", route)
                if match and match.group(1) in LICENCE_TEXT:
                    return self.send(200, LICENCE_TEXT[match.group(1)].encode(), "text/plain; charset=utf-8")
                return self.send_json(404, {"detail": "Not Found"})

            def search(self, params: dict) -> None:
                if params.get("query") is not None and not isinstance(params.get("query"), str):
                    return self.send_json(400, {"message": "Could not parse search query."})
                collections = _ints(params.get("collections", ""))
                found = server.matching(params.get("query", ""), collections)
                if found is None:
                    return self.send_json(400, {"message": "Could not parse search query."})
                try:
                    limit = max(1, min(100, int(params.get("limit", "100") or 100)))
                except ValueError:
                    return self.send_json(400, {"limit": ["A valid integer is required."]})
                after = -1
                if params.get("cursor"):
                    decoded = _decode_cursor(params["cursor"])
                    if decoded is None:
                        return self.send_json(422, {"detail": "Invalid cursor"})
                    after = decoded
                rest = [im for im in found if im.created > after]
                page = rest[:limit]
                results = [server.full_record(im) for im in page]
                if after < 0:
                    results += server.extra_records  # hostile records, on the first page
                next_url = None
                if len(rest) > limit:
                    query = {k: v for k, v in params.items() if k != "cursor"}
                    query["cursor"] = _encode_cursor(page[-1].created)
                    query["limit"] = str(limit)
                    next_url = f"{server.base}{self.path.split('?')[0]}?" + urlencode(sorted(query.items()),
                                                                                          quote_via=quote)
                return self.send_json(200, {"count": len(found) if after < 0 else None,
                                            "next": next_url, "previous": None, "results": results})

            def serve_file(self, path: str) -> None:
                match = re.fullmatch(r"/files/(images|thumbnails)/(ISIC_\d{7})(_thumbnail)?(\.\w+)", path)
                image = server.by_id.get(match.group(2)) if match else None
                if image is None or image.isic_id in server.faults.missing:
                    return self.send_json(404, {"detail": "Not Found"})
                data = image.thumbnail if match.group(1) == "thumbnails" else image.full
                kind = server.next_fault(image.isic_id) if self.command == "GET" else None
                if self.fault(kind):
                    return None
                start = 0
                range_header = self.headers.get("Range")
                status, headers = 200, {"Accept-Ranges": "bytes" if server.faults.range_support else "none"}
                if range_header and server.faults.range_support:
                    m = re.fullmatch(r"bytes=(\d+)-", range_header.strip())
                    if not m or int(m.group(1)) >= len(data):
                        return self.send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                    start = int(m.group(1))
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                body = data[start:]
                if kind == "short-206" and status == 206:  # Content-Length agrees with a body cut short
                    body = body[:len(body) // 2]
                with server.lock:
                    server.log.append((self.command, self.path, dict(self.headers), status))
                self.send_response(status)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return None
                if kind in ("truncate", "drop"):
                    # truncate: half the promised body then close; drop: the connection dies after a few bytes
                    cut = len(body) // 2 if kind == "truncate" else min(len(body) - 1, 1000)
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                self.write_body(body)
                return None

            def write_body(self, body: bytes) -> None:
                if not server.faults.body_delay:
                    self.wfile.write(body)
                    return
                for offset in range(0, len(body), 16384):
                    self.wfile.write(body[offset:offset + 16384])
                    self.wfile.flush()
                    time.sleep(server.faults.body_delay)

        return Handler


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def serve_forever(shared_data: Path, n: int, latency: float, port_file: Path | None = None) -> None:
    """For manual runs: `python tests/isic_mock_server.py N` prints the API URL and serves until Ctrl-C."""
    with MockIsicServer(build_images(shared_data, n), Faults(latency=latency)) as server:
        print(server.api_url, flush=True)
        if port_file:
            port_file.write_text(server.api_url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    import sys

    here = Path(__file__).resolve().parents[1]
    serve_forever(here.parent / "shared" / "data", int(sys.argv[1]) if len(sys.argv) > 1 else 40,
                  float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
