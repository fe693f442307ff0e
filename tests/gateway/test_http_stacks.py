"""The gateway process has one HTTP client, its own: neither aiohttp nor httpx is imported by it.

A child process installs an import hook, builds the gateway app with a chat model and an embedding model on
a loopback upstream (vectors on, local Qdrant), runs a chat request that asks for retrieval (so the question
is embedded on the way) straight through ASGI, and reports which modules imported aiohttp or httpx.
qdrant-client brings httpx for its REST mode (and ``vectors/store.py`` names its error type to translate
qdrant-client's failures); nothing else may.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

_CHILD = textwrap.dedent(
    r"""
    import asyncio, json, sys

    importers = {"aiohttp": [], "httpx": []}

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name in importers:
                frame = sys._getframe(1)
                while frame is not None and (
                    "importlib" in frame.f_code.co_filename or frame.f_code.co_filename.startswith("<frozen")
                ):
                    frame = frame.f_back
                importers[name].append(frame.f_globals.get("__name__", "?") if frame else "?")
            return None

    sys.meta_path.insert(0, Watch())

    COMPLETION = {"id": "c", "object": "chat.completion", "model": "chat", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    ANSWERS = {
        "/health": {"status": "ok"},
        "/v1/models": {"data": [{"id": "emb", "dimensions": 2}]},
        "/v1/embeddings": {"data": [{"index": 0, "embedding": [0.6, 0.8]}]},
        "/v1/chat/completions": COMPLETION,
    }
    seen = []

    async def upstream(reader, writer):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split()[1]
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
            await reader.readexactly(length)
            seen.append(path)
            body = json.dumps(ANSWERS[path]).encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                         % len(body) + body)
            await writer.drain()

    async def main(tmp):
        server = await asyncio.start_server(upstream, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        from citadel.config import CitadelSettings
        from citadel.gateway.app import create_gateway_app

        def model(name):
            return {"name": name, "backend": "remote", "url": base,
                    "replicas": [{"url": base}]}

        settings = CitadelSettings(
            data_dir=f"{tmp}/var", gateway={"port": 1, "health_interval_s": 3600},
            models=[model("chat"), model("emb")],
            vectors={"embedding_model": "emb", "path": f"{tmp}/vectors", "collections": ["docs"]},
        )
        app = create_gateway_app(settings)
        body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hello"}],
                           "citadel": {"retrieval": {"collection": "docs", "top_k": 1}}}).encode()
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
                 "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
        server.close()
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        print(json.dumps({"status": status, "seen": seen, "importers": importers}))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_the_gateway_process_imports_neither_aiohttp_nor_httpx_for_its_calls(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 200
    assert "/v1/embeddings" in report["seen"]  # the question was embedded, through the gateway's own client
    assert "/v1/chat/completions" in report["seen"]
    assert report["importers"]["aiohttp"] == []
    allowed = ("qdrant_client", "citadel.vectors.store")
    assert all(name.startswith(allowed) for name in report["importers"]["httpx"]), report["importers"]
