"""Compute awards: a demand's accepted compute bid, used by one job under the demand's contract.

Accepting a demand's compute bid holds its price (``demands.accept``) apart from the data
contract's budget. The award is **used once**, by the first job under that contract that the
awarded pool can take:

- **bind** (``jobs.place``): the job asks for no more than the demand's compute needs (else
  ``job.exceeds_award`` at submit) and the awarded pool passes the scheduler's filters and has room
  now: the job is placed there, and its own hold covers only the data price;
- **settle** (``jobs._settle``): the compute is charged at the bid's price, pro rata of the billed
  seconds over the demand's hours (never more than the bid), posted from the compute hold — the
  rest of the hold is released by the same partial post — and split like any job's charge;
- **void**: the awarded pool is blocked (down, failed over) or cannot take the job, the bound job
  ends without running, the contract expires or is cancelled, or the demand's deadline passes
  with the award unused: the hold is voided, the money returns to the buyer, audited
  (``demand.award_void``). A later job under the contract is placed and priced as usual, out of
  the contract's budget (the award was a price for the demand's one compute need, not a discount).

The compute hold carries a ledger timeout: the time the award can still be bound (the earlier of
the demand's deadline and the contract's expiry) plus the longest job, so a job bound at the last
moment still settles, and money can never stay held after that even if every hook above were missed.
An award's history is ``bid.detail["award"]``; ``bid.hold_transfer_id`` is cleared once the hold is
resolved (so a live award is one with a hold).
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.compute.scheduler import Resources
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import Refused
from suanshu.ledger.engine import LedgerError
from suanshu.market import settlement
from suanshu.market.tables import Bid, Demand

MAX_JOB_HOURS = 24 * 31  # jobs.JobRequest: hours in (0, 744]
_GONE = ("pending_transfer_expired", "pending_transfer_already_voided", "pending_transfer_already_posted")


def hold_timeout(usable_until: datetime, now: datetime | None = None) -> int:
    """Seconds the compute hold lives: until the award can no longer be bound, plus the longest job."""
    now = now or utcnow()
    return max(1, int((usable_until - now).total_seconds()) + MAX_JOB_HOURS * 3600)


def for_contract(s: Session, contract_id: str, *, lock: bool = False) -> Bid | None:
    """The accepted compute bid of the demand this contract was signed for (used or not), or None."""
    demand_id = s.scalar(select(Bid.demand_id).where(Bid.contract_id == contract_id, Bid.kind == "data"))
    if demand_id is None:
        return None
    q = select(Bid).where(Bid.demand_id == demand_id, Bid.kind == "compute", Bid.state == "accepted")
    return s.scalar(q.with_for_update() if lock else q)


def _use(b: Bid) -> dict:
    return (b.detail or {}).get("award") or {}


def bound_job(b: Bid) -> str | None:
    return _use(b).get("job") if _use(b).get("state") == "bound" else None


def usable(s: Session, b: Bid | None, job_id: str, contract, now: datetime | None = None) -> bool:
    """The award may place ``job_id`` now: its hold is live, it is unbound or bound to this job, and
    neither the demand's deadline nor the contract's expiry has passed (so a job bound to it ends
    well within the hold's timeout: ``hold_timeout``)."""
    if b is None or not b.hold_transfer_id or bound_job(b) not in (None, job_id):
        return False
    return (now or utcnow()) < min(s.get(Demand, b.demand_id).deadline, contract.expires_at)


def needs(s: Session, b: Bid) -> dict:
    return s.get(Demand, b.demand_id).compute


def check_request(s: Session, b: Bid | None, job_id: str, contract, request: dict) -> None:
    """Refuse a job that asks for more than the awarded compute (while the award is live)."""
    if not usable(s, b, job_id, contract):
        return
    need = needs(s, b)
    nodes = need.get("nodes", 1)
    have = Resources.of(need["cpu"] * nodes, need["memory_gb"] * nodes,
                        {t: n * nodes for t, n in (need.get("accelerators") or {}).items()})
    ask = Resources.of(request["cpu"], request["memory_gb"], request["accelerators"])
    over = [] if ask.fits_in(have) else list(ask.shortfall(have))
    if Fraction(str(request["hours"])) > Fraction(str(need["hours"])):
        over.append(f"hours {request['hours']:g} > {need['hours']:g}")
    if over:
        raise Refused("job.exceeds_award",
                      f"the job asks for more than the demand's awarded compute (bid {b.id}): " + ", ".join(over)
                      + "; ask for no more than the demand's compute needs, or cancel the contract's award first")


def bind(b: Bid, job_id: str) -> None:
    b.detail = {**b.detail, "award": {"state": "bound", "job": job_id, "at": iso(utcnow())}}


def _resolve(b: Bid, state: str, **facts) -> str:
    hold_id = b.hold_transfer_id
    b.detail = {**b.detail, "award": {**_use(b), "state": state, "hold": hold_id, "at": iso(utcnow()), **facts}}
    b.hold_transfer_id = None
    return hold_id


def void(s: Session, b: Bid, *, buyer_org_id: str, actor: str, reason: str, message: str = "",
         job_id: str | None = None) -> str | None:
    """Release the award's compute hold (the whole of it returns to the buyer), audited; once."""
    if not b.hold_transfer_id:
        return None
    hold_id = b.hold_transfer_id
    memo = {"demand": b.demand_id, "bid": b.id, "reason": reason}
    try:
        released = settlement.release(s, hold_id=hold_id, buyer_org_id=buyer_org_id, memo=memo)
        state = "void"
    except LedgerError as err:  # the ledger's timeout already ran out (or it was resolved elsewhere)
        if err.result not in _GONE:
            raise
        released, state = None, "expired"
    _resolve(b, state, reason=reason, job=job_id or _use(b).get("job"), release=released)
    audit.append(s, actor=actor, action="demand.award_void", subject=b.demand_id,
                 payload={"bid": b.id, "pool": b.pool_id, "hold": hold_id, "amount_fen": b.price_fen,
                          "released_transfer": released, "state": state, "reason": reason, "message": message,
                          "job": job_id})
    return released


def rate(s: Session, b: Bid, billed_seconds: int) -> int:
    """The bid's price pro rata of the billed seconds over the demand's hours, at most the price."""
    hours = Fraction(str(needs(s, b)["hours"]))
    share = Fraction(b.price_fen) * billed_seconds / (hours * 3600)
    return min(b.price_fen, (2 * share.numerator + share.denominator) // (2 * share.denominator))  # half up


def charge(s: Session, b: Bid, *, amount: int, job_id: str, contract, compute_provider_org_id: str):
    """Post ``amount`` from the compute hold (a partial post releases the rest) and split it as a job's
    compute; nothing charged: the hold is voided. Returns the ``settlement.Charge`` or None."""
    if amount <= 0:
        void(s, b, buyer_org_id=contract.buyer_org_id, actor="system", reason="job.nothing_to_charge", job_id=job_id)
        return None

    def pay(hold_id):
        return settlement.charge(
            s, hold_id=hold_id, buyer_org_id=contract.buyer_org_id, provider_org_id=contract.provider_org_id,
            price=amount, remaining_after=0, commission_bps=contract.commission_bps,
            memo={"contract": contract.id, "job": job_id, "demand": b.demand_id, "bid": b.id},
            compute_provider_org_id=compute_provider_org_id, compute_fen=amount, ids_from=f"{job_id}/award")

    state = "settled"
    try:
        paid = pay(b.hold_transfer_id)
    except LedgerError as err:  # the hold's timeout ran out under the job (it should not): charge the cash
        if err.result != "pending_transfer_expired":
            raise
        paid, state = pay(None), "settled_from_cash"
    _resolve(b, state, job=job_id, charged_fen=amount, released_fen=b.price_fen - amount, transfers=paid.transfers)
    return paid


def sweep(s: Session, *, now: datetime, actor: str) -> list[str]:
    """Void the unbound awards of demands past their deadline (no job used them); the bids voided."""
    rows = s.scalars(select(Bid).join(Demand, Demand.id == Bid.demand_id)
                     .where(Demand.state == "awarded", Demand.deadline <= now, Bid.kind == "compute",
                            Bid.state == "accepted", Bid.hold_transfer_id.is_not(None))
                     .order_by(Bid.id).with_for_update())
    out = []
    for b in rows:
        if bound_job(b) is None:
            void(s, b, buyer_org_id=s.get(Demand, b.demand_id).buyer_org_id, actor=actor,
                 reason="demand.deadline_passed", message="the demand's deadline passed and no job used the award")
            out.append(b.id)
    return out


def end_with_contract(s: Session, contract, *, actor: str, reason: str) -> None:
    """The contract ended (expired, cancelled): an award no job has bound is voided."""
    b = for_contract(s, contract.id, lock=True)
    if b is not None and b.hold_transfer_id and bound_job(b) is None:
        void(s, b, buyer_org_id=contract.buyer_org_id, actor=actor, reason=reason,
             message=f"the demand's contract {contract.id} ended ({reason}) before a job used the award")
