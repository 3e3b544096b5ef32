"""Demands (场景需求, RFQ) and bids.

A buyer posts what it needs: data (title, description, tags, region), optionally compute in the
scheduler's job shape, a budget in fen and a deadline. Posting finds matching listed components
(catalog search) and pools that pass the scheduler's filters, notifies their orgs, and runs the
reverse auction: every feasible pool bids automatically from its price plan (``auction.py``).
Providers answer with data bids (a listed component, possibly published for the occasion, at a
price per query); compute providers may add typed pool bids. The buyer compares the bids and
accepts at most one data bid and the compute auction's winner: **one transaction** creates the
contract (policy frozen from the component, the bid's price per query) with its escrow hold and
holds the compute price, marks the bids and the demand, notifies, and appends the audit entries
— all or nothing. The compute hold is used by the first job under the contract that the awarded
pool can take, or voided (``awards.py``). Open demands past their deadline are closed by ``sweep``,
which ``suanshu serve`` runs on a timer (``sweeper``); it also voids the compute hold of an awarded
demand past its deadline that no job used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.compute.models import Pool
from suanshu.core import text
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import Conflict, NotFound, Refused, UsageError
from suanshu.core.ids import new_id
from suanshu.core.money import format_fen
from suanshu.core.orgs import Organization, Role
from suanshu.core.periodic import Periodic
from suanshu.market import auction, awards, review, search, settlement
from suanshu.market import components as component_service
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component, Contract
from suanshu.market.paging import window
from suanshu.market.tables import Auction, Bid, Demand, Notification, PoolOffer
from suanshu.policy.model import Policy

MAX_DAYS = 366
MATCH_LIMIT = 10
CONTRACT_DAYS = 365


@dataclass(frozen=True)
class DemandSpec:
    title: str
    budget_fen: int
    deadline: datetime
    description: str = ""
    tags: tuple[str, ...] = ()
    region: str = ""
    compute: dict | None = None  # the scheduler's job shape (``id`` optional)
    purpose: str = ""


@dataclass
class Board:
    """A demand with the bids the viewer may see, compared side by side."""

    demand: Demand
    bids: list[Bid]
    auction: dict | None  # the compute auction as the viewer may see it (auction.visible_json)
    names: dict[str, str] = field(default_factory=dict)  # org and pool ids -> display names
    winner: str | None = None  # the compute bid that would win now (buyer's view of an open demand)


# -- posting --------------------------------------------------------------------------------------

def _check_spec(spec: DemandSpec) -> None:
    if not spec.title.strip():
        raise UsageError("demand.invalid", "a demand needs a title")
    text.check_length("title", spec.title, text.TITLE)
    text.check_length("description", spec.description, text.BODY)
    text.check_length("purpose", spec.purpose, text.NOTE)
    text.check_tags(list(spec.tags))
    if not isinstance(spec.budget_fen, int) or spec.budget_fen <= 0:
        raise UsageError("demand.invalid", "the budget must be a positive integer number of fen")
    if spec.deadline.tzinfo is None:
        raise UsageError("demand.invalid", "the deadline needs a time zone (UTC ISO-8601)")
    now = utcnow()
    if not now < spec.deadline <= now + timedelta(days=MAX_DAYS):
        raise UsageError("demand.invalid", f"the deadline must be in the future and within {MAX_DAYS} days")


def post(ex: Exchange, actor: Actor, spec: DemandSpec) -> Demand:
    """Publish a demand, notify matching providers and compute providers, run the compute auction."""
    actor.require(Role.BUYER)
    _check_spec(spec)
    job = auction.parse_job(spec.compute, "demand") if spec.compute is not None else None
    # what matches providers' products: the title and tags first, then as much description as a search takes
    query = " ".join([spec.title, *spec.tags, spec.description])[:search.MAX_QUERY]
    hits = [h for h in search.search(ex, query, limit=MATCH_LIMIT, include_external=False).hits
            if h.doc.org != actor.org_id]
    demand_id = new_id("dmd")
    with ex.db.transaction() as s:
        outcome, pools_ok = None, []
        if job is not None:
            hours_left = Fraction(int((spec.deadline - utcnow()).total_seconds()), 3600)
            offers = auction.standing_offers(s)
            outcome = auction.decide(job, offers, hours_left)
            free = {b.pool for b in outcome.bids if b.feasible and not b.price_fen}
            pools_ok = [b.pool for b in outcome.bids if b.feasible]  # all notified, a free pool too
            if free:  # a plan pricing the job at 0 does not bid (see bid): the auction runs without it
                outcome = auction.decide(job, [o for o in offers if o.pool.id not in free], hours_left)
        pool_orgs = {pid: org for pid, org in s.execute(select(Pool.id, Pool.org_id).where(Pool.id.in_(pools_ok)))}
        demand = Demand(id=demand_id, buyer_org_id=actor.org_id, title=spec.title.strip(),
                        description=spec.description, tags=list(spec.tags), region=spec.region,
                        compute=auction._job_dict(job) if job else None, purpose=spec.purpose,
                        budget_fen=spec.budget_fen, deadline=spec.deadline, state="open",
                        matches={"components": [h.doc.key for h in hits], "pools": pools_ok,
                                 "orgs": sorted({h.doc.org for h in hits} | set(pool_orgs.values()))},
                        awarded=None)
        s.add(demand)
        s.flush()
        audit.append(s, actor=actor.label, action="demand.post", subject=demand_id,
                     payload={"buyer": actor.org_id, "title": demand.title, "tags": demand.tags,
                              "region": demand.region, "compute": demand.compute, "budget_fen": spec.budget_fen,
                              "deadline": iso(spec.deadline), "matches": demand.matches})
        if outcome is not None:
            rec = auction.record(s, actor.label, outcome, requester_org_id=actor.org_id, demand_id=demand_id)
            for b in outcome.bids:
                if b.feasible:
                    s.add(Bid(id=new_id("bid"), demand_id=demand_id, bidder_org_id=pool_orgs[b.pool], kind="compute",
                              pool_id=b.pool, price_fen=b.price_fen, note="price plan", auto=True,
                              detail={**b.as_dict(), "auction": rec.id}, state="submitted"))
        for org_id in demand.matches["orgs"]:
            _notify(s, org_id, "demand.match", demand_id, title=demand.title)
    return demand


# What a notification says, by sentence (the kind, or bid.lapsed): the API's and CLI's text. A row keeps
# the sentence and its parameters as JSON in ``message``, so the console says it in the viewer's language
# (web/demands.py); rows written before hold the Chinese text itself and are shown as they are.
NOTICES = {
    "demand.match": "新的场景需求与您的产品或算力匹配：{title}",
    "bid.received": "{bidder} 对需求“{title}”报价",
    "bid.accepted": "您对需求“{title}”的报价已中标",
    "bid.rejected": "您对需求“{title}”的报价未中标",
    "bid.lapsed": "需求“{title}”已过期，报价失效",
    "demand.expired": "您的需求“{title}”已过期关闭",
}


def _notify(s: Session, org_id: str, kind: str, subject: str, say: str | None = None, **params: str) -> None:
    say = say or kind
    s.add(Notification(id=new_id("ntf"), org_id=org_id, kind=kind, subject=subject,
                       message=NOTICES[say].format_map(params), params={"say": say, **params}))


def notice(n: Notification) -> tuple[str, dict[str, str]] | None:
    """A notification's sentence and parameters; None for a row written before they were kept."""
    data = n.params
    if not isinstance(data, dict) or data.get("say") not in NOTICES:
        return None
    return data["say"], {k: str(v) for k, v in data.items() if k != "say"}


# -- bidding --------------------------------------------------------------------------------------

def _open_demand(s: Session, demand_id: str, *, lock: bool = False) -> Demand:
    q = select(Demand).where(Demand.id == demand_id)
    demand = s.scalar(q.with_for_update() if lock else q)
    if demand is None:
        raise NotFound("demand.not_found", f"no demand {demand_id!r}; see `suanshu demand list`")
    if demand.state != "open":
        raise Conflict("demand.closed", f"demand {demand_id} is {demand.state}")
    if demand.deadline <= utcnow():
        raise Conflict("demand.expired", f"demand {demand_id} passed its deadline {iso(demand.deadline)}")
    return demand


def bid(ex: Exchange, actor: Actor, demand_id: str, *, price_fen: int, component: str | None = None,
        pool: str | None = None, note: str = "",
        new_component: component_service.ComponentSpec | None = None) -> Bid:
    """Answer a demand with a listed component (or submit a new one for review) or a pool, at a price.

    Data bids: ``price_fen`` per query under the contract. Compute bids: ``price_fen`` for the job.
    """
    if sum(x is not None for x in (component, pool, new_component)) != 1:
        raise UsageError("bid.invalid", "bid with exactly one of: a component, a new component, a pool")
    if not isinstance(price_fen, int) or isinstance(price_fen, bool) or price_fen < 0:
        raise UsageError("bid.invalid", "the price must be a non-negative integer number of fen")
    if pool is not None and price_fen == 0:
        # An award is a price held in escrow for the job; 0 fen holds nothing and would beat every
        # other bid, however it behaves. Free compute is a pool priced at 0 for contract jobs.
        raise UsageError("bid.zero_price", "a compute bid is at least 1 fen: the award holds its price "
                                           "for the job, and nothing cannot be held")
    with ex.db.transaction() as s:  # fail fast, before publishing anything
        demand = _open_demand(s, demand_id)
        if demand.buyer_org_id == actor.org_id:
            raise Refused("bid.own_demand", "an org cannot bid on its own demand")
        if price_fen > demand.budget_fen:
            raise Refused("bid.over_budget", f"the price is above the demand's budget ({format_fen(demand.budget_fen)})")
    if new_component is not None:
        # a component made for the demand is reviewed like any other: the bid stands meanwhile,
        # and acceptance needs it listed
        component = review.submit(ex, actor, new_component).id
    with ex.db.transaction() as s:
        demand = _open_demand(s, demand_id, lock=True)
        if pool is not None:
            actor.require(Role.COMPUTE)
            kind, target, detail = "compute", _own_pool(s, actor, pool), {}
            if demand.compute is None:
                raise Refused("bid.no_compute_needed", "this demand asks for no compute")
            job = auction.parse_job(demand.compute, "demand")
            bad = auction.infeasibility(job, auction.pool_spec(target))
            if bad:
                raise Refused("bid.infeasible", f"{bad[1]} ({bad[0]})", reason_code=bad[0])
            detail = {"cost_fen": auction.bid_of(job, auction.Offer(auction.pool_spec(target)), None).cost_fen}
        else:
            actor.require(Role.PROVIDER)
            kind, detail = "data", {}
            target = component_service.get_component(s, actor, component)
            if target.org_id != actor.org_id or target.state not in ("listed", "in_review"):
                raise Refused("bid.not_your_listing",
                              f"bid with a component of {actor.org_name} that is listed or in review")
        row = Bid(id=new_id("bid"), demand_id=demand.id, bidder_org_id=actor.org_id, kind=kind,
                  component_id=target.id if kind == "data" else None, pool_id=target.id if kind == "compute" else None,
                  price_fen=price_fen, note=note, auto=False, detail=detail, state="submitted")
        s.add(row)
        s.flush()
        audit.append(s, actor=actor.label, action="bid.submit", subject=row.id,
                     payload={"demand": demand.id, "bidder": actor.org_id, "kind": kind,
                              "component": row.component_id, "pool": row.pool_id, "price_fen": price_fen})
        _notify(s, demand.buyer_org_id, "bid.received", demand.id, bidder=actor.org_name, title=demand.title)
    return row


def _own_pool(s: Session, actor: Actor, ref: str) -> Pool:
    pool = s.get(Pool, ref) or s.scalar(select(Pool).where(Pool.org_id == actor.org_id, Pool.name == ref))
    if pool is None or pool.org_id != actor.org_id:
        raise NotFound("pool.not_found", f"{actor.org_name} has no pool {ref!r}")
    return pool


# -- acceptance: one transaction ------------------------------------------------------------------

def compute_winner(demand: Demand, bids: list[Bid], pools: dict[str, tuple], *, now: datetime | None = None) -> Bid | None:
    """The reverse auction over the demand's compute bids (automatic and typed), as of ``now``: the
    cheapest feasible bid that finishes before the deadline (ties: earlier finish, then pool).
    ``pools``: pool id -> (the scheduler's PoolSpec, hours until the pool can start)."""
    if demand.compute is None:
        return None
    job = auction.parse_job(demand.compute, "demand")
    hours_left = Fraction(max(0, int((demand.deadline - (now or utcnow())).total_seconds())), 3600)
    offers = [auction.Offer(pools[b.pool_id][0], ready_hours=pools[b.pool_id][1], price_fen=b.price_fen, ref=b.id)
              for b in bids if b.kind == "compute" and b.state == "submitted" and b.pool_id in pools
              and b.price_fen > 0]  # a 0-fen bid stored before bid.zero_price cannot be held: it never wins
    outcome = auction.decide(job, offers, hours_left)
    return next(b for b in bids if b.id == outcome.winner.ref) if outcome.winner else None


def _pool_terms(s: Session, pool_ids: list[str]) -> dict[str, tuple]:
    ready = {o.pool_id: o.ready_hours for o in s.scalars(select(PoolOffer).where(PoolOffer.pool_id.in_(pool_ids)))}
    return {p.id: (auction.pool_spec(p), Fraction(ready.get(p.id, 0)))
            for p in s.scalars(select(Pool).where(Pool.id.in_(pool_ids)))}


def accept(ex: Exchange, actor: Actor, demand_id: str, bid_ids: list[str]) -> dict:
    """Award a demand: at most one data bid and the compute auction's winner, all in one transaction."""
    actor.require(Role.BUYER)
    if not bid_ids or len(set(bid_ids)) != len(bid_ids):
        raise UsageError("demand.bad_accept", "name the bid(s) to accept, each once")
    with ex.db.transaction() as s:
        demand = _open_demand(s, demand_id, lock=True)
        if demand.buyer_org_id != actor.org_id:
            raise NotFound("demand.not_found", f"no demand {demand_id!r} of {actor.org_name}")
        bids = list(s.scalars(select(Bid).where(Bid.demand_id == demand.id).order_by(Bid.id)))
        by_id = {b.id: b for b in bids}
        chosen = [by_id.get(i) for i in bid_ids]
        if any(b is None or b.state != "submitted" for b in chosen):
            raise NotFound("bid.not_found", "every accepted bid must be a submitted bid of this demand")
        data = [b for b in chosen if b.kind == "data"]
        compute = [b for b in chosen if b.kind == "compute"]
        if len(data) > 1 or len(compute) > 1:
            raise UsageError("demand.bad_accept", "accept at most one data bid and one compute bid")
        if compute:
            winner = compute_winner(demand, bids, _pool_terms(s, [b.pool_id for b in bids if b.pool_id]))
            if winner is None or winner.id != compute[0].id:
                raise Refused("demand.not_auction_winner",
                              "the compute award goes to the auction's winner: the cheapest feasible bid "
                              f"that meets the deadline ({winner.id if winner else 'none'})")
        compute_fen = compute[0].price_fen if compute else 0
        if compute_fen > demand.budget_fen:
            raise Refused("demand.budget_too_small",
                          f"the compute price ({format_fen(compute_fen)}) is above the budget ({format_fen(demand.budget_fen)})")
        award = {"bids": bid_ids, "contracts": [], "holds": []}
        usable_until = demand.deadline
        if data:
            contract = _sign(s, actor, demand, data[0], budget_fen=demand.budget_fen - compute_fen,
                             commission_bps=ex.settings.commission_bps)
            award["contracts"].append(contract.id)
            award["holds"].append(contract.hold_transfer_id)
            usable_until = min(usable_until, contract.expires_at)
        if compute:
            # used by the first job under the contract (awards.py); the timeout frees it in any case
            b = compute[0]
            b.hold_transfer_id = settlement.hold(s, actor.org_id, b.price_fen, {"demand": demand.id, "bid": b.id},
                                                 timeout=awards.hold_timeout(usable_until))
            award["holds"].append(b.hold_transfer_id)
        _close(s, actor, demand, bids, chosen, award)
    return award


def _sign(s: Session, actor: Actor, demand: Demand, b: Bid, *, budget_fen: int, commission_bps: int) -> Contract:
    """The contract for a data bid: policy frozen from the component, the bid's price per query."""
    comp = s.get(Component, b.component_id)
    if comp is None or comp.state != "listed":
        raise Refused("contract.component_not_listed",
                      "the bid's component is not listed (still in review, or delisted): it cannot be signed for")
    if budget_fen < b.price_fen:
        raise Refused("demand.budget_too_small",
                      f"after the compute price the budget ({budget_fen} fen) does not cover one query ({b.price_fen})")
    terms = Policy.from_dict(comp.policy)
    terms.check_expiry()
    terms.check_purpose(demand.purpose or None)
    contract_id, now = new_id("ctr"), utcnow()
    hold_id = settlement.hold(s, actor.org_id, budget_fen, {"contract": contract_id, "demand": demand.id})
    contract = Contract(id=contract_id, buyer_org_id=actor.org_id, provider_org_id=comp.org_id, component_id=comp.id,
                        component_version=comp.version, policy=dict(comp.policy), price_fen=b.price_fen,
                        commission_bps=commission_bps, budget_fen=budget_fen, spent_fen=0, hold_transfer_id=hold_id,
                        purpose=demand.purpose, state="active", created_at=now,
                        expires_at=min(now + timedelta(days=CONTRACT_DAYS), terms.expiry or now + timedelta(days=CONTRACT_DAYS)))
    s.add(contract)
    s.flush()
    b.contract_id = contract.id
    audit.append(s, actor=actor.label, action="contract.sign", subject=contract_id,
                 payload={"buyer": actor.org_id, "provider": comp.org_id, "component": comp.id,
                          "version": comp.version, "policy": contract.policy, "price_fen": b.price_fen,
                          "commission_bps": contract.commission_bps, "budget_fen": budget_fen, "hold": hold_id,
                          "purpose": demand.purpose, "expires_at": contract.expires_at, "demand": demand.id,
                          "bid": b.id})
    return contract


def _close(s: Session, actor: Actor, demand: Demand, bids: list[Bid], chosen: list[Bid], award: dict) -> None:
    won = {b.id for b in chosen}
    for b in bids:
        if b.state != "submitted":
            continue
        b.state = "accepted" if b.id in won else "rejected"
        _notify(s, b.bidder_org_id, f"bid.{b.state}", demand.id, title=demand.title)
    demand.state, demand.awarded, demand.closed_at = "awarded", award, utcnow()
    audit.append(s, actor=actor.label, action="demand.award", subject=demand.id,
                 payload={**award, "prices_fen": {b.id: b.price_fen for b in chosen}})


# -- expiry ---------------------------------------------------------------------------------------

def sweep(ex: Exchange, *, now: datetime | None = None, actor_label: str = "system:sweeper") -> list[str]:
    """Close every open demand past its deadline (bids lapse; nothing was held for them), and void
    the compute hold of every awarded demand past its deadline that no job used (``awards.sweep``)."""
    now = now or utcnow()
    closed = []
    with ex.db.transaction() as s:
        awards.sweep(s, now=now, actor=actor_label)
        for demand in s.scalars(select(Demand).where(Demand.state == "open", Demand.deadline <= now)
                                .order_by(Demand.id).with_for_update()):
            demand.state, demand.closed_at = "expired", now
            lapsed = list(s.scalars(select(Bid).where(Bid.demand_id == demand.id, Bid.state == "submitted")))
            for b in lapsed:
                b.state = "lapsed"
                _notify(s, b.bidder_org_id, "demand.expired", demand.id, "bid.lapsed", title=demand.title)
            _notify(s, demand.buyer_org_id, "demand.expired", demand.id, title=demand.title)
            audit.append(s, actor=actor_label, action="demand.expire", subject=demand.id,
                         payload={"deadline": iso(demand.deadline), "lapsed_bids": [b.id for b in lapsed]})
            closed.append(demand.id)
    return closed


def sweeper(ex: Exchange, interval: float) -> Periodic:
    """``sweep`` every ``interval`` seconds beside the server (``suanshu serve``); ``.start()``, ``.stop()``.

    Each sweep is one short transaction (a row lock per expired demand), so it does not hold up requests.
    """
    return Periodic("demand-sweeper", interval, lambda: sweep(ex))


# -- reading --------------------------------------------------------------------------------------

def _visible(actor: Actor, demand: Demand, bidders: set[str]) -> bool:
    """Open demands are a public board; closed ones stay visible to their buyer and bidders."""
    return (demand.state == "open" or demand.buyer_org_id == actor.org_id or actor.org_id in bidders
            or actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR))


def list_demands(ex: Exchange, actor: Actor, *, state: str | None = None, mine: bool = False,
                 after: str | None = None, limit: int | None = None) -> list[Demand]:
    """Newest first; the visibility of ``_visible`` in SQL, so ``after``/``limit`` pages stay full."""
    bid_on = select(Bid.demand_id).where(Bid.bidder_org_id == actor.org_id)
    with ex.db.transaction() as s:
        q = select(Demand).order_by(Demand.id.desc())
        if state:
            q = q.where(Demand.state == state)
        if mine:
            q = q.where(or_(Demand.buyer_org_id == actor.org_id, Demand.id.in_(bid_on)))
        if not (actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)):
            q = q.where(or_(Demand.state == "open", Demand.buyer_org_id == actor.org_id, Demand.id.in_(bid_on)))
        return list(s.scalars(window(q, Demand.id, after, limit, newest_first=True)))


def show(ex: Exchange, actor: Actor, demand_id: str) -> Board:
    """The demand and its bids: the buyer (and the operator) see every bid, a bidder its own (sealed bids)."""
    with ex.db.transaction() as s:
        demand = s.get(Demand, demand_id)
        bids = list(s.scalars(select(Bid).where(Bid.demand_id == demand_id))) if demand else []
        if demand is None or not _visible(actor, demand, {b.bidder_org_id for b in bids}):
            raise NotFound("demand.not_found", f"no demand {demand_id!r} visible to {actor.org_name}")
        winner = None
        if not (demand.buyer_org_id == actor.org_id or actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)):
            bids = [b for b in bids if b.bidder_org_id == actor.org_id]
        elif demand.state == "open" and demand.compute is not None:
            # the reverse auction as acceptance would decide it now (typed bids included)
            best = compute_winner(demand, bids, _pool_terms(s, [b.pool_id for b in bids if b.pool_id]))
            winner = best.id if best else None
        bids.sort(key=lambda b: (b.kind, b.price_fen, b.id))
        auc = s.scalar(select(Auction).where(Auction.demand_id == demand_id).order_by(Auction.id.desc()).limit(1))
        auc_view = auction.visible_json(s, actor, auc) if auc is not None else None
        orgs = {demand.buyer_org_id, *(b.bidder_org_id for b in bids)}
        names = {oid: name for oid, name in s.execute(select(Organization.id, Organization.display_name)
                                                     .where(Organization.id.in_(orgs)))}
        names |= {pid: name for pid, name in s.execute(select(Pool.id, Pool.name).where(
            Pool.id.in_([b.pool_id for b in bids if b.pool_id])))}
        return Board(demand, bids, auc_view, names, winner)


def demand_json(d: Demand) -> dict:
    return {"id": d.id, "buyer": d.buyer_org_id, "title": d.title, "description": d.description, "tags": d.tags,
            "region": d.region, "compute": d.compute, "purpose": d.purpose, "budget_fen": d.budget_fen,
            "deadline": iso(d.deadline), "state": d.state, "matches": d.matches, "awarded": d.awarded,
            "created_at": iso(d.created_at), "closed_at": iso(d.closed_at)}


def bid_json(b: Bid, names: dict[str, str] | None = None) -> dict:
    return {"id": b.id, "demand": b.demand_id, "bidder": b.bidder_org_id,
            "bidder_name": (names or {}).get(b.bidder_org_id), "kind": b.kind, "component": b.component_id,
            "pool": b.pool_id, "price_fen": b.price_fen, "note": b.note, "auto": b.auto, "state": b.state,
            "detail": b.detail,
            "contract": b.contract_id, "hold": b.hold_transfer_id, "created_at": iso(b.created_at)}


def board_json(board: Board) -> dict:
    out = demand_json(board.demand)
    out["bids"] = [bid_json(b, board.names) for b in board.bids]
    out["buyer_name"] = board.names.get(board.demand.buyer_org_id)
    out["auction"] = board.auction
    out["compute_winner"] = board.winner
    return out


def notifications(ex: Exchange, actor: Actor, *, unread: bool = False, limit: int | None = 100,
                  after: str | None = None) -> list[Notification]:
    """The org's inbox, newest first (ids are time-ordered); ``after``/``limit`` page through it."""
    with ex.db.transaction() as s:
        q = select(Notification).where(Notification.org_id == actor.org_id)
        if unread:
            q = q.where(Notification.read.is_(False))
        return list(s.scalars(window(q.order_by(Notification.id.desc()), Notification.id, after, limit,
                                     newest_first=True)))


def mark_read(ex: Exchange, actor: Actor, notification_id: str) -> Notification:
    with ex.db.transaction() as s:
        n = s.get(Notification, notification_id)
        if n is None or n.org_id != actor.org_id:
            raise NotFound("notification.not_found", f"no notification {notification_id!r}")
        n.read = True
        return n


def notification_json(n: Notification) -> dict:
    return {"id": n.id, "kind": n.kind, "subject": n.subject, "message": n.message, "read": n.read,
            "created_at": iso(n.created_at)}
