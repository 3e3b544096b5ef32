"""Signed checkpoints of the audit tree (Ed25519), kept in the database *and* outside it.

A checkpoint says "the log had ``tree_size`` entries with Merkle root ``root`` at ``time``",
signed with the exchange's Ed25519 key (``SUANSHU_HOME/audit-signing.key``, 0600; the public
half in ``audit-signing.pub``). The signed message is the UTF-8 text

    suanshu-audit-checkpoint/v1
    <tree_size>
    <root, 64 hex>
    <time, UTC ISO-8601>

(one field per line, each ending with a newline), in the spirit of RFC 9162's signed tree
heads. Every checkpoint is also appended to ``SUANSHU_HOME/audit/checkpoints.jsonl``; copy that
file (or ``suanshu audit export-checkpoints``) anywhere: a log rewritten or truncated after a
checkpoint no longer matches it, whatever happens to the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import log
from suanshu.audit.models import AuditCheckpoint
from suanshu.core.clock import iso, utcnow

HEADER = "suanshu-audit-checkpoint/v1"
KEY_FILE, PUB_FILE = "audit-signing.key", "audit-signing.pub"


def export_path(home: Path) -> Path:
    return home / "audit" / "checkpoints.jsonl"


# --------------------------------------------------------------------------- keys

def signing_key(home: Path) -> Ed25519PrivateKey:
    """The exchange's checkpoint key, created on first use (private key never leaves the data dir)."""
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        tmp.chmod(0o600)
        os.replace(tmp, path)
        (home / PUB_FILE).write_text(public_hex(key.public_key()) + "\n")
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def key_id(public: str) -> str:
    return hashlib.sha256(bytes.fromhex(public)).hexdigest()[:16]


def public_key(home: Path) -> str:
    return public_hex(signing_key(home).public_key())


# --------------------------------------------------------------------------- checkpoints

@dataclass(frozen=True)
class SignedCheckpoint:
    tree_size: int
    root: str
    time: str
    key_id: str
    signature: str

    def message(self) -> bytes:
        return message(self.tree_size, self.root, self.time)

    def to_dict(self) -> dict:
        return asdict(self)


def message(tree_size: int, root: str, time: str) -> bytes:
    return f"{HEADER}\n{tree_size}\n{root}\n{time}\n".encode()


def check_signature(cp: SignedCheckpoint, public: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(bytes.fromhex(cp.signature), cp.message())
        return cp.key_id == key_id(public)
    except (InvalidSignature, ValueError):
        return False


def _row(cp: AuditCheckpoint) -> SignedCheckpoint:
    return SignedCheckpoint(cp.tree_size, cp.root, iso(cp.time), cp.key_id, cp.signature)


def create(session: Session, home: Path) -> tuple[SignedCheckpoint, bool]:
    """Sign the current tree head; returns (checkpoint, is_new). No new checkpoint if the tree
    has not grown since the last one. The caller commits, then calls ``export``."""
    tree = log.head(session)
    last = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    if last is not None and last.tree_size == tree.size:
        return _row(last), False
    key = signing_key(home)
    now = utcnow()
    text = iso(now)
    sig = key.sign(message(tree.size, tree.root, text)).hex()
    row = AuditCheckpoint(tree_size=tree.size, root=tree.root, time=now,
                          key_id=key_id(public_hex(key.public_key())), signature=sig)
    session.add(row)
    session.flush()
    return SignedCheckpoint(tree.size, tree.root, text, row.key_id, sig), True


def export(cp: SignedCheckpoint, home: Path) -> None:
    """Append to the JSON lines file outside the database (fsync'd: it is the evidence)."""
    path = export_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(cp.to_dict(), sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def checkpoint(db, home: Path) -> SignedCheckpoint:
    """Write a checkpoint now (``suanshu audit checkpoint``) and export it."""
    with db.transaction() as s:
        cp, new = create(s, home)
    if new:
        export(cp, home)
    return cp


def stored(session: Session) -> list[SignedCheckpoint]:
    return [_row(c) for c in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size))]


def read_jsonl(path: Path) -> list[SignedCheckpoint]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(SignedCheckpoint(int(d["tree_size"]), d["root"], d["time"], d["key_id"], d["signature"]))
    return out


def verify(session: Session, home: Path, extra: Iterable[SignedCheckpoint] = (),
           public: str | None = None) -> log.Verification:
    """Verify the log against every checkpoint: those in the database, the exported file and
    ``extra``. Signatures first; then ``log.verify`` recomputes chain, leaves, roots and the
    consistency of each checkpoint with the one before."""
    public = public or public_key(home)
    seen: dict[int, SignedCheckpoint] = {}
    for cp in [*stored(session), *read_jsonl(export_path(home)), *extra]:
        if not check_signature(cp, public):
            return log.Verification(False, 0, "", None, f"checkpoint at size {cp.tree_size} has a bad signature")
        other = seen.setdefault(cp.tree_size, cp)
        if other.root != cp.root:
            return log.Verification(False, 0, "", cp.tree_size,
                                    f"two signed checkpoints at size {cp.tree_size} disagree on the root")
    return log.verify(session, [log.Checkpoint(c.tree_size, c.root) for c in seen.values()])


# --------------------------------------------------------------------------- every N seconds

class Checkpointer:
    """A daemon thread that checkpoints every ``interval`` seconds while the server runs."""

    def __init__(self, db, home: Path, interval: float):
        self.db, self.home, self.interval = db, home, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audit-checkpointer", daemon=True)

    def start(self) -> "Checkpointer":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                checkpoint(self.db, self.home)
            except Exception:  # noqa: BLE001 — keep checkpointing; the next tick retries
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        checkpoint(self.db, self.home)  # a last one on shutdown
