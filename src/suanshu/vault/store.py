"""Where vault files are kept: this host's file system, or an object store shared by many hosts.

``SUANSHU_VAULT_URL`` (``core.settings.vault_url``) picks the store:

- unset: ``<home>/vaults``, read in place (the embedded default);
- ``file:///path``: a directory shared by the hosts (an NFS or CephFS mount), read in place;
- ``s3://bucket/prefix?endpoint_override=host:port&scheme=http&region=…``: any S3-compatible
  store, through ``pyarrow.fs`` (credentials from the standard AWS_* variables). Each host keeps
  a private cache of the files it reads under ``<home>/vault-cache`` (0700).

The API is small: ``put(relative, local_file)`` takes a finished file (the vault never holds a
partial one: an S3 PUT replaces an object whole), ``local(relative, sha256)`` gives a local path
to read, ``delete(relative)`` removes a file, ``staging_dir(relative)`` is where to build one.

A downloaded or cached file is checked against the SHA-256 the catalog recorded for the asset
(``Asset.content_sha256``: of the Parquet file's bytes); one that differs is refused
(``vault.corrupt``) and its cache copy removed, so a repaired object is fetched again. A store
that cannot be reached is ``vault.unavailable`` (HTTP 503): nothing was done, try again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from suanshu.core.errors import SuanshuError, Unavailable, UsageError
from suanshu.core.settings import Settings

if TYPE_CHECKING:
    from pyarrow import fs as pafs

log = logging.getLogger(__name__)

CACHE_DIR = "vault-cache"  # in the data dir: this host's copies of files read from a remote store
CHUNK = 8 * 1024 * 1024  # bytes per read/write while copying to and from the store


def open_store(settings: Settings) -> LocalStore | RemoteStore:
    """The store ``settings`` name. Opening asks nothing of the network (``vault_url`` requires a
    region or an endpoint, so pyarrow need not look the bucket's region up); a URL pyarrow
    refuses (an unknown option) is ``settings.bad_vault_url``."""
    if not settings.vault_url:
        return LocalStore(settings.vault_root)
    from pyarrow import fs

    try:
        filesystem, root = fs.FileSystem.from_uri(settings.vault_url)
    except ValueError as err:  # pyarrow.ArrowInvalid
        raise UsageError("settings.bad_vault_url", f"SUANSHU_VAULT_URL: {err}") from None
    except OSError as err:
        raise Unavailable("vault.unavailable", f"the vault store could not be opened: {err}") from None
    if isinstance(filesystem, fs.LocalFileSystem):
        return LocalStore(Path(root))
    parts = urlsplit(settings.vault_url)
    return RemoteStore(filesystem, root.strip("/"), settings.home / CACHE_DIR,
                       label=f"{parts.scheme}://{parts.netloc}{parts.path}")


class LocalStore:
    """Vault files in a directory of this host (the data dir, or a shared mount): read in place."""

    def __init__(self, root: Path):
        self.root, self.label = root, str(root)

    def staging_dir(self, relative: str) -> Path:
        """Beside the final file, on its file system: ``put`` is then one atomic rename."""
        folder = (self.root / relative).parent
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def put(self, relative: str, local_file: Path) -> None:
        os.replace(local_file, self.root / relative)

    def local(self, relative: str, sha256: str) -> Path:
        return self.root / relative

    def delete(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)


class RemoteStore:
    """Vault files as objects ``<root>/<relative>`` in an object store, with this host's cache."""

    def __init__(self, filesystem: pafs.FileSystem, root: str, cache: Path, *, label: str):
        self.fs, self.root, self.cache, self.label = filesystem, root, cache, label
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        # cache files checked in this process: relative -> (size, mtime_ns, sha256); one whose
        # size or time changed since is hashed again before it is read
        self._checked: dict[str, tuple[int, int, str]] = {}

    def staging_dir(self, relative: str) -> Path:
        """In the cache's file system, so the put file moves into the cache by a rename."""
        return self._private_dir(self.cache / ".staging")

    def put(self, relative: str, local_file: Path) -> None:
        """Upload ``local_file``, then keep it as this host's cached copy. A put that fails part
        way may leave a short object: the caller deletes it (``market.assets.add_asset`` does),
        and a reader would refuse it anyway, its hash not being the catalog's."""
        with open(local_file, "rb") as src:
            try:
                with self.fs.open_output_stream(self._key(relative)) as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
            except OSError as err:
                raise self._unavailable(err) from None
        target = self.cache / relative
        self._private_dir(target.parent)
        os.replace(local_file, target)

    def local(self, relative: str, sha256: str) -> Path:
        """The cached copy, downloaded first when this host has none; either way its SHA-256 is
        the catalog's, or ``vault.corrupt``."""
        path = self.cache / relative
        with self._lock_for(relative):
            try:
                stat = path.stat()
            except FileNotFoundError:
                self._fetch(relative, path, sha256)
                stat = path.stat()
            else:
                if self._checked.get(relative) != (stat.st_size, stat.st_mtime_ns, sha256) \
                        and sha256_file(path) != sha256:
                    self._checked.pop(relative, None)
                    path.unlink(missing_ok=True)
                    raise _corrupt(relative, "this host's cached copy differs from the catalog's hash; it "
                                   "was removed, and the next read fetches the file from the store again")
            self._checked[relative] = (stat.st_size, stat.st_mtime_ns, sha256)
        return path

    def delete(self, relative: str) -> None:
        with self._lock_for(relative):
            self._checked.pop(relative, None)
            (self.cache / relative).unlink(missing_ok=True)
            try:
                self.fs.delete_file(self._key(relative))
            except FileNotFoundError:
                pass
            except OSError as err:
                raise self._unavailable(err) from None

    def _fetch(self, relative: str, path: Path, sha256: str) -> None:
        """Download to a temp file beside ``path``, hashing on the way; rename it into place
        only when the hash is the catalog's (concurrent fetches on other hosts' caches or in
        other processes each rename a whole file)."""
        self._private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=path.parent)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self._read(relative):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise _corrupt(relative, f"the store's object differs from the catalog's hash ({self.label}); "
                               "it is not used: restore the object, then read again")
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _read(self, relative: str) -> Iterator[bytes]:
        try:
            with self.fs.open_input_stream(self._key(relative)) as src:
                while chunk := src.read(CHUNK):
                    yield chunk
        except FileNotFoundError:
            raise SuanshuError("vault.object_missing",
                               f"the vault file of asset {_asset(relative)} is missing from {self.label}",
                               asset=_asset(relative)) from None
        except OSError as err:
            raise self._unavailable(err) from None

    def _key(self, relative: str) -> str:
        return f"{self.root}/{relative}" if self.root else relative

    def _lock_for(self, relative: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(relative, threading.Lock())

    def _private_dir(self, folder: Path) -> Path:
        if not self.cache.is_dir():
            self.cache.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.cache.chmod(0o700)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    def _unavailable(self, err: OSError) -> Unavailable:
        return Unavailable("vault.unavailable", f"the vault store {self.label} cannot be reached: {err}")


def _asset(relative: str) -> str:
    return Path(relative).stem  # <org>/<asset id>.parquet


def _corrupt(relative: str, why: str) -> SuanshuError:
    log.error("vault file %s: %s", relative, why)
    return SuanshuError("vault.corrupt", f"the vault file of asset {_asset(relative)}: {why}",
                        asset=_asset(relative))


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as ``Asset.content_sha256`` records it."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
