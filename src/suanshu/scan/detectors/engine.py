"""The column engine: every detector over a whole Arrow string column, with the regex work in
RE2 (Arrow's C++ kernels) and the per-candidate work in numpy, so Python pays per column and per
candidate, never per character.

Steps for one column batch (``scan_array``):

1. **Distinct values.** Real tables repeat values (status, channel, product, city): when a sample
   says at most half the cells are distinct, the distinct values are scanned once and the
   findings mapped back to every row that holds them.
2. **Fold once.** Digits and full-width forms are folded to ASCII one character for one
   (``base.fold``), so character offsets are the original cell's; an ASCII column is used as is.
3. **Only cells that could hold a candidate.** Each detector states the characters every
   candidate needs (``Detector.needs``: 15 digits for a resident ID, an ``@`` for an e-mail…);
   per-cell counts of those classes (numpy over the folded bytes, all classes in one lookup and
   one sum per column: ``_packed_counts``) keep each detector to the cells that qualify, so an
   order time skips ten detectors at once.
4. **Whole cells, then spans in rounds**, every identifier detector in priority order. A cell
   that is one candidate and nothing else matches the detector's anchored RE2 pattern
   (``^\\s*(?:…)\\s*$``: a DFA pass, no submatches) and the candidate is the trimmed cell. In
   the other cells ``extract_regex_span`` finds the first candidate (RE2 has no lookbehind: the
   boundary is a consumed character outside group ``v``), and the cells that had one are
   searched again from the candidate's last character on (a view of the column's bytes), until
   none has — the same leftmost, non-overlapping candidates as Python's ``finditer``. A cell of
   digits alone needs no rounds when no digit can border a candidate (``_digit_bounded``): its
   one possible candidate is the whole cell. Candidates are validated in batches
   (``Detector.validate_many``, Python strings made by Arrow from their byte spans). A cell that
   one finding covers whole leaves the later detectors' input: they could only add overlapping
   candidates of lower priority.
5. **Text detectors** (addresses, names: Python, see ``scan/names.py``) see only the cells not
   yet covered whose hint matches, joined into one string.
6. Overlaps are resolved by priority (``_resolve``).

Offsets: RE2 reports bytes; a byte -> character index map of the folded column turns them into
character offsets (ASCII columns need none).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanshu.scan.detectors.base import (
    CLASS_BITS,
    DEGREE_MARKS,
    FEATURE_BITS,
    FEATURES,
    GATES,
    GATES_FOLDED,
    PACKED_FEATURES,
    PACKED_TABLES,
    Detector,
    fold,
)

SAMPLE = 512  # cells whose distinct count decides whether to scan distinct values only
DEDUP_MIN_CELLS = 256  # below this, finding the distinct values costs more than it saves


class Found(NamedTuple):
    """Findings as parallel arrays sorted by (row, start); ``types`` index the caller's types."""

    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    types: np.ndarray


_EMPTY = np.zeros(0, dtype=np.int64)


def scan_column(text: pa.Array, detectors: tuple[Detector, ...], type_index: dict[str, int],
                encoded: pa.DictionaryArray | None | bool = True) -> Found:
    """Every finding in a string column, non-overlapping, sorted by (row, start). ``encoded``:
    the column's ``repeated(text)`` when the caller has it already (True: find it here)."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if not len(text) or text.null_count == len(text):
        return Found(_EMPTY, _EMPTY, _EMPTY, _EMPTY)
    if encoded is True:
        encoded = repeated(text)
    if encoded is not None:
        found = _scan_cells(encoded.dictionary, detectors, type_index)
        return _expand(found, encoded.indices)
    return _scan_cells(text, detectors, type_index)


def repeated(text: pa.Array) -> pa.DictionaryArray | None:
    """The column dictionary-encoded when a sample says it repeats its values (step 1), else None."""
    if len(text) >= DEDUP_MIN_CELLS and _repeats(text):
        return pc.dictionary_encode(text)
    return None


def _repeats(text: pa.Array) -> bool:
    """Whether at most half of the cells are distinct, judged on a sample."""
    head = text.slice(0, SAMPLE)
    return pc.count_distinct(head).as_py() * 2 <= len(head)


def _expand(found: Found, indices: pa.Array) -> Found:
    """Findings on distinct values -> findings on every row holding the value."""
    if not len(found.rows):
        return found
    idx = indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(idx, kind="stable")
    ordered = idx[order]
    first = np.searchsorted(ordered, found.rows, "left")
    counts = np.searchsorted(ordered, found.rows, "right") - first
    which = np.repeat(np.arange(len(found.rows)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = order[np.repeat(first, counts) + within]
    starts, ends, types = found.starts[which], found.ends[which], found.types[which]
    o = np.lexsort((starts, rows))
    return Found(rows[o], starts[o], ends[o], types[o])


class _Column:
    """The folded text of a column: an Arrow array for RE2, one Python string for slicing out
    candidates, byte offsets of the cells and a byte -> character index map."""

    def __init__(self, raw: pa.Array) -> None:
        if raw.null_count:
            raw = pc.fill_null(raw, "")
        if pa.types.is_large_string(raw.type):
            raw = raw.cast(pa.string())  # a batch of cells is far below 2 GB
        self.raw = raw
        self.n = len(raw)
        self._counts: dict[str, np.ndarray] = {}
        self._bits: np.ndarray | None = None
        self._packed = False
        self._char_byte: np.ndarray | None = None
        offsets, data = _buffers(raw)
        self.ascii = not len(data) or int(data.max()) < 0x80
        if self.ascii:
            self.text = str(memoryview(data), "ascii")
            self.arr, self.offsets, self.data = raw, offsets, data
            self.cstart = offsets
            self.cidx = None
            return
        original = str(memoryview(data), "utf-8")  # (no copy of the bytes first)
        self.text = fold(original)
        # character index of each cell start: the running sum of the cells' lengths (Arrow's
        # count; folding keeps every length), not a running count over every byte
        self.cstart = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(pc.utf8_length(raw).to_numpy(zero_copy_only=False), out=self.cstart[1:])
        if self.text == original:
            self.arr, self.offsets, self.data = raw, offsets, data
            self.cidx = _running((data & 0xC0) != 0x80)  # character index of every byte
            return
        data = np.frombuffer(self.text.encode("utf-8"), dtype=np.uint8)
        self.cidx = _running((data & 0xC0) != 0x80)
        # the byte where character k starts is the last one before the running count passes k
        self.offsets = np.searchsorted(self.cidx, self.cstart + 1, "left") - 1
        self.data = data
        self.arr = _from_buffers(self.offsets, data)

    def count(self, feature: str) -> np.ndarray:
        """Per cell, how many characters of a class it holds (``base.FEATURES``); cached."""
        if feature not in self._counts:
            if feature == "ipv6":  # 7 colons, or as good as 7 when "::" stands for the rest
                colons = self.count(":")
                counts = colons.copy()
                # only a cell with 2-6 colons can change: look for "::" in those alone
                some = np.flatnonzero((colons >= 2) & (colons < 7))
                if len(some):
                    double = pc.match_substring(_take(self.arr, some), "::").to_numpy(zero_copy_only=False)
                    counts[some[double]] = 7
                self._counts[feature] = counts
            elif feature == "degree":  # (the marks are not ASCII)
                self._counts[feature] = (np.zeros(self.n, dtype=np.int32) if self.ascii
                                         else _marks_per_cell(self.data, self.offsets, DEGREE_MARKS))
            elif feature in PACKED_FEATURES and not self._packed:
                self._packed = True  # all of them at once, one lookup and one sum per 4 or 8 classes
                self._counts |= _packed_counts(self.data, self.offsets)
            if feature not in self._counts:  # (a cell of 64 kB or more: one class at a time)
                if self._bits is None:  # one table lookup for all classes (numpy's indexing is slow)
                    self._bits = CLASS_BITS[self.data]
                self._counts[feature] = _per_cell(self._bits & FEATURE_BITS[feature], self.offsets)
        return self._counts[feature]

    def padded(self) -> np.ndarray:
        """Per cell: starts or ends with ASCII whitespace (its first or last byte)."""
        if "padded" not in self._counts:
            space = FEATURES["space"]
            first, last = self.offsets[:-1], self.offsets[1:] - 1
            nonempty = last >= first
            pad = np.zeros(self.n, dtype=bool)
            pad[nonempty] = (space[self.data[first[nonempty]]] | space[self.data[last[nonempty]]]).astype(bool)
            self._counts["padded"] = pad
        return self._counts["padded"]

    def could_hold(self, detector: Detector, rows: np.ndarray) -> np.ndarray:
        """Mask over ``rows``: the cell has the characters every candidate of ``detector`` needs."""
        ok = np.ones(len(rows), dtype=bool)
        for feature, least in detector.needs.items():
            ok &= self.count(feature)[rows] >= least
        return ok

    def chars(self, rows: np.ndarray, byte_starts: np.ndarray, byte_lens: np.ndarray):
        """(start, end) character offsets within their cells of byte spans within cells."""
        if self.cidx is None:
            return byte_starts, byte_starts + byte_lens
        absolute = self.offsets[rows] + byte_starts
        base = self.cstart[rows]
        return self.cidx[absolute] - base, self.cidx[absolute + byte_lens] - base

    def byte_at(self, rows: np.ndarray, chars: np.ndarray) -> np.ndarray:
        """Offsets in ``data`` of characters given as (cell, character offset in the cell)."""
        if self.cidx is None:
            return self.offsets[rows] + chars
        if self._char_byte is None:  # byte offset of each character (and the end)
            self._char_byte = np.append(np.flatnonzero((self.data & 0xC0) != 0x80), len(self.data))
        return self._char_byte[self.cstart[rows] + chars]

    def strings(self, begins: np.ndarray, ends: np.ndarray) -> list[str]:
        """The text between byte offsets in ``data`` (spans that do not overlap), as Python
        strings made by Arrow from a ``_view`` of the spans in offset order (3x less than
        slicing one Python string per candidate)."""
        k = len(begins)
        if not k:
            return []
        order = np.argsort(begins, kind="stable")
        b, e = begins[order], ends[order]
        if (b[1:] < e[:-1]).any():  # (never from one detector's candidates) one by one
            return [self.data[x:y].tobytes().decode("utf-8") for x, y in zip(begins.tolist(), ends.tolist(), strict=True)]
        out = np.empty(k, dtype=object)
        out[order] = _view(self.data, b, e).drop_null().to_numpy(zero_copy_only=False)
        return out.tolist()


def _per_cell(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many bytes of each cell have a non-zero flag: one ``reduceat`` pass (4x less than a
    running count over every byte). A zero byte after the data keeps every start a valid index;
    ``reduceat`` gives an empty cell its next byte, so empty cells are set to 0."""
    member = np.zeros(len(flags) + 1, dtype=np.uint8)
    np.not_equal(flags, 0, out=member[:-1].view(bool))
    counts = np.add.reduceat(member, offsets[:-1], dtype=np.int32)
    counts[offsets[1:] == offsets[:-1]] = 0
    return counts


def _marks_per_cell(data: np.ndarray, offsets: np.ndarray, marks: tuple[bytes, ...]) -> np.ndarray:
    """Per cell, how many of the multi-byte ``marks`` it holds: numpy finds each mark's last
    byte and checks the bytes before it (a regex pass over the column costs 5x more)."""
    cells = []
    for mark in marks:
        at = np.flatnonzero(data[len(mark) - 1:] == mark[-1])
        for k, byte in enumerate(mark[:-1]):
            at = at[data[at + k] == byte]
        cells.append(np.searchsorted(offsets, at, "right") - 1)
    return np.bincount(np.concatenate(cells), minlength=len(offsets) - 1).astype(np.int32)


PACKED_CHUNK = 1 << 16  # bytes looked up at a time by ``_packed_counts``


def _packed_counts(data: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """Per-cell counts of all ``PACKED_FEATURES`` at once: each byte looks up one uint64 holding a
    field per class (8 bits wide when no cell has 256 bytes, else 16 bits, four classes to a
    word), and one ``reduceat`` sums the fields of a cell (2-3x less than a sum per class). No
    field overflows: a cell's count is at most its length. The bytes are looked up a piece of
    whole cells at a time (about ``PACKED_CHUNK`` bytes) into one reused buffer: 8 bytes of
    words per byte of text for the whole column cost 2x more (fresh pages, out of cache).
    Cells of 64 kB or more: nothing (the caller counts class by class)."""
    longest = int(np.diff(offsets).max()) if len(offsets) > 1 else 0
    if longest >= 1 << 16:
        return {}
    width = 8 if longest < 1 << 8 else 16
    n = len(offsets) - 1
    starts = offsets[:-1]
    empty = offsets[1:] == starts
    # pieces of whole cells: each starts at the first cell starting at or after a multiple of
    # PACKED_CHUNK, so a piece holds at most PACKED_CHUNK + longest bytes
    cuts = np.unique(np.searchsorted(starts, np.arange(0, len(data), PACKED_CHUNK), "left")).tolist()
    cuts.append(n)
    buf = np.zeros(min(len(data), PACKED_CHUNK + longest) + 1, dtype=np.uint64)
    mask = np.uint64((1 << width) - 1)
    out = {}
    for table, names in PACKED_TABLES[width]:
        sums = np.zeros(n, dtype=np.uint64)
        for a, b in zip(cuts[:-1], cuts[1:]):
            if a == b:
                continue
            lo, hi = int(offsets[a]), int(offsets[b])
            words = buf[:hi - lo + 1]  # a zero after the piece: every start is a valid index
            np.take(table, data[lo:hi], out=words[:-1])
            words[-1] = 0
            np.add.reduceat(words, starts[a:b] - lo, out=sums[a:b])
        sums[empty] = 0  # reduceat gives an empty cell its next byte
        for k, name in enumerate(names):
            out[name] = ((sums >> np.uint64(width * k)) & mask).astype(np.int32)
    return out


def _running(member: np.ndarray) -> np.ndarray:
    """0, then the running count of ``member``, in int32: a batch of cells is far below 2**31
    bytes, and numpy's cumsum into int64 from bytes costs 30x more (a cast per element)."""
    total = np.empty(len(member) + 1, dtype=np.int32)
    total[0] = 0
    np.cumsum(member, dtype=np.int32, out=total[1:])
    return total


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Byte offsets (from 0) and the data bytes of a string array."""
    _, off_buf, data_buf = arr.buffers()
    kind = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(off_buf, dtype=kind)[arr.offset:arr.offset + len(arr) + 1].astype(np.int64)
    if data_buf is None:
        return offsets - offsets[0], np.zeros(0, dtype=np.uint8)
    data = np.frombuffer(data_buf, dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
    return offsets - offsets[0], data


def _from_buffers(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    kind, arrow = (np.int32, pa.string()) if len(data) < 2**31 else (np.int64, pa.large_string())
    return pa.Array.from_buffers(arrow, len(offsets) - 1,
                                 [None, pa.py_buffer(offsets.astype(kind)), pa.py_buffer(data)])


def _view(data: np.ndarray, begins: np.ndarray, ends: np.ndarray) -> pa.Array:
    """A string array over ``data`` without a copy: slot ``2i`` is the bytes ``begins[i]:ends[i]``,
    the odd slots (the bytes between) are null, which kernels skip. Spans sorted, not overlapping."""
    k = len(begins)
    bounds = np.empty(2 * k, dtype=np.int32)
    bounds[0::2], bounds[1::2] = begins, ends
    valid = np.zeros(2 * k - 1, dtype=bool)
    valid[0::2] = True
    return pa.Array.from_buffers(pa.string(), 2 * k - 1, [
        pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(bounds), pa.py_buffer(data)],
        null_count=k - 1)


def _take(arr: pa.Array, rows: np.ndarray) -> pa.Array:
    """The cells ``rows`` (sorted, distinct) of ``arr``; all of them without a copy."""
    return arr if len(rows) == len(arr) else arr.take(pa.array(rows))


def _gate(arr: pa.Array, gates: dict, patterns: dict[str, str], gate: str | None, active: np.ndarray,
          cand: np.ndarray) -> np.ndarray:
    """``cand`` without the cells a shared gate (``base.GATES``) rules out; each gate runs once per
    column, over the cells still active when a detector first needs it."""
    if gate is None or not len(cand):
        return cand
    if gate not in gates:
        gates[gate] = np.zeros(len(arr), dtype=bool)
        gates[gate][active[_matching(_take(arr, active), patterns[gate])]] = True
    return cand[gates[gate][cand]]


def _matching(arr: pa.Array, pattern: str) -> np.ndarray:
    """Positions of the cells an RE2 pattern matches somewhere in."""
    mask = pc.match_substring_regex(arr, pattern)
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


class _Collector:
    """Candidates found so far (all detectors), and which cells one finding covers whole."""

    def __init__(self, n: int) -> None:
        self.parts: list[tuple] = []
        self.touched = np.zeros(n, dtype=bool)  # the cell holds a finding already
        self.covered = np.zeros(n, dtype=bool)

    def add(self, rows, starts, ends, type_i: int, prio: int) -> None:
        if len(rows):
            self.parts.append((rows, starts, ends, np.full(len(rows), type_i), np.full(len(rows), prio)))


def _scan_cells(raw: pa.Array, detectors: tuple[Detector, ...], type_index: dict[str, int]) -> Found:
    col = _Column(raw)
    out = _Collector(col.n)
    lengths = np.diff(col.cstart).astype(np.int64)  # characters per cell
    _run(col, detectors, type_index, out, lengths)
    if not out.parts:
        return Found(_EMPTY, _EMPTY, _EMPTY, _EMPTY)
    rows, starts, ends, types, prios = (np.concatenate(c) for c in zip(*out.parts))
    return _resolve(rows, starts, ends, types, prios)


_WS = " \t\n\r\f\v"


def _trimmed(col: _Column, cells: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of each cell without its leading and trailing ASCII whitespace."""
    starts, ends = np.zeros(len(cells), dtype=np.int64), lengths[cells].copy()
    for i in np.flatnonzero(col.padded()[cells]).tolist():
        piece = col.text[col.cstart[cells[i]]:col.cstart[cells[i]] + ends[i]]
        starts[i] = len(piece) - len(piece.lstrip(_WS))
        ends[i] = len(piece.rstrip(_WS))
    return starts, ends


def _run(col: _Column, detectors: tuple[Detector, ...], type_index, out: _Collector,
         lengths: np.ndarray) -> None:
    """Every detector in priority order over the cells not yet covered (module doc, steps 3-5)."""
    folded_gates: dict[str, np.ndarray] = {}
    raw_gates: dict[str, np.ndarray] = {}
    active = np.arange(col.n)
    for prio, detector in enumerate(detectors):
        active = active[~out.covered[active]]
        if not len(active):
            return
        if detector.value is not None:
            cand = active[col.could_hold(detector, active)]
            cand = _gate(col.arr, folded_gates, GATES_FOLDED, detector.gate, active, cand)
            cells, starts, ends = _identifiers(col, cand, detector, lengths)
        else:
            cand = active[col.could_hold(detector, active)]
            cand = _gate(col.raw, raw_gates, GATES, detector.gate, active, cand)
            cells, starts, ends = _free_text(col, cand, detector)
        if not len(cells):
            continue
        out.add(cells, starts, ends, type_index[detector.type], prio)
        # a cell one finding fills whole, with no other finding before it, is done
        full = (starts == 0) & (ends == lengths[cells]) & ~out.touched[cells]
        out.touched[cells] = True
        out.covered[cells[full]] = True


def _identifiers(col: _Column, cand: np.ndarray, detector: Detector, lengths: np.ndarray):
    """Validated candidates of an identifier detector: (cell, start, end)."""
    if not len(cand):
        return _EMPTY, _EMPTY, _EMPTY
    cells, starts, ends, begins, stops = _candidates(col, cand, detector, lengths)
    if not len(cells):
        return _EMPTY, _EMPTY, _EMPTY
    if type(detector).validate is Detector.validate:  # no check beyond the pattern itself
        return cells, starts, ends
    ok = detector.validate_many(col.strings(begins, stops))
    return cells[ok], starts[ok], ends[ok]


def _candidates(col: _Column, rows: np.ndarray, detector: Detector, lengths: np.ndarray):
    """(cell, start, end, begin, stop) of every candidate of ``detector`` in ``rows``: character
    offsets in the cell, and byte offsets in the column's ``data``.

    A cell that is one candidate and nothing else is found by the anchored pattern (a DFA pass,
    no submatches, the span is the trimmed cell); only the others need ``_rounds``."""
    if detector.whole:
        sub = _take(col.arr, rows)
        hit = np.zeros(len(rows), dtype=bool)
        hit[_matching(sub, detector.anchored)] = True
        whole = rows[hit]
        w_starts, w_ends = _trimmed(col, whole, lengths) if len(whole) else (_EMPTY, _EMPTY)
        # the whitespace trimmed off is ASCII: one byte a character
        w_begins = col.offsets[whole] + w_starts
        w_stops = col.offsets[whole + 1] - (lengths[whole] - w_ends)
        rows = rows[~hit]
        if _digit_bounded(detector):  # a cell of digits alone holds no candidate but itself
            rows = rows[col.count("digits")[rows] != lengths[rows]]
    else:
        whole, w_starts, w_ends, w_begins, w_stops = (_EMPTY,) * 5
    found = _rounds(col, rows, detector) if len(rows) else (_EMPTY,) * 5
    if not len(whole):
        return found
    return tuple(np.concatenate([w, f]) for w, f in zip((whole, w_starts, w_ends, w_begins, w_stops), found, strict=True))


_DIGITS = pa.array([str(d) for d in range(10)] + [f"{d}{e}" for d in range(10) for e in range(10)])
_BOUNDED: dict[type, bool] = {}


def _digit_bounded(detector: Detector) -> bool:
    """Whether a digit can neither stand before a candidate (``before`` matches no run of one
    or two digits) nor after it (``after`` matches nothing that starts with a digit), and no
    context precedes it: then in a cell of ASCII digits alone the only candidate is the whole
    cell, which the anchored pass has tried. Asked of RE2 itself, once per detector class."""
    kind = type(detector)
    if kind not in _BOUNDED:
        before = pc.match_substring_regex(_DIGITS, rf"^(?:{detector.before})$")
        after = pc.match_substring_regex(_DIGITS, rf"^(?:{detector.after})")
        _BOUNDED[kind] = (not detector.context and bool(detector.before) and not pc.any(before).as_py()
                          and not pc.any(after).as_py())
    return _BOUNDED[kind]


def _rounds(col: _Column, rows: np.ndarray, detector: Detector):
    """All leftmost non-overlapping candidates of ``detector.span`` (group ``v``) in the cells
    ``rows``, as (cell, start, end) in characters and (begin, stop) in bytes of ``data``.

    The next round reads each cell that had a candidate from its candidate's last character on
    (a view of the column's bytes, ``_view``: nothing is copied, and the text before is not read
    again); that character stays, as the context the next candidate's boundary looks at (as
    Python's lookbehind would see it; a boundary that looks two characters back sees the
    view's start there, which every boundary takes as it takes a character that is not
    alphanumeric, as it did the NUL bytes the text before was once replaced with). No pattern
    can start a new candidate on it, since each pattern's own end boundary puts a
    non-alphanumeric after it — except e-mail, whose local part may start with "-" or ".";
    cells that could hold two e-mails (two "@") are read by Python's ``finditer`` instead
    (``Detector.python_rounds``)."""
    parts = []
    if detector.python_rounds is not None:
        multi = col.count(detector.python_rounds)[rows] >= 2
        cells, starts, ends = _python_spans(col, rows[multi], detector)
        parts.append((cells, starts, ends, col.byte_at(cells, starts), col.byte_at(cells, ends)))
        rows = rows[~multi]
    current, from_ = rows, col.offsets[rows]  # the cells to read, and the byte each is read from
    first = True
    while len(current):
        if first and len(current) == col.n:  # every cell from its start: the column itself
            arr, step = col.arr, 1
        else:  # a view: the cells in its even slots
            arr, step = _view(col.data, from_, col.offsets[current + 1]), 2
        spans = pc.extract_regex_span(arr, detector.span)
        valid = spans.is_valid().to_numpy(zero_copy_only=False)[::step]
        values = spans.field("v").values.to_numpy(zero_copy_only=False).reshape(-1, 2)[::step]
        hit = np.flatnonzero(valid)
        if not len(hit):
            break
        pairs = values[hit].astype(np.int64)
        cells = current[hit]
        begins = from_[hit] + pairs[:, 0]
        parts.append((cells, *col.chars(cells, begins - col.offsets[cells], pairs[:, 1]), begins, begins + pairs[:, 1]))
        last = begins + np.maximum(pairs[:, 1], 1) - 1
        for _ in range(3):  # back to the first byte of the last character
            last -= (col.data[last] & 0xC0) == 0x80
        current, from_, first = cells, last, False
    if not parts:
        return (_EMPTY,) * 5
    return tuple(np.concatenate(x) for x in zip(*parts))


def _python_spans(col: _Column, rows: np.ndarray, detector: Detector):
    """(cell, start, end) of every candidate by Python's regex over each folded cell."""
    cells, starts, ends = [], [], []
    for r in rows.tolist():
        for s, e, _ in detector.spans(col.text[col.cstart[r]:col.cstart[r + 1]]):
            cells.append(r)
            starts.append(s)
            ends.append(e)
    return np.array(cells, dtype=np.int64), np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


def _free_text(col: _Column, cand: np.ndarray, detector: Detector):
    """Findings of a Python detector (names, addresses) in the cells whose hint matches, found
    in one string of those cells joined by NUL."""
    if len(cand):
        cand = cand[_matching(_take(col.raw, cand), detector.hint)]
    if not len(cand):
        return _EMPTY, _EMPTY, _EMPTY
    if hasattr(detector, "find_cells"):  # a detector that decides cell by cell, in a batch
        which, starts, ends = detector.find_cells(_take(col.raw, cand).to_pylist())
        return cand[which], starts, ends
    joined, cell_starts = _join(_take(col.raw, cand))
    spans = np.fromiter((x for se in detector.find(joined) for x in se), dtype=np.int64)
    s, e = spans[0::2], spans[1::2]
    which = np.searchsorted(cell_starts, s, side="right") - 1
    return cand[which], s - cell_starts[which], e - cell_starts[which]


def _join(sub: pa.Array) -> tuple[str, np.ndarray]:
    """The cells as one string with NUL after each, and each cell's start (in characters)."""
    cells = pc.fill_null(sub, "")
    with_sep = pc.binary_join_element_wise(cells, "\x00", "")
    lengths = pc.utf8_length(with_sep).to_numpy(zero_copy_only=False)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    _, data = _buffers(with_sep)
    return str(memoryview(data), "utf-8"), starts


def _resolve(rows, starts, ends, types, prios) -> Found:
    """Drop candidates that overlap one of higher priority in the same cell.

    Sorted by (row, start), a candidate overlaps an earlier one in its cell iff it starts before
    the running maximum of earlier ends (positions are ``row * spread + offset``, so cells never
    mix). Only the cells with such a clash are resolved (``_take_by_priority``); the rest is kept
    as is.
    """
    spread = (int(ends.max()) + 1) if len(ends) else 1
    g_start = rows * spread + starts
    order = np.argsort(g_start, kind="stable")  # = lexsort((starts, rows)), 4x faster
    rows, starts, ends, types, prios = rows[order], starts[order], ends[order], types[order], prios[order]
    g_start, g_end = g_start[order], rows * spread + ends
    clash = np.isin(rows, rows[g_start < _earlier_max(g_end)])
    if not clash.any():
        return Found(rows, starts, ends, types)
    keep = ~clash
    keep[clash] = _take_by_priority(rows[clash], g_start[clash], g_end[clash], prios[clash])
    return Found(rows[keep], starts[keep], ends[keep], types[keep])


def _earlier_max(g_end: np.ndarray) -> np.ndarray:
    """For each candidate, the largest end of the candidates before it (-1 for the first)."""
    return np.maximum.accumulate(np.concatenate(([-1], g_end[:-1])))


def _take_by_priority(rows, g_start, g_end, prios) -> np.ndarray:
    """Which candidates (sorted by position) a greedy pass in (priority, start) order takes: each
    one that overlaps none taken before it.

    One numpy step per priority level (a Python loop over 17,000 clashing cells of a remark
    column cost 0.1 s): when no candidate is empty and no two of one level overlap in a cell, a
    level's candidates are taken exactly when they overlap none of the higher levels' taken.
    The few cells where that does not hold are resolved candidate by candidate."""
    by_level = np.argsort(prios.astype(np.int16), kind="stable")  # (a radix sort: few levels)
    level = prios[by_level]
    # an empty candidate, or one overlapping the one before it of its level (with none empty,
    # two of a level overlap iff two next to each other do)
    s, e = g_start[by_level], g_end[by_level]
    odd = np.zeros(len(rows), dtype=bool)
    odd[by_level[1:]] = (level[1:] == level[:-1]) & (s[1:] < e[:-1])
    odd = np.isin(rows, rows[odd | (g_start >= g_end)])
    taken = np.zeros(len(rows), dtype=bool)
    cuts = np.flatnonzero(np.diff(level)) + 1
    for at in np.split(by_level, cuts):
        at = at[~odd[at]]
        taken[at] = ~_overlaps(g_start[at], g_end[at], g_start[taken], g_end[taken])
    if odd.any():
        taken[odd] = _take_one_by_one(rows[odd], g_start[odd], g_end[odd], prios[odd])
    return taken


def _overlaps(starts, ends, taken_starts, taken_ends) -> np.ndarray:
    """Mask over spans: overlaps one of the taken spans (sorted, not overlapping, not empty, so
    their ends are sorted too): the first taken span ending after a span's start starts before
    its end."""
    if not len(taken_starts):
        return np.zeros(len(starts), dtype=bool)
    j = np.searchsorted(taken_ends, starts, "right")
    inside = j < len(taken_ends)
    return inside & (taken_starts[np.minimum(j, len(taken_ends) - 1)] < ends)


def _take_one_by_one(rows, g_start, g_end, prios) -> np.ndarray:
    """``_take_by_priority`` for any candidates: cell by cell, in (priority, start) order."""
    taken = np.zeros(len(rows), dtype=bool)
    cuts = np.flatnonzero(np.diff(rows)) + 1
    prio_list, start_list, end_list = prios.tolist(), g_start.tolist(), g_end.tolist()
    for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(rows)], strict=True):
        spans: list[tuple[int, int]] = []
        for i in sorted(range(a, b), key=lambda i: (prio_list[i], start_list[i])):
            s, e = start_list[i], end_list[i]
            if not any(s < te and ts < e for ts, te in spans):
                spans.append((s, e))
                taken[i] = True
    return taken
