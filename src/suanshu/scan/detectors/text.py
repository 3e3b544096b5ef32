"""Free-text detectors: person names and street-level addresses (the method: ``scan/names.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from suanshu.scan import names
from suanshu.scan.detectors.base import Detector

_LINE = re.compile(r"[^\x00]+")


class NameCellDetector(Detector):
    """A cell that is only a person's name, as in a 姓名 column."""

    type = "PERSON_NAME"
    needs: ClassVar[dict[str, int]] = {"han": 2}  # two Han characters at least
    folds = False
    # what Python's str.strip() removes: all Unicode whitespace (RE2's \s is ASCII only)
    hint = r"^[\s\pZ\x{1c}-\x{1f}\x{85}]*\p{Han}{2,4}[\s\pZ\x{1c}-\x{1f}\x{85}]*$"

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        simple = names.simplified(text)  # one pass for the column, not one per cell
        for m in _LINE.finditer(simple):  # one cell per line of the joined column text
            cell = m.group()
            if names.is_name_cell(cell, simplified=True):
                lead = len(cell) - len(cell.lstrip())
                yield m.start() + lead, m.start() + len(cell.rstrip())

    def find_cells(self, cells: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``find`` for cells given one by one (the hint guarantees 2-4 Han characters and
        whitespace, so no NUL): (cell index, start, end) of the cells that are a name."""
        simple = names.simplified("\x00".join(cells)).split("\x00")  # one remap for all cells
        stripped = [c.strip() for c in simple]
        hit = np.flatnonzero(names.name_cells(stripped))
        lens = np.fromiter(map(len, stripped), dtype=np.int64, count=len(stripped))[hit]
        starts = np.zeros(len(hit), dtype=np.int64)
        # only a cell the strip shortened has leading whitespace to count
        padded = np.flatnonzero(np.fromiter(map(len, simple), dtype=np.int64, count=len(simple))[hit] != lens)
        for j in padded.tolist():
            cell = simple[hit[j]]
            starts[j] = len(cell) - len(cell.lstrip())
        return hit, starts, starts + lens


class NameTextDetector(Detector):
    """Person names inside sentences (jieba's tagger plus surname and context rules)."""

    type = "PERSON_NAME"
    needs: ClassVar[dict[str, int]] = {"han": 2}  # two Han characters at least
    folds = False
    # Two Han characters, perhaps with one pinyin annotation between them (張(zhāng)三): every
    # name has that. Cells a whole name fills are the NameCellDetector's and never get here.
    hint = r"\p{Han}(?:[(（][^)）]{1,12}[)）])?\p{Han}"

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        # One segmentation over the whole joined column: NUL between cells ends every word.
        yield from names.find_names(text)


class AddressDetector(Detector):
    type = "ADDRESS"
    needs: ClassVar[dict[str, int]] = {"han": 2}  # two Han characters at least
    folds = False
    hint = r"[路街道巷弄衖號号村组組室栋棟幢座里]"

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        yield from names.find_addresses(text)
