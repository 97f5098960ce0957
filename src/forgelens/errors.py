"""The forgelens exception tree.

Every failure a user can act on has its own class, and every message says what to do::

    ForgelensError
    ├── BadInput            the command line, a file or a payload is not what we accept
    │   └── NotARepository  a path or URL that is not a git repository
    ├── AuthError           a forge rejected the credentials
    ├── NotFound            a repository/project does not exist or the token cannot see it
    ├── RateLimited         the forge's budget is spent and waiting was not allowed
    ├── ForgeError          a forge answer we cannot use (5xx after retries, HTML pages)
    ├── SourceError         a local source (git) failed
    ├── StoreError          the store cannot be opened, migrated or written
    │   └── StoreLocked     another process holds the embedded store
    └── Interrupted         the user stopped the run (Ctrl-C, SIGTERM)

Third-party exceptions are translated once, at the boundary where they occur, with
``raise ... from exc``. The CLI maps each class to an exit code (``exit_code``).
"""

from __future__ import annotations


class ForgelensError(Exception):
    """Root of every error forgelens raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(ForgelensError):
    exit_code = 2


class NotARepository(BadInput):
    pass


class AuthError(ForgelensError):
    exit_code = 3


class NotFound(ForgelensError):
    exit_code = 4


class RateLimited(ForgelensError):
    exit_code = 5

    def __init__(self, message: str, reset_at: float | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class ForgeError(ForgelensError):
    exit_code = 6


class SourceError(ForgelensError):
    exit_code = 7


class StoreError(ForgelensError):
    exit_code = 8


class StoreLocked(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The store cannot be reached just now (refused, reset, restarting): worth a retry."""


class Interrupted(ForgelensError):
    exit_code = 130
