"""Fetch the console's pinned browser libraries (Apache ECharts, htmx) into static/vendor/.

Run by ``make assets`` with the system python3 (stdlib only, so it works before any virtualenv):
for each line of ``vendor.lock``, ``npm pack PACKAGE@VERSION`` into a temporary directory, check the
tarball's SHA-512 against the pinned value (the same digest as npm's ``integrity`` field), and copy
the one dist file out. A file already present with the right content is left alone. The minified
code is never committed; without it the console still renders (tables, no charts) and says so.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
LOCK = HERE / "vendor.lock"
VENDOR = HERE / "static" / "vendor"


def entries(lock: Path = LOCK) -> list[tuple[str, str, str, str, str]]:
    out = []
    for line in lock.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            package, version, member, target, digest = line.split()
            out.append((package, version, member, target, digest))
    return out


def sha512_b64(path: Path) -> str:
    h = hashlib.sha512()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return base64.b64encode(h.digest()).decode()


def _stamp(target: str) -> Path:
    return VENDOR / f".{target}.sha512"  # the tarball digest the file came from


def fetch(package: str, version: str, member: str, target: str, digest: str) -> str:
    dest = VENDOR / target
    if dest.is_file() and _stamp(target).is_file() and _stamp(target).read_text().strip() == digest:
        return f"{target}: present ({package}@{version})"
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed (Debian package npm); the console will run without charts")
    with tempfile.TemporaryDirectory(prefix="suanshu-vendor-") as tmp:
        subprocess.run([npm, "pack", f"{package}@{version}", "--silent", "--pack-destination", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise SystemExit(f"npm pack {package}@{version} produced {len(tarballs)} tarballs")
        got = sha512_b64(tarballs[0])
        if got != digest:
            raise SystemExit(f"{package}@{version}: sha512 {got} does not match the pin {digest}; refusing it")
        with tarfile.open(tarballs[0]) as tar:
            source = tar.extractfile(member)
            if source is None:
                raise SystemExit(f"{package}@{version} has no {member}")
            VENDOR.mkdir(parents=True, exist_ok=True)
            partial = dest.with_suffix(".partial")
            with partial.open("wb") as out:
                shutil.copyfileobj(source, out)
            partial.replace(dest)
    _stamp(target).write_text(digest + "\n")
    return f"{target}: installed from {package}@{version} (sha512 checked)"


def main() -> int:
    for entry in entries():
        print(fetch(*entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
