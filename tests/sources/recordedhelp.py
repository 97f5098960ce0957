"""Replay recorded forge answers from ``tests/fixtures/recorded/<forge>/`` on a real socket.

A corpus is ``exchanges.json``: a list of exchanges, each a request pattern and the answers
the forge gave to it, in order (a 503 then a 200; the last answer repeats)::

    {"method": "GET", "path": "/repos/o/r/pulls", "query": {"page": "2"},
     "responses": [{"status": 503, "text": "..."},
                   {"status": 200, "headers": {"link": "<{base}/...>; rel=\\"next\\""},
                    "body": "pulls-page2.json"}]}

``query`` (and, for GraphQL, ``graphql``: operation name + a subset of the variables) must
match; among the exchanges that match, a test's own (``extra``) wins, then the one naming the
most parameters. ``body`` names
a JSON file next to ``exchanges.json``, sent byte for byte; ``text`` is sent as is (a truncated
body, an HTML page). ``{base}`` in bodies and headers becomes the replay server's URL, so the
next-page links the forge sent lead back to the replay. A request nothing matches gets a 404
and is listed in ``Replay.unmatched`` (tests assert it stays empty).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from forgelens.testing.forge_sim import serve
from tests.sources.forgehelp import source_for

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Replay:
    """An ASGI app answering from one forge's recorded exchanges."""

    def __init__(self, forge: str, extra: list[dict[str, Any]] | None = None) -> None:
        self.root = RECORDED / forge
        exchanges = json.loads((self.root / "exchanges.json").read_text(encoding="utf-8"))
        # ``extra`` exchanges (a test's odd page) take precedence over the recorded ones
        self.exchanges: list[dict[str, Any]] = [*(extra or []), *exchanges]
        self.extra = len(extra or [])
        self.served: dict[int, int] = {}
        self.log: list[tuple[str, str, dict[str, str], int]] = []
        self.unmatched: list[str] = []
        self._lock = threading.Lock()

    def hits(self, path: str, **query: str) -> int:
        """Requests sent to ``path`` whose query holds ``query``."""
        return sum(
            1
            for _, p, q, _ in self.log
            if p == path and all(q.get(k) == v for k, v in query.items())
        )

    def _match(self, method: str, path: str, query: dict[str, str], payload: Any) -> int | None:
        best, best_score = None, -1
        for i, ex in enumerate(self.exchanges):
            if ex.get("method", "GET") != method or ex["path"] != path:
                continue
            want = ex.get("query") or {}
            if any(query.get(k) != str(v) for k, v in want.items()):
                continue
            score = len(want)
            gq = ex.get("graphql")
            if gq is not None:
                if not isinstance(payload, dict) or payload.get("operationName") != gq["operation"]:
                    continue
                variables = payload.get("variables") or {}
                expected = gq.get("variables") or {}
                if any(variables.get(k) != v for k, v in expected.items()):
                    continue
                score += 1 + len(expected)
            if i < self.extra:
                score += 1000  # a test's own exchange wins over every recorded one
            if score > best_score:
                best, best_score = i, score
        return best

    def _answer(
        self, method: str, path: str, query: dict[str, str], payload: Any, base: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        with self._lock:
            index = self._match(method, path, query, payload)
            if index is None:
                self.unmatched.append(f"{method} {path} {query} {payload and str(payload)[:120]}")
                self.log.append((method, path, query, 404))
                body = b'{"message": "Not Found (not recorded)"}'
                return 404, [(b"content-type", b"application/json")], body
            answers = self.exchanges[index]["responses"]
            n = self.served.get(index, 0)
            self.served[index] = n + 1
            answer = answers[min(n, len(answers) - 1)]
        status = int(answer.get("status", 200))
        self.log.append((method, path, query, status))
        if "body" in answer:
            text = (self.root / answer["body"]).read_text(encoding="utf-8")
        else:
            text = str(answer.get("text", ""))
        content = text.replace("{base}", base).encode("utf-8")
        headers = {"content-type": "application/json; charset=utf-8"}
        headers |= {
            k.lower(): str(v).replace("{base}", base) for k, v in answer.get("headers", {}).items()
        }
        return status, [(k.encode(), v.encode()) for k, v in headers.items()], content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        raw = b"".join(chunks)
        payload = json.loads(raw) if raw else None
        query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode()
        status, headers, content = self._answer(
            scope["method"], scope["path"], query, payload, f"http://{host}"
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


@contextmanager
def replayed(
    forge: str, kind: str, extra: list[dict[str, Any]] | None = None, **options: Any
) -> Iterator[tuple[Any, Replay]]:
    """The real source of ``kind`` pointed at a replay of ``forge``'s corpus."""
    replay = Replay(forge, extra)
    with serve(replay) as url, source_for(kind, url, **options) as source:
        yield source, replay
