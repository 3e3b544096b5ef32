"""The running exchange: settings plus a migrated database, handed to every service."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from suanshu.core import migrate
from suanshu.core.db import Database
from suanshu.core.settings import Settings, load_settings
from suanshu.ledger.sequencer import Sequencer
from suanshu.ledger.server import LedgerClient
from suanshu.vault.store import LocalStore, RemoteStore, open_store

if TYPE_CHECKING:
    from suanshu.policy.sandbox import SandboxPool


@dataclass
class Exchange:
    settings: Settings
    db: Database
    _sequencers: dict[int, Sequencer | LedgerClient] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sandbox_pool: SandboxPool | None = field(default=None, repr=False)
    _vault: LocalStore | RemoteStore | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None, *, upgrade: bool = True) -> "Exchange":
        settings = settings or load_settings()
        vault = open_store(settings)  # a vault URL pyarrow refuses stops here, before any state is made
        settings.home.mkdir(parents=True, exist_ok=True)
        db = Database(settings)
        if upgrade:
            migrate.upgrade(db.engine)
        return cls(settings, db, _vault=vault)

    @property
    def sandboxes(self) -> SandboxPool:
        """Idle query sandboxes, reused across queries on the same component (see SandboxPool).
        Made on the first query: a process that runs none (most CLI commands) never imports
        DuckDB and the policy engine."""
        with self._lock:
            if self._sandbox_pool is None:
                from suanshu.policy.sandbox import SandboxPool

                self._sandbox_pool = SandboxPool()
            return self._sandbox_pool

    @property
    def vault(self) -> LocalStore | RemoteStore:
        """Where the vault files are (``vault.store``): every read and write of one goes through it."""
        with self._lock:
            if self._vault is None:
                self._vault = open_store(self.settings)
            return self._vault

    def sequencer(self, ledger: int) -> Sequencer | LedgerClient:
        """The single writer of ``ledger``: a writer thread in this process (started on first
        use), or, when ``settings.ledger_socket`` is set, a client of that ledger server."""
        with self._lock:
            if ledger not in self._sequencers:
                socket = self.settings.ledger_socket
                self._sequencers[ledger] = (
                    LedgerClient(socket, (self.settings.home / "ledger.key").read_bytes()) if socket
                    else Sequencer(self.db, name=str(ledger)))
            return self._sequencers[ledger]

    def close(self) -> None:
        for seq in self._sequencers.values():
            seq.close()
        if self._sandbox_pool is not None:
            self._sandbox_pool.close()
        self.db.dispose()
