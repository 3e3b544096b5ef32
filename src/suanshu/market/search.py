"""Catalog search that understands Chinese: segmentation, synonyms, filters, BM25 ranking.

Why an in-process inverted index and not SQLite FTS5 / PostgreSQL tsvector: neither engine
segments Chinese out of the box (FTS5's tokenizers split on Unicode word boundaries, so a
run of Han characters is one token; PostgreSQL needs the zhparser extension, which a stock
server lacks). Either would need pre-segmented text kept in sync, and two query dialects
with two different rankings. The index here is built from the same rows on both backends,
ranks identically, and answers from memory (numpy over posting arrays) in well under a
millisecond per term on 100,000 components (bench/search.py).

- Text: title, tags and description of listed components (and imported external listings),
  NFKC-folded and lowercased, segmented with jieba's search mode (``rjieba``, the compiled
  port: ``长沙市`` yields 长沙, 长沙市), stop words and punctuation dropped.
- Synonyms (``data/synonyms.txt``): every member of a group maps to the group's first word,
  in documents and queries alike.
- Ranking: BM25 (k1 = 1.2, b = 0.75) over a weighted term frequency (BM25F-style): a title
  occurrence counts 3, a tag 2, the description 1. Documents match if they contain any term.
- Filters: provider region (prefix by ``-``: 湖南 matches 湖南-长沙), the highest grade
  wanted, policy mode, price range; applied as numpy masks before ranking.
- Freshness: the audit log is the change feed (every state change appends an entry in its own
  transaction). At most every ``SYNC_SECONDS`` (at once after ``invalidate``) the index reads the
  one-row tree head; when it grew, the new entries whose action touches the catalog name the
  components to re-read (added, replaced, or masked out when no longer listed). An import, or
  masked rows outnumbering live ones, rebuilds the index.
"""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import rjieba
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from suanshu.audit.models import AuditEvent, AuditTree
from suanshu.core.errors import UsageError
from suanshu.core.orgs import Organization
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component
from suanshu.market.tables import ExternalListing
from suanshu.scan.classify import GRADES
from suanshu.vault.models import ScanReport

K1, B = 1.2, 0.75
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.0, "description": 1.0}
SYNC_SECONDS = 2.0
MODES = ("aggregate", "dp", "extract", "job")
MAX_LIMIT = 200
MAX_QUERY = 500  # characters of a search query
SYNONYMS_FILE = Path(__file__).with_name("data") / "synonyms.txt"
_STOP = frozenset("的 了 和 与 及 或 等 在 对 为 是 年 月 日 个 把 被 之 其 并 按 每 各 the a an of and or for in on to with".split())  # noqa: SIM905
_WORDLIKE = re.compile(r"[0-9a-z\u3400-\u9fff]")


# -- text -----------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def synonyms() -> dict[str, str]:
    """member -> canonical term; each member is also taught to the segmenter as a word."""
    table: dict[str, str] = {}
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        for w in words:
            table[w.lower()] = words[0].lower()
            if not w.isascii():
                rjieba.add_word(w, None, None)
    return table


_TOKEN_MEMO: dict[str, str | None] = {}  # token -> its term (None: not a term); bounded by the vocabulary


def _term(tok: str) -> str | None:
    tok = tok.strip()
    if not tok or tok in _STOP or not _WORDLIKE.search(tok):
        return None
    return synonyms().get(tok, tok)


def terms(text: str) -> list[str]:
    """Search terms of ``text``, in order, repeats kept (term frequency counts them)."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    memo, out = _TOKEN_MEMO, []
    for tok in rjieba.cut_for_search(folded):
        term = memo.get(tok, "")
        if term == "":
            term = _term(tok)
            if len(memo) < 1_000_000:
                memo[tok] = term
        if term is not None:
            out.append(term)
    return out


def query_terms(q: str) -> list[str]:
    return list(dict.fromkeys(terms(q)))  # each distinct term once


# -- documents ------------------------------------------------------------------------------------

@dataclass(slots=True)
class Doc:
    key: str  # component id, or "ext:" + external listing id
    kind: str  # component | external
    title: str
    description: str
    tags: list
    org: str
    org_name: str
    region: str
    grade: str
    mode: str
    price_fen: int | None
    source: str | None
    stamp: float  # listing time, seconds: newest first when there is no query text


@dataclass(frozen=True, slots=True)
class Hit:
    doc: Doc
    score: float

    def as_dict(self) -> dict:
        d = self.doc
        return {"kind": d.kind, "id": d.key.removeprefix("ext:"), "title": d.title, "description": d.description,
                "tags": d.tags, "org": d.org, "org_name": d.org_name, "region": d.region, "grade": d.grade,
                "mode": d.mode, "price_fen": d.price_fen, "score": round(self.score, 4), "source": d.source}


@dataclass(slots=True)
class SearchResult:
    total: int
    terms: list[str]
    hits: list[Hit]

    def as_dict(self) -> dict:
        return {"total": self.total, "terms": self.terms, "hits": [h.as_dict() for h in self.hits]}


def _weighted_tf(doc: Doc) -> dict[str, float]:
    tf: dict[str, float] = {}
    for fld, text in (("title", doc.title), ("tags", " ".join(map(str, doc.tags))), ("description", doc.description)):
        w = FIELD_WEIGHTS[fld]
        for t in terms(text):
            tf[t] = tf.get(t, 0.0) + w
    return tf


# -- the index ------------------------------------------------------------------------------------

_COLS = ("key", "kind", "title", "description", "tags", "org", "org_name", "region", "grade", "mode", "price_fen",
         "source", "stamp")


class CatalogIndex:
    """An append-mostly inverted index: postings per term, one numpy array per document attribute.

    Documents are kept column-wise (lists of strings and tuples, which the garbage collector does
    not track) and postings as numpy arrays, so a 100,000-document index adds only a few hundred
    objects for the cyclic collector to walk: a full collection stays short and so does the p99.
    """

    def __init__(self) -> None:
        self.cols: dict[str, list] = {c: [] for c in _COLS}
        self.pos: dict[str, int] = {}  # doc key -> position
        self.alive: list[bool] = []
        self.length: list[float] = []
        self._frozen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._pending: dict[str, tuple[list[int], list[float]]] = {}
        self._arrays: dict[str, np.ndarray] | None = None
        self._regions: dict[str, int] = {}
        self.dead = 0

    def __len__(self) -> int:
        return len(self.alive) - self.dead

    def doc(self, i: int) -> Doc:
        c = self.cols
        return Doc(*(c[name][i] if name != "tags" else list(c[name][i]) for name in _COLS))

    def add(self, doc: Doc) -> None:
        if doc.key in self.pos:
            self.remove(doc.key)
        i = len(self.alive)
        tf = _weighted_tf(doc)
        for name in _COLS:
            value = getattr(doc, name)
            self.cols[name].append(tuple(map(str, value)) if name == "tags" else value)
        self.pos[doc.key] = i
        self.alive.append(True)
        self.length.append(sum(tf.values()))
        self._regions.setdefault(doc.region, len(self._regions))
        for t, w in tf.items():
            ids, ws = self._pending.setdefault(t, ([], []))
            ids.append(i)
            ws.append(w)
        self._arrays = None

    def remove(self, key: str) -> None:
        i = self.pos.pop(key, None)
        if i is not None and self.alive[i]:
            self.alive[i] = False
            self.dead += 1
            self._arrays = None

    def freeze(self) -> None:
        """Move every pending posting into its term's arrays (after a bulk load)."""
        for t in list(self._pending):
            self.postings(t)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        got = self._frozen.get(term)
        more = self._pending.pop(term, None)
        if more is not None:
            ids, ws = np.asarray(more[0], dtype=np.int64), np.asarray(more[1], dtype=np.float64)
            got = (ids, ws) if got is None else (np.concatenate([got[0], ids]), np.concatenate([got[1], ws]))
            self._frozen[term] = got
        return got if got is not None else (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))

    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            c = self.cols
            alive = np.asarray(self.alive, dtype=bool)
            length = np.asarray(self.length, dtype=np.float64)
            self._arrays = {
                "alive": alive, "length": length,
                "avg_length": np.asarray(float(length[alive].mean()) if alive.any() else 1.0),
                "region": np.asarray([self._regions[r] for r in c["region"]], dtype=np.int64),
                "grade": np.asarray([GRADES.index(g) if g in GRADES else len(GRADES) for g in c["grade"]],
                                    dtype=np.int64),
                "mode": np.asarray(c["mode"], dtype=object),
                "price": np.asarray([-1 if p is None else p for p in c["price_fen"]], dtype=np.int64),
                "stamp": np.asarray(c["stamp"], dtype=np.float64),
                "external": np.asarray([k == "external" for k in c["kind"]], dtype=bool),
            }
        return self._arrays

    # -- query ----------------------------------------------------------------------------------

    def mask(self, *, region: str | None, grade: str | None, mode: str | None,
             price_min: int | None, price_max: int | None, include_external: bool = True) -> np.ndarray:
        a = self.arrays()
        m = a["alive"].copy()
        if not include_external:
            m &= ~a["external"]
        if region:
            wanted = [ix for name, ix in self._regions.items() if name == region or name.startswith(region + "-")]
            m &= np.isin(a["region"], wanted)
        if grade:
            m &= a["grade"] <= GRADES.index(grade)
        if mode:
            m &= a["mode"] == mode
        if price_min is not None:
            m &= a["price"] >= price_min
        if price_max is not None:
            m &= (a["price"] >= 0) & (a["price"] <= price_max)
        return m

    def search(self, q: str, *, limit: int = 20, offset: int = 0, **filters) -> SearchResult:
        qt = query_terms(q)
        m = self.mask(**filters)
        a = self.arrays()
        n = max(len(self), 1)
        if not qt:
            ix = np.flatnonzero(m)
            order = ix[np.argsort(-a["stamp"][ix], kind="stable")][offset:offset + limit]
            return SearchResult(len(ix), qt, [Hit(self.doc(i), 0.0) for i in order.tolist()])
        avg = float(a["avg_length"])
        scores = np.zeros(len(self.alive), dtype=np.float64)
        for t in qt:
            ids, tf = self.postings(t)
            if not len(ids):
                continue
            df = int(a["alive"][ids].sum())
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = K1 * (1.0 - B + B * a["length"][ids] / avg)
            scores[ids] += idf * tf * (K1 + 1.0) / (tf + norm)
        scores[~m] = 0.0
        ix = np.flatnonzero(scores)
        want = min(offset + limit, len(ix))
        if want == 0:
            return SearchResult(len(ix), qt, [])
        top = ix[np.argpartition(-scores[ix], want - 1)[:want]] if want < len(ix) else ix
        top = top[np.lexsort((top, -scores[top]))][offset:offset + limit]  # score, then position (stable)
        return SearchResult(len(ix), qt, [Hit(self.doc(i), float(scores[i])) for i in top.tolist()])


# -- loading from the database --------------------------------------------------------------------

def _component_docs(s: Session, ids: list[str] | None = None) -> list[Doc]:
    # only the two JSON fields search needs, extracted by the database (json_extract / ->>)
    q = (select(Component.id, Component.title, Component.description, Component.tags, Component.org_id,
                Organization.display_name, Organization.region, Component.gate["scan_grade"].as_string(),
                ScanReport.grade, Component.policy["mode"].as_string(), Component.price_fen, Component.listed_at)
         .join(Organization, Organization.id == Component.org_id)
         .outerjoin(ScanReport, ScanReport.asset_id == Component.asset_id)
         .where(Component.state == "listed"))
    if ids is not None:
        q = q.where(Component.id.in_(ids))
    out = []
    for (cid, title, desc, tags, org, org_name, region, gate_grade, asset_grade, mode, price, listed_at) in s.execute(q):
        out.append(Doc(cid, "component", title, desc or "", list(tags or []), org, org_name, region or "",
                       gate_grade or asset_grade or "", mode or "", price, None,
                       listed_at.timestamp() if listed_at else 0.0))
    return out


def _external_docs(s: Session) -> list[Doc]:
    return [Doc("ext:" + e.id, "external", e.title, e.description, list(e.tags or []), "", e.publisher, e.region,
                "", e.mode, e.price_fen, e.source, e.imported_at.timestamp())
            for e in s.scalars(select(ExternalListing))]


# Audit actions that change what the catalog shows. Every state change appends an audit entry in
# its own transaction, so the log is the change feed: new entries since the last sync name the
# components to re-read (subject ``cmp_…``); an import re-reads the external listings.
CATALOG_ACTIONS = ("component.", "review.", "catalog.")


@dataclass
class _Mirror:
    """One database's index and the audit position it reflects."""

    index: CatalogIndex = field(default_factory=CatalogIndex)
    seq: int | None = None  # the audit tree size the index reflects
    checked: float = 0.0
    # held while syncing *and* while searching: an in-place update must not run under a reader
    # (searches take ~1 ms of CPU under the GIL, so serialising them costs little)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def sync(self, ex: Exchange, *, force: bool = False) -> CatalogIndex:
        with self.lock:
            if not force and time.monotonic() - self.checked < SYNC_SECONDS:
                return self.index
            with ex.db.read() as s:  # never queue searches behind a writer's lock
                size = s.scalar(select(AuditTree.size).where(AuditTree.id == 1)) or 0
                if self.seq is None or force:
                    self._rebuild(s)
                elif size != self.seq:
                    self._apply(s, self.seq)
                self.seq = size
            self.checked = time.monotonic()
            return self.index

    def _rebuild(self, s: Session) -> None:
        idx = CatalogIndex()
        for doc in _component_docs(s) + _external_docs(s):
            idx.add(doc)
        idx.freeze()
        self.index = idx

    def _apply(self, s: Session, since: int) -> None:
        changes = s.execute(select(AuditEvent.action, AuditEvent.subject)
                            .where(AuditEvent.seq > since,
                                   or_(*(AuditEvent.action.startswith(p) for p in CATALOG_ACTIONS)))).all()
        components = sorted({subj for _a, subj in changes if subj.startswith("cmp_")})
        if any(a.startswith("catalog.") for a, _s in changes) or self.index.dead > len(self.index):
            self._rebuild(s)
            return
        idx = self.index
        listed = {d.key: d for d in _component_docs(s, components)} if components else {}
        for cid in components:
            idx.remove(cid)
            if cid in listed:
                idx.add(listed[cid])


_MIRRORS: dict[str, _Mirror] = {}
_MIRRORS_LOCK = threading.Lock()


def _mirror(ex: Exchange) -> _Mirror:
    with _MIRRORS_LOCK:
        return _MIRRORS.setdefault(ex.settings.database_url, _Mirror())


def index_of(ex: Exchange, *, force: bool = False) -> CatalogIndex:
    """The exchange's catalog index, brought up to date (keyed by database URL: one per database)."""
    return _mirror(ex).sync(ex, force=force)


def is_current(ex: Exchange) -> bool:
    """Whether a search now would use the index as it is (no sync due, no one syncing): then it
    costs tens of microseconds, and an async caller may run it inline."""
    mirror = _MIRRORS.get(ex.settings.database_url)
    if mirror is None or mirror.seq is None or time.monotonic() - mirror.checked >= SYNC_SECONDS:
        return False
    if not mirror.lock.acquire(blocking=False):
        return False
    mirror.lock.release()
    return True


def invalidate(ex: Exchange) -> None:
    """Call after a change the next search must see at once (listing, delisting, import)."""
    mirror = _MIRRORS.get(ex.settings.database_url)
    if mirror is not None:
        mirror.checked = 0.0


# -- the service ----------------------------------------------------------------------------------

def check_filters(*, region: str | None, grade: str | None, mode: str | None, price_min: int | None,
                  price_max: int | None, limit: int, offset: int) -> None:
    if grade and grade not in GRADES:
        raise UsageError("search.bad_filter", f"grade must be one of {', '.join(GRADES)}, got {grade!r}")
    if mode and mode not in MODES:
        raise UsageError("search.bad_filter", f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    for name, v in (("price_min", price_min), ("price_max", price_max)):
        if v is not None and v < 0:
            raise UsageError("search.bad_filter", f"{name} is in fen and must not be negative")
    if price_min is not None and price_max is not None and price_min > price_max:
        raise UsageError("search.bad_filter", "price_min is above price_max")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise UsageError("search.bad_filter", f"limit must be 1..{MAX_LIMIT} and offset >= 0")
    if region is not None and len(region) > 64:
        raise UsageError("search.bad_filter", "region is at most 64 characters")


def search(ex: Exchange, q: str = "", *, region: str | None = None, grade: str | None = None,
           mode: str | None = None, price_min: int | None = None, price_max: int | None = None,
           limit: int = 20, offset: int = 0, include_external: bool = True) -> SearchResult:
    """Ranked catalog search (see the module docstring); the API, CLI and console call this."""
    region = (region or "").strip() or None
    check_filters(region=region, grade=grade or None, mode=mode or None, price_min=price_min,
                  price_max=price_max, limit=limit, offset=offset)
    if len(q or "") > MAX_QUERY:
        raise UsageError("search.bad_query", f"the query is at most {MAX_QUERY} characters")
    mirror = _mirror(ex)
    with mirror.lock:
        return mirror.sync(ex).search(q, limit=limit, offset=offset, region=region, grade=grade or None,
                                      mode=mode or None, price_min=price_min, price_max=price_max,
                                      include_external=include_external)
