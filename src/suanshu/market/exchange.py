"""The running exchange: settings plus a migrated database, handed to every service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suanshu.core import migrate
from suanshu.core.db import Database
from suanshu.core.settings import Settings, load_settings


@dataclass
class Exchange:
    settings: Settings
    db: Database

    @classmethod
    def open(cls, settings: Settings | None = None, *, upgrade: bool = True) -> "Exchange":
        settings = settings or load_settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        db = Database(settings)
        if upgrade:
            migrate.upgrade(db.engine)
        return cls(settings, db)

    def vault_file(self, relative: str) -> Path:
        return self.settings.vault_root / relative

    def close(self) -> None:
        self.db.dispose()
