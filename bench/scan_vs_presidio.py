"""Suanshu's scanner versus Microsoft Presidio on the same seeded Chinese corpus (issue 3).

Prints JSON lines: one per engine with throughput (MB/s of UTF-8 cell text, cells/s, one core),
one per engine and type with precision / recall / F1, and the name scores on news-style text.

Presidio is configured as fairly as we can for Chinese:
- every identifier type gets a PatternRecognizer with Suanshu's own regex (lookarounds, never
  ``\\b``) and ``validate_result`` calling Suanshu's own validator, so both engines share patterns
  and check digits; the street-level address regex is shared too;
- the NLP engine is a blank ``zh`` spaCy pipeline (character segmenter, no download), created
  here, saved to a temporary directory and loaded by path; it has no NER, because no Chinese
  NER model installs from the registry without a download — so Presidio finds no person names;
- analysis is batched (``BatchAnalyzerEngine.analyze_iterator``).
Both run pinned to one CPU core, and time is the process's CPU time (``time.process_time``), the
least of ``--repeat`` runs for each engine, so other load on the machine counts as little as it
can against either (it still slows both: caches and the core's other hyperthread are shared —
each line carries the load average). Suanshu's timed scan returns its findings as an Arrow
table; the same scan with the contract's Python dicts is timed too. Matching: a prediction
counts when it overlaps a gold span of the same type in the same cell (each gold span used once).

First, before the pinning, a wall-clock run on every usable core (``run_cores``): Suanshu with a
worker process per core against one process, and Presidio's ``n_process`` against its one
process. A user's scan of a file uses every core by default; the one-core rows are the
like-for-like comparison of the engines.

Run: ``make bench`` or ``uv run --group bench python bench/scan_vs_presidio.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pyarrow as pa
from fixtures.scan_corpus import news, table

from suanshu.scan import names
from suanshu.scan.detectors import DETECTORS, TEXT_DETECTORS, detect
from suanshu.scan.report import scan_table

CONTRACT_TYPES = ("CN_RESIDENT_ID", "CN_MOBILE", "CN_LANDLINE", "EMAIL", "BANK_CARD", "CN_USCC", "CN_PASSPORT",
                  "CN_LICENSE_PLATE", "IP_ADDRESS", "GEO_COORDINATE", "PERSON_NAME", "ADDRESS")


def emit(**row) -> None:
    print(json.dumps(row, ensure_ascii=False), flush=True)


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def score(pred: list[tuple], gold: list[tuple]) -> dict[str, dict]:
    """Per type precision / recall / F1; items are (row, column, start, end, type)."""
    by_cell: dict[tuple, list] = {}
    for g in gold:
        by_cell.setdefault((g[0], g[1]), []).append(g)
    tp, fp, fn, used = Counter(), Counter(), Counter(), set()
    for p in pred:
        hit = next((g for g in by_cell.get((p[0], p[1]), [])
                    if g[4] == p[4] and g[2] < p[3] and p[2] < g[3] and g not in used), None)
        if hit:
            tp[p[4]] += 1
            used.add(hit)
        else:
            fp[p[4]] += 1
    for g in gold:
        if g not in used:
            fn[g[4]] += 1
    out = {}
    for t in CONTRACT_TYPES:
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 0.0
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 0.0
        out[t] = {"precision": round(p, 4), "recall": round(r, 4),
                  "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0, "tp": tp[t], "fp": fp[t], "fn": fn[t]}
    return out


def best_of(n: int, run):
    """The run with the least CPU time of ``n`` (the machine is shared: other load only adds)."""
    return min((run() for _ in range(max(1, n))), key=lambda r: r[1])


def cell_mb(cols: dict[str, list[str]]) -> float:
    return sum(len(c.encode("utf-8")) for col in cols.values() for c in col) / 1e6


# -- Suanshu ------------------------------------------------------------------------------------

def run_suanshu(cols: dict[str, list[str]], findings_as: str = "arrow") -> tuple[list[tuple], float]:
    """The full scan (every detector with validation, column labels, quality profile); findings
    come back as an Arrow table, or as the contract's dicts with ``findings_as="dicts"``."""
    t = pa.table(cols)
    start = time.process_time()
    report = scan_table(t, source="bench", encoding=None, findings_as=findings_as)
    seconds = time.process_time() - start
    f = report["findings"]
    if findings_as == "dicts":
        return [(x["row"], x["column"], x["start"], x["end"], x["type"]) for x in f], seconds
    return list(zip(*(f.column(k).to_pylist() for k in ("row", "column", "start", "end", "type")))), seconds


# -- Presidio -----------------------------------------------------------------------------------

def presidio_analyzer(model_dir: Path):
    import spacy
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    spacy.blank("zh").to_disk(model_dir)  # the default "char" segmenter: nothing to download
    engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "zh", "model_name": str(model_dir)}]}).create_engine()

    class Shared(PatternRecognizer):
        """A Presidio recognizer running one Suanshu detector's regex and validator."""

        def __init__(self, detector):
            self.detector = detector
            super().__init__(supported_entity=detector.type, supported_language="zh", name=type(detector).__name__,
                             patterns=[Pattern(type(detector).__name__, detector.pattern.pattern, 0.5)])

        def validate_result(self, pattern_text: str):
            return bool(self.detector.validate(pattern_text))

    registry = RecognizerRegistry(supported_languages=["zh"])
    for d in DETECTORS:
        if d.type in CONTRACT_TYPES and d not in TEXT_DETECTORS:
            registry.add_recognizer(Shared(d))
    registry.add_recognizer(PatternRecognizer(
        supported_entity="ADDRESS", supported_language="zh", name="Address",
        patterns=[Pattern("address", names._ADDRESS.pattern, 0.5)]))
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["zh"])


def run_presidio(analyzer, cols: dict[str, list[str]], n_process: int = 1,
                 clock=time.process_time) -> tuple[list[tuple], float]:
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer_engine=analyzer)
    pred = []
    start = clock()
    for col, values in cols.items():
        results = batch.analyze_iterator(values, language="zh", batch_size=256, n_process=n_process)
        for row, found in enumerate(results):
            pred.extend((row, col, r.start, r.end, r.entity_type) for r in found)
    return pred, clock() - start


def run_cores(args) -> None:
    """Wall-clock rates on every usable core: Suanshu's scan with a worker process per core
    (``scan/pool.py``) against one process, on a file-sized table (``--cores-copies`` copies of
    the dense corpus, 64k-row batches), and Presidio's own parallel mode (``n_process``: spaCy's
    pipeline in several processes; its recognizers run in the calling process) against its one
    process. Runs before the one-core pinning, which worker processes would inherit."""
    from suanshu.scan import pool

    cores = pool.usable_cores()
    big, _ = table(args.rows, seed=7, with_business=False)
    data = pa.concat_tables([pa.table(big)] * args.cores_copies).combine_chunks()
    mb = cell_mb(big) * args.cores_copies
    scan_table(data.slice(0, 2000), source="warm-up", encoding=None, workers=cores)  # forkserver up
    walls = {}
    for workers in (1, cores):
        def timed(workers=workers):
            start = time.perf_counter()
            report = scan_table(data, source="bench", encoding=None, findings_as="arrow", workers=workers)
            return report["findings_total"], time.perf_counter() - start
        found, walls[workers] = best_of(args.repeat, timed)
        emit(bench="scan_vs_presidio", engine="suanshu", corpus="dense", rows=data.num_rows, mb=round(mb, 1),
             workers=workers, wall_seconds=round(walls[workers], 2), wall_mb_per_s=round(mb / walls[workers], 2),
             findings=found, load=os.getloadavg()[0])
    small, _ = table(args.presidio_rows, seed=8, with_business=False)  # the dense corpus, as above
    p_mb = cell_mb(small)
    with tempfile.TemporaryDirectory() as tmp:
        analyzer = presidio_analyzer(Path(tmp) / "zh_blank")
        run_presidio(analyzer, {k: v[:10] for k, v in small.items()})  # warm up
        p_walls = {}
        for n in (1, cores):
            # (its n_process run costs ~5x its one-process run: once is enough)
            _, p_walls[n] = best_of(args.repeat if n == 1 else 1,
                                    lambda n=n: run_presidio(analyzer, small, n, time.perf_counter))
            emit(bench="scan_vs_presidio", engine="presidio", corpus="dense", rows=args.presidio_rows,
                 n_process=n, wall_seconds=round(p_walls[n], 2), wall_mb_per_s=round(p_mb / p_walls[n], 3),
                 load=os.getloadavg()[0])
    emit(bench="scan_vs_presidio", cores=cores, suanshu_cores_over_one=round(walls[1] / walls[cores], 2),
         presidio_cores_over_one=round(p_walls[1] / p_walls[cores], 2),
         speedup_dense_wall=round((mb / walls[cores]) / (p_mb / min(p_walls.values())), 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000, help="rows for Suanshu's throughput run")
    ap.add_argument("--presidio-rows", type=int, default=1_000, help="rows both engines are scored on")
    ap.add_argument("--news", type=int, default=2_000, help="news sentences for name scores")
    ap.add_argument("--repeat", type=int, default=2,
                    help="timed runs per engine and corpus; the least CPU time counts (both engines alike)")
    ap.add_argument("--cores-copies", type=int, default=8,
                    help="copies of the dense corpus in the every-core run (0: skip it)")
    args = ap.parse_args()
    if args.cores_copies:
        run_cores(args)
    one_core()

    # warm up (dictionaries, tables) outside the timed runs, for both engines
    run_suanshu({k: v[:20] for k, v in table(20, seed=99)[0].items()})

    # "dense": every personal column 90% filled, ~0.8 findings per cell (the worst case);
    # "orders": the same plus the ordinary columns of an order table (about half the cells).
    rates = {}
    for corpus, business in (("dense", False), ("orders", True)):
        big, _ = table(args.rows, seed=7, with_business=business)
        pred, secs = best_of(args.repeat, lambda big=big: run_suanshu(big))
        mb, cells = cell_mb(big), args.rows * len(big)
        emit(bench="scan_vs_presidio", engine="suanshu", corpus=corpus, rows=args.rows, cells=cells,
             mb=round(mb, 2), cpu_seconds=round(secs, 3), mb_per_s=round(mb / secs, 2),
             cells_per_s=round(cells / secs), findings=len(pred), findings_as="arrow",
             load=os.getloadavg()[0])
        rates[corpus] = mb / secs
        if corpus == "orders":  # the same scan with every finding as a Python dict (the JSON contract)
            _, dict_secs = best_of(args.repeat, lambda big=big: run_suanshu(big, findings_as="dicts"))
            emit(bench="scan_vs_presidio", engine="suanshu", corpus=corpus, rows=args.rows, findings_as="dicts",
                 cpu_seconds=round(dict_secs, 3), mb_per_s=round(mb / dict_secs, 2), load=os.getloadavg()[0])

    small, gold = table(args.presidio_rows, seed=8, with_business=True)
    s_pred, s_secs = best_of(args.repeat, lambda: run_suanshu(small))
    with tempfile.TemporaryDirectory() as tmp:
        analyzer = presidio_analyzer(Path(tmp) / "zh_blank")
        run_presidio(analyzer, {k: v[:10] for k, v in small.items()})  # warm up
        p_pred, p_secs = best_of(args.repeat, lambda: run_presidio(analyzer, small))
        mb, cells = cell_mb(small), args.presidio_rows * len(small)
        for engine, secs in (("suanshu", s_secs), ("presidio", p_secs)):
            emit(bench="scan_vs_presidio", engine=engine, corpus="table-scored", rows=args.presidio_rows,
                 cells=cells, mb=round(mb, 3), cpu_seconds=round(secs, 3), mb_per_s=round(mb / secs, 3),
                 cells_per_s=round(cells / secs), load=os.getloadavg()[0])
        # Presidio on the dense corpus too, so that each ratio sets both engines on one corpus
        dense_small, _ = table(args.presidio_rows, seed=8, with_business=False)
        _, pd_secs = best_of(args.repeat, lambda: run_presidio(analyzer, dense_small))
        pd_mb = cell_mb(dense_small)
        emit(bench="scan_vs_presidio", engine="presidio", corpus="dense", rows=args.presidio_rows,
             mb=round(pd_mb, 3), cpu_seconds=round(pd_secs, 3), mb_per_s=round(pd_mb / pd_secs, 3),
             load=os.getloadavg()[0])
        presidio_rates = {"orders": mb / p_secs, "dense": pd_mb / pd_secs}
        # Presidio's cost per cell does not depend on the table's size, Suanshu's falls with it
        # (fixed costs per column batch): compare the large run with Presidio's rate on the same
        # corpus, and also the same small table.
        emit(bench="scan_vs_presidio", speedup_orders=round(rates["orders"] / presidio_rates["orders"], 1),
             speedup_dense=round(rates["dense"] / presidio_rates["dense"], 1),
             speedup_same_small_table=round(p_secs / s_secs, 1))
        for engine, p in (("suanshu", s_pred), ("presidio", p_pred)):
            for t, sc in score(p, gold).items():
                emit(bench="scan_vs_presidio", engine=engine, corpus="table-scored", type=t, **sc)

        sentences = news(args.news, seed=13)
        cols = {"text": [t for t, _ in sentences]}
        gold_news = [(i, "text", s, e, t) for i, (_, spans) in enumerate(sentences) for s, e, t in spans]
        s_news = [(i, "text", m.start, m.end, m.type) for i, text in enumerate(cols["text"])
                  for m in detect(text, TEXT_DETECTORS)]
        p_news, _ = run_presidio(analyzer, cols)
        for engine, p in (("suanshu", s_news), ("presidio", p_news)):
            for t in ("PERSON_NAME", "ADDRESS"):
                emit(bench="scan_vs_presidio", engine=engine, corpus="news", sentences=args.news, type=t,
                     **score(p, gold_news)[t])


if __name__ == "__main__":
    main()
