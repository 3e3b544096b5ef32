"""Where state lives and how the exchange is tuned, from the environment.

``SUANSHU_HOME`` (default ``~/.suanshu``) holds ``suanshu.db`` (SQLite, WAL),
``vaults/<org>/<asset>.parquet`` and ``secret.key``. ``SUANSHU_DATABASE_URL``
moves state to PostgreSQL (``postgresql://user@host/db``); ``SUANSHU_VAULT_URL``
moves the vault files to an S3-compatible object store (``s3://bucket/prefix?…``)
or a shared mount (``file:///path``), so API workers on several hosts share them.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from suanshu.core.errors import UsageError

DEFAULT_COMMISSION_BPS = 1000  # 10 % operator commission


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    commission_bps: int = DEFAULT_COMMISSION_BPS
    query_timeout_s: float = 30.0
    query_memory_limit: str = "1GB"
    max_result_rows: int = 10_000
    checkpoint_seconds: float = 60.0  # signed audit checkpoints while serving (SUANSHU_CHECKPOINT_SECONDS)
    # A running `suanshu ledger serve` to send ledger writes to, instead of a writer thread in
    # this process (SUANSHU_LEDGER_SOCKET; its key is ledger.key in the data dir).
    ledger_socket: Path | None = None
    # Worker processes for each scan of an upload or a listing (SUANSHU_SCAN_WORKERS; None: every
    # usable core): an operator caps it so uploads leave cores to queries.
    scan_workers: int | None = None
    # Where vault files are kept (SUANSHU_VAULT_URL, checked by ``vault_url``): None is the data
    # dir's vaults/ (``vault_root``); else an s3:// or file:// URL (``suanshu.vault.store``).
    vault_url: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def vault_root(self) -> Path:
        return self.home / "vaults"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_key(self) -> bytes:
        """The per-exchange secret for keyed hashing; created on first use, never leaves the data dir."""
        path = self.home / "secret.key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(secrets.token_bytes(32))
            tmp.chmod(0o600)
            os.replace(tmp, path)
        return path.read_bytes()


def normalize_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_settings(home: str | os.PathLike | None = None, database_url: str | None = None) -> Settings:
    root = Path(home or os.environ.get("SUANSHU_HOME") or Path.home() / ".suanshu").expanduser()
    url = database_url or os.environ.get("SUANSHU_DATABASE_URL") or f"sqlite:///{root / 'suanshu.db'}"
    bps = int(os.environ.get("SUANSHU_COMMISSION_BPS", DEFAULT_COMMISSION_BPS))
    every = float(os.environ.get("SUANSHU_CHECKPOINT_SECONDS", 60))
    socket = os.environ.get("SUANSHU_LEDGER_SOCKET")
    return Settings(home=root.resolve(), database_url=normalize_database_url(url), commission_bps=bps,
                    checkpoint_seconds=every, ledger_socket=Path(socket) if socket else None,
                    scan_workers=_positive("SUANSHU_SCAN_WORKERS"),
                    vault_url=vault_url(os.environ.get("SUANSHU_VAULT_URL", "")))


def vault_url(raw: str) -> str | None:
    """``SUANSHU_VAULT_URL`` checked for its shape (None when unset: the data dir's vaults/).
    ``s3://bucket[/prefix]?region=…`` or ``?endpoint_override=host:port[&scheme=http]`` (an
    S3-compatible store; one of the two is required, so opening the store asks nothing of the
    network), credentials from the standard AWS_* variables, never the URL; ``file:///abs/path``
    (a shared mount). The option names themselves are pyarrow's, checked when the store opens."""
    raw = raw.strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    options = parse_qs(parts.query, keep_blank_values=True)

    def bad(why: str) -> UsageError:
        return UsageError("settings.bad_vault_url", f"SUANSHU_VAULT_URL={raw!r}: {why}")

    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query:
            raise bad("write a shared directory as file:///absolute/path (no host, no options)")
    elif parts.scheme == "s3":
        if parts.username or parts.password or "@" in parts.netloc:
            raise bad("credentials go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, not in the URL")
        if not parts.hostname:
            raise bad("name the bucket: s3://bucket/prefix")
        if any(len(v) != 1 or not v[0] for v in options.values()):
            raise bad("give each option once, with a value")
        if not {"region", "endpoint_override"} & options.keys():
            raise bad("add ?region=… (AWS) or ?endpoint_override=host:port (another S3-compatible store)")
        if options.get("scheme", ["https"])[0] not in ("http", "https"):
            raise bad("scheme is http or https")
    else:
        raise bad("expected s3://bucket/prefix?… or file:///path")
    return raw


def _positive(name: str) -> int | None:
    """A whole number of at least 1 from the environment, or None when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError("settings.bad_value", f"{name}={raw!r}: expected a whole number of at least 1")
    return int(raw)
