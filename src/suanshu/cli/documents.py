"""JSON or YAML documents given on the command line, inline or as a file (policies, pools).

One loader for every command that takes one, so `analyze` and `component publish` read a policy
alike. A value starting with ``{`` or ``[`` (or spanning lines) is the document itself; anything
else names a file. A duplicate key is refused: JSON and YAML parsers keep the last one silently,
and a policy saying ``city: dimension`` and later ``city: aggregate`` is not what its author read.
"""

from __future__ import annotations

import json
from pathlib import Path

from suanshu.core.errors import UsageError


def load(value: str | Path, what: str, *, code: str, yaml: bool = True) -> dict:
    """The mapping in ``value``. ``code``: the stable code when it cannot be read or parsed (the
    commands kept theirs: ``policy.bad_json``, ``policy.bad_file``, ``pool.bad_json``); a
    duplicate key or a document that is not a mapping is ``<what>.invalid``."""
    text, source = _text(value, what, code)
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _unique(pairs, what, source))
    except json.JSONDecodeError as exc:
        if not yaml:
            raise UsageError(code, f"the {what} {source} is not valid JSON: {exc}") from None
        data = _yaml(text, what, code, source)
    if not isinstance(data, dict):
        raise UsageError(f"{what}.invalid", f"the {what} {source} must be a mapping of keys to values, "
                                            f"not {type(data).__name__}")
    return data


def _text(value: str | Path, what: str, code: str) -> tuple[str, str]:
    if isinstance(value, str) and (value.lstrip()[:1] in ("{", "[") or "\n" in value):
        return value, "given inline"
    path = Path(value)
    try:
        return path.read_bytes().decode("utf-8-sig"), str(path)
    except FileNotFoundError:
        raise UsageError(code, f"no {what} file {str(path)!r}: give a path to a JSON or YAML file, "
                               "or the document itself starting with {") from None
    except (OSError, ValueError) as exc:  # a directory, no permission; UnicodeDecodeError is a ValueError
        raise UsageError(code, f"cannot read the {what} file {str(path)!r}: {exc}") from None


def _unique(pairs: list[tuple], what: str, source: str) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise UsageError(f"{what}.invalid", f"the {what} {source} gives the key {key!r} twice; keep one")
        seen[key] = value
    return seen


def _yaml(text: str, what: str, code: str, source: str):
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            keys = [self.construct_object(k, deep=True) for k, _ in node.value
                    if k.tag != "tag:yaml.org,2002:merge"]  # `<<: *base` then a key may override base's
            seen = set()
            for key in keys:
                try:
                    if key in seen:
                        raise UsageError(f"{what}.invalid",
                                         f"the {what} {source} gives the key {key!r} twice; keep one")
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader says what is wrong with it
                    break
            return super().construct_mapping(node, deep)

    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        raise UsageError(code, f"the {what} {source} is neither JSON nor YAML: {exc}") from None
