"""Free-text detectors: person names and street-level addresses (the method: ``scan/names.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from suanshu.scan import names
from suanshu.scan.detectors.base import Detector

_LINE = re.compile(r"[^\x00]+")


class NameCellDetector(Detector):
    """A cell that is only a person's name, as in a 姓名 column."""

    type = "PERSON_NAME"
    gate = "han"
    folds = False
    hint = r"^\s*\p{Han}{2,4}\s*$"

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        simple = names.simplified(text)  # one pass for the column, not one per cell
        for m in _LINE.finditer(simple):  # one cell per line of the joined column text
            cell = m.group()
            if names.is_name_cell(cell, simplified=True):
                lead = len(cell) - len(cell.lstrip())
                yield m.start() + lead, m.start() + len(cell.rstrip())


class NameTextDetector(Detector):
    """Person names inside sentences (jieba's tagger plus surname and context rules)."""

    type = "PERSON_NAME"
    gate = "han"
    folds = False
    hint = r"\p{Han}[^\x00]{3,}"  # 4+ characters: shorter cells are the NameCellDetector's

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        # One segmentation over the whole joined column: NUL between cells ends every word.
        yield from names.find_names(text)


class AddressDetector(Detector):
    type = "ADDRESS"
    gate = "han"
    folds = False
    hint = r"[路街道巷弄衖號号村组組室栋棟幢座里]"

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        yield from names.find_addresses(text)
