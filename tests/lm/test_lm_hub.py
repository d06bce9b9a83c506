"""Pinned hub downloads through huggingface_hub, from a hub endpoint served on loopback by the test."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed (pip install 'kanbench[llm]')")

from kanbench.lm.resolve import HubModel, ModelChecksumError, download_model, resolve_model

REVISION = "0123456789abcdef0123456789abcdef01234567"
CONTENT = b"GGUF" + bytes(range(256)) * 4
SHA256 = hashlib.sha256(CONTENT).hexdigest()


class HubHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file at /{repo}/resolve/{revision}/{filename} the way the hub does, and counts downloads."""

    downloads = 0

    def do_HEAD(self):
        self._answer(send_body=False)

    def do_GET(self):
        self._answer(send_body=True)

    def _answer(self, send_body: bool):
        if self.path.split("?")[0] != f"/org/kanbench-digits/resolve/{REVISION}/digits.gguf":
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", REVISION)
        self.send_header("ETag", f'"{SHA256}"')
        self.send_header("Content-Length", str(len(CONTENT)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if send_body:
            type(self).downloads += 1
            self.wfile.write(CONTENT)

    def log_message(self, *args):
        pass


@pytest.fixture()
def hub_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    HubHandler.downloads = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_checks_sha256_and_caches(hub_endpoint, tmp_path):
    hub = HubModel("org/kanbench-digits", "digits.gguf", REVISION, SHA256, endpoint=hub_endpoint)
    first = download_model(hub, cache_dir=tmp_path)
    assert first.read_bytes() == CONTENT
    second = resolve_model(hub, dataset="digits", cache_dir=tmp_path)
    assert (second.path, second.source) == (first, "hub")
    assert HubHandler.downloads == 1


def test_download_rejects_wrong_sha256(hub_endpoint, tmp_path):
    wrong = "0" * 64
    hub = HubModel("org/kanbench-digits", "digits.gguf", REVISION, wrong, endpoint=hub_endpoint)
    with pytest.raises(ModelChecksumError, match=f"has SHA-256 {SHA256}, but {wrong} was pinned"):
        download_model(hub, cache_dir=tmp_path)


def test_revision_must_be_a_commit():
    with pytest.raises(ValueError, match="revision 'main' is not a 40-character commit hash"):
        HubModel("org/kanbench-digits", "digits.gguf", "main", SHA256)
    with pytest.raises(ValueError, match="sha256 'abc' is not 64 lowercase hex characters"):
        HubModel("org/kanbench-digits", "digits.gguf", REVISION, "abc")
