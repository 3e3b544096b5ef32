"""Console languages: zh-CN first, English on request.

Templates and views mark English source strings (``_("Catalog")``); the Simplified Chinese text
lives in the gettext catalog ``locale/zh_CN/LC_MESSAGES/messages.po`` (kept in the repository,
extracted with Babel: ``pybabel extract -F babel.cfg``). The ``.po`` file is compiled in memory
with Babel when the app starts, so no ``.mo`` file is committed or built by hand, and a new
translation shows after a restart. English needs no catalog: the source strings are English.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "zh-CN"
LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}  # what the console offers -> the catalog's locale
COOKIE = "suanshu_lang"

_current: ContextVar[str] = ContextVar("suanshu_console_lang", default=DEFAULT)


@cache
def translations(lang: str) -> NullTranslations:
    po = LOCALE_DIR / LANGUAGES.get(lang, "") / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=LANGUAGES[lang])
    buf = io.BytesIO()
    write_mo(buf, catalog)  # the compiled form, in memory
    buf.seek(0)
    return Translations(fp=buf)


def pick(cookie: str | None, accept_language: str | None = None) -> str:
    """The cookie wins; otherwise zh-CN, unless the browser asks for English and not Chinese."""
    if cookie in LANGUAGES:
        return cookie
    accept = (accept_language or "").lower()
    if accept.startswith("en") and "zh" not in accept:
        return "en"
    return DEFAULT


def activate(lang: str) -> None:
    _current.set(lang if lang in LANGUAGES else DEFAULT)


def current() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return translations(_current.get()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ungettext(singular, plural, n)


_ = gettext
