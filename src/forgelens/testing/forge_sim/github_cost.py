"""GitHub's GraphQL cost model, computed from the query document the client sent.

GitHub's documented rule ("Rate limits and node limits for the GraphQL API"): add up the
number of requests needed to fill every connection -- a connection asked for with ``first:``
or ``last:`` costs one request per node of the connections around it, i.e. the product of
its parents' ``first`` values (1 at the top) -- divide by 100 and round; a query costs at
least 1 point. The node limit is the same walk counting the nodes each connection may return
(its own ``first`` times its parents'): more than 500,000 and GitHub refuses the query.

    cost = query_cost(document, variables)     # QueryCost(requests=5101, points=51, nodes=...)

A field counts as a connection when it takes ``first`` or ``last`` (how GitHub paginates
every connection); a connection asked only for ``totalCount`` without either is not counted.
The parser reads the subset of GraphQL that queries use: aliases, arguments (literals,
``$variables``, objects, lists), directives, inline fragments. Named fragments are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NODE_LIMIT = 500_000
_TOKEN = re.compile(
    r'"""(?:.|\n)*?"""|"(?:[^"\\]|\\.)*"|\.\.\.|[-]?\d+(?:\.\d+)?|[A-Za-z_]\w*|[{}()\[\]:$!=@,]'
)


class QueryError(ValueError):
    """The document is not a query this parser can read."""


@dataclass
class _Field:
    name: str
    size: int | None  # first/last: a connection; None: a plain field
    children: list[_Field] = field(default_factory=list)


@dataclass(frozen=True)
class QueryCost:
    requests: int  # GitHub's "requests needed to fill every connection"
    points: int  # max(1, round(requests / 100))
    nodes: int  # the most nodes the query may return (node limit: 500,000)


def query_cost(document: str, variables: dict[str, Any] | None = None) -> QueryCost:
    """The cost GitHub charges ``document`` run with ``variables``."""
    fields = _Parser(document, variables or {}).document()
    requests, nodes = _walk(fields, 1)
    return QueryCost(requests, max(1, round(requests / 100)), nodes)


def _walk(fields: list[_Field], parents: int) -> tuple[int, int]:
    requests = nodes = 0
    for f in fields:
        if f.size is None:
            r, n = _walk(f.children, parents)
        else:
            r, n = _walk(f.children, parents * f.size)
            r, n = r + parents, n + parents * f.size
        requests, nodes = requests + r, nodes + n
    return requests, nodes


class _Parser:
    def __init__(self, document: str, variables: dict[str, Any]) -> None:
        self.tokens = [t for t in _TOKEN.findall(document) if t != ","]
        self.pos = 0
        self.vars = variables

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise QueryError(f"expected {expected or 'more'} at token {self.pos}, got {tok!r}")
        self.pos += 1
        return tok

    def document(self) -> list[_Field]:
        # ``query Name($a: Int!, ...) @dir { ... }`` or a bare ``{ ... }``
        while self.peek() not in ("{", None):
            if self.take() == "(":
                self._skip_until(")")
        return self.selection_set()

    def _skip_until(self, close: str) -> None:
        depth = 1
        opening = {")": "(", "}": "{", "]": "["}[close]
        while depth:
            tok = self.take()
            depth += (tok == opening) - (tok == close)

    def selection_set(self) -> list[_Field]:
        self.take("{")
        out: list[_Field] = []
        while self.peek() != "}":
            if self.peek() == "...":
                self.take()
                if self.peek() == "on":
                    self.take()
                    self.take()  # the type condition
                    self._directives()
                    out.extend(self.selection_set())
                else:
                    self.take()  # a named fragment spread: not read (see module doc)
                continue
            out.append(self.field())
        self.take("}")
        return out

    def field(self) -> _Field:
        name = self.take()
        if self.peek() == ":":  # alias: name
            self.take()
            name = self.take()
        size = self.arguments() if self.peek() == "(" else None
        self._directives()
        children = self.selection_set() if self.peek() == "{" else []
        return _Field(name, size, children)

    def _directives(self) -> None:
        while self.peek() == "@":
            self.take()
            self.take()
            if self.peek() == "(":
                self.take()
                self._skip_until(")")

    def arguments(self) -> int | None:
        """The connection size of ``(first: n, ...)`` / ``(last: n)``; None without either."""
        self.take("(")
        size: int | None = None
        while self.peek() != ")":
            arg = self.take()
            self.take(":")
            value = self.value()
            if arg in ("first", "last") and value is not None:
                size = _size(value, arg)
        self.take(")")
        return size

    def value(self) -> Any:
        tok = self.take()
        if tok == "$":
            return self.vars.get(self.take())
        if tok in ("{", "["):
            self._skip_until("}" if tok == "{" else "]")
            return None
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        return None if tok == "null" else tok


def _size(value: Any, arg: str) -> int:
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise QueryError(f"{arg}: {value!r} is not a number") from None
    if not 0 <= size <= 100:
        raise QueryError(f"{arg}: {size} is outside 1..100 (GitHub's bounds)")
    return size
