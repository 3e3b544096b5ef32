"""Run by test_sequencer's crash test: clients submit linked chains through a sequencer and print
each acknowledged chain, until the parent kills this process with SIGKILL mid-batch."""

from __future__ import annotations

import sys
import threading

from suanshu.core.db import Database
from suanshu.core.settings import load_settings
from suanshu.ledger.sequencer import Sequencer

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from crash_chains import chain  # noqa: E402


def main(home: str, url: str, bank: str, a: str, b: str, clients: int) -> None:
    db = Database(load_settings(home, url))
    seq = Sequencer(db, max_events=300)
    out = threading.Lock()

    def client(c: int) -> None:
        i = 0
        while True:
            results = seq.create_transfers(chain(c, i, bank, a, b))
            if [str(r) for r in results] != ["ok"] * 3:
                raise SystemExit(f"unexpected {results}")
            with out:
                sys.stdout.write(f"ack {c} {i}\n")
                sys.stdout.flush()
            i += 1

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(*sys.argv[1:6], int(sys.argv[6]))
