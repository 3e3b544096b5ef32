"""Errors with stable codes.

Every error a user can cause carries a dotted code (``vault.empty_file``) that
scripts may depend on, a message a person can act on, and a kind that adapters
map to an exit code (CLI) or an HTTP status (API).
"""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    USAGE = "usage"  # the request itself is malformed: CLI exit 2, HTTP 400/422
    REFUSED = "refused"  # well-formed but not allowed: CLI exit 3, HTTP 403/409
    NOT_FOUND = "not_found"  # CLI exit 3, HTTP 404
    AUTH = "auth"  # missing or bad credentials: CLI exit 3, HTTP 401
    INTERNAL = "internal"  # our fault: CLI exit 1, HTTP 500


EXIT_CODES = {Kind.USAGE: 2, Kind.REFUSED: 3, Kind.NOT_FOUND: 3, Kind.AUTH: 3, Kind.INTERNAL: 1}
HTTP_STATUS = {Kind.USAGE: 422, Kind.REFUSED: 403, Kind.NOT_FOUND: 404, Kind.AUTH: 401, Kind.INTERNAL: 500}


class SuanshuError(Exception):
    kind: Kind = Kind.INTERNAL

    def __init__(self, code: str, message: str, *, status: int | None = None, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self._status = status

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    @property
    def http_status(self) -> int:
        return self._status or HTTP_STATUS[self.kind]

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class UsageError(SuanshuError):
    kind = Kind.USAGE


class Refused(SuanshuError):
    kind = Kind.REFUSED


class NotFound(SuanshuError):
    kind = Kind.NOT_FOUND


class AuthError(SuanshuError):
    kind = Kind.AUTH


class Conflict(Refused):
    """A state conflict (already exists, wrong state): HTTP 409."""

    def __init__(self, code: str, message: str, **details):
        super().__init__(code, message, status=409, **details)


class Unavailable(SuanshuError):
    """A service the exchange depends on (the vault's object store) cannot be reached: HTTP 503,
    CLI exit 1. Nothing was done; the same request may succeed later."""

    def __init__(self, code: str, message: str, **details):
        super().__init__(code, message, status=503, **details)
