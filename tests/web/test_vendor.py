"""The vendoring step's pins: well-formed, and any vendored file came from the pinned tarball."""

from __future__ import annotations

import base64
import hashlib

from suanshu.web import render, vendor


def test_lock_pins_every_file_the_console_serves_with_a_sha512():
    entries = vendor.entries()
    assert {target for *_rest, target, _digest in entries} == set(render.VENDOR_FILES.values())
    for package, version, member, _target, digest in entries:
        assert version[0].isdigit() and member.startswith("package/")
        assert len(base64.b64decode(digest, validate=True)) == 64, package  # a SHA-512


def test_digest_is_npm_integrity_format(tmp_path):
    f = tmp_path / "x.tgz"
    f.write_bytes(b"suanshu")
    assert vendor.sha512_b64(f) == base64.b64encode(hashlib.sha512(b"suanshu").digest()).decode()


def test_vendored_files_carry_the_stamp_of_their_pin():
    pins = {target: digest for *_rest, target, digest in vendor.entries()}
    for target, digest in pins.items():
        if (vendor.VENDOR / target).is_file():
            assert (vendor.VENDOR / f".{target}.sha512").read_text().strip() == digest
