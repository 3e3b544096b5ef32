"""The numpy forms in ``names.find_names`` against the string tests they stand for."""

from __future__ import annotations

import numpy as np

from suanshu.scan import names


def test_followed_by_is_startswith():
    text = "张伟公司李娜工作室王芳工作王五路\x00赵六市民陈七店" + "".join(names._NOT_AFTER_NAME) + "工作"
    cps = names._code_points(text)
    at = np.arange(len(text) + 1)
    got = names._followed_by(cps, at, names._NOT_AFTER_NAME)
    assert got.tolist() == [text.startswith(names._NOT_AFTER_NAME, i) for i in range(len(text) + 1)]


def test_before_reads_the_previous_character():
    text = "5G智享县张伟𠀋王"
    cps = names._code_points(text)
    got = names._before(cps, np.arange(len(text)))
    assert got.tolist() == [0] + [min(ord(c), 0xFFFF) for c in text[:-1]]
