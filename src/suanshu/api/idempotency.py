"""``Idempotency-Key`` on POSTs that move money or start work (rules: suanshu.core.idempotency).

A route takes ``idem: IdempotencyDep`` and wraps its work::

    return idem.run(body.model_dump(), lambda: do_the_work(), status=201)

Without the header the work simply runs. With it: a replay returns the stored status and body
(header ``Idempotent-Replayed: true``), the same key with a different payload is 422
``idempotency.key_reused``, a duplicate while the first is running is 409 ``idempotency.in_flight``.
Domain refusals (4xx) are stored and replayed like successes; unexpected failures and the
exchange's own (5xx: ``vault.unavailable`` 503, try again) release the key, so a retry with it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.audit import log as audit
from suanshu.core import idempotency as store
from suanshu.core.errors import SuanshuError, UsageError
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange

HEADER = "Idempotency-Key"


class Idempotency:
    def __init__(self, ex: Exchange, actor: Actor, key: str | None, method: str, path: str):
        self.ex, self.owner, self.key, self.method, self.path = ex, actor.label, key, method, path

    def run(self, payload, work: Callable[[], object], *, status: int = 200):
        if self.key is None:
            return work()
        stored, replayed = self.once(payload, work, status=status)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return JSONResponse(stored.response, status_code=stored.status, headers=headers)

    def once(self, payload, work: Callable[[], object], *, status: int = 200) -> tuple[store.Stored, bool]:
        """The stored outcome of the work under the key, and whether it was a replay: the work runs
        only the first time. A domain refusal is stored (``{"error": …}``) and raised."""
        db = self.ex.db
        stored = store.claim(db, self.owner, self.key, store.fingerprint(self.method, self.path, payload))
        if stored is not None:
            return stored, True

        def applied(session, event) -> None:
            store.mark_applied(session, self.owner, self.key, event.seq)

        token = audit.on_append.set(applied)
        try:
            result = work()
        except SuanshuError as err:
            if err.http_status >= 500:
                store.release(db, self.owner, self.key)
            else:
                store.finish(db, self.owner, self.key, err.http_status, err.to_dict())
            raise
        except BaseException:
            store.release(db, self.owner, self.key)
            raise
        finally:
            audit.on_append.reset(token)
        body = jsonable_encoder(result)
        store.finish(db, self.owner, self.key, status, body)
        return store.Stored(status, body), False


def _key(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':  # the draft's sf-string form: "8e03978e-…"
        key = key[1:-1]
    if not store.well_formed(key):
        raise UsageError("idempotency.bad_key", f"{HEADER} must be 1-255 printable ASCII characters")
    return key


async def idempotency(request: Request, ex: ExchangeDep, actor: ActorDep) -> Idempotency:  # no I/O: async
    return Idempotency(ex, actor, _key(request), request.method, request.url.path)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
