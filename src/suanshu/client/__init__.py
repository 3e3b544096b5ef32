"""``suanshu.client``: a typed Python client for the Suanshu HTTP API (/api/v1), on httpx.

    from suanshu.client import Client, ApiError

    with Client("http://127.0.0.1:8000", token="ssk_…") as api:
        comp = api.publish("weather_city", asset="weather", policy={...}, price_fen=250)
        for c in api.components(state="listed"):      # follows next_cursor
            ...
        contract = api.sign("weather_city", budget_fen=10_000)
        answer = api.query(contract.id, "SELECT city, count(*) FROM weather_city GROUP BY city")

Every error the API answers is raised as ``ApiError`` with its stable ``code`` (``auth.role_required``,
``query.star``, …), the HTTP status and the message. Calls that move money or start work (upload,
publish, sign, query, deposit; jobs when added) send an ``Idempotency-Key`` generated per call, and
are retried with the same key after a connection failure, so a retry never runs the work twice;
those and reads are also retried on 503 (the server's ``Retry-After``, else backing off), which the
exchange answers when a store it needs cannot be reached and nothing was done.
Adding a resource: a dataclass below (fields named as in the JSON), then methods built on
``_get``/``_post``/``_pages`` — e.g. jobs: ``submit_job`` posts ``/contracts/{id}/jobs`` with
``idempotent=True``.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = ["ApiError", "Asset", "Balance", "Client", "Component", "Contract", "Org", "QueryResult", "Token"]

T = TypeVar("T")


class ApiError(Exception):
    """An error answer of the API: ``{"error": {"code", "message", "details"?}}`` and its status."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(f"[{code}] {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def _load(cls: type[T], data: dict) -> T:
    """Build a dataclass from JSON, ignoring fields a newer server adds."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Org:
    id: str
    name: str
    display_name: str
    roles: list[str]
    region: str
    token_roles: list[str] | None = None  # set by me(): what this token may do


@dataclass(frozen=True)
class Token:
    id: str
    name: str
    roles: list[str]
    created_at: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class Asset:
    id: str
    org: str
    name: str
    format: str
    rows: int
    bytes: int
    columns: list[dict]
    content_sha256: str
    created_at: str
    source: str = ""
    encoding: str | None = None
    grade: str | None = None
    findings_total: int | None = None


@dataclass(frozen=True)
class Component:
    id: str
    org: str
    name: str
    version: int
    state: str  # draft | in_review | listed | rejected | delisted
    price_fen: int
    policy: dict
    columns: list[dict]
    title: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    asset: str = ""
    desensitize: dict = field(default_factory=dict)
    gate: dict = field(default_factory=dict)
    listed_at: str | None = None
    scan: dict | None = None  # review queue entries only: the source's grade and findings


@dataclass(frozen=True)
class Contract:
    id: str
    buyer: str
    provider: str
    component: str
    component_version: int
    state: str
    price_fen: int
    budget_fen: int
    spent_fen: int
    commission_bps: int
    policy: dict
    purpose: str
    created_at: str
    expires_at: str


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list]
    receipt: dict


@dataclass(frozen=True)
class Balance:
    org: str
    account: str
    code: str
    posted_fen: int
    held_fen: int
    available_fen: int


def _retry_after(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before retrying a 503: the server's Retry-After (at most 30), else 0.5, 1, 2…"""
    try:
        return min(30.0, max(0.0, float(response.headers["retry-after"])))
    except (KeyError, ValueError):
        return 0.5 * 2 ** attempt


class Client:
    """One API token acting for one org. ``base_url`` is the server's root (``/api/v1`` is added)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 60.0, retries: int = 2,
                 transport: httpx.BaseTransport | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.retries = retries
        self._http = httpx.Client(base_url=base_url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout,
                                  transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, idempotent: bool = False, **kwargs) -> Any:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotent else {}
        attempts = 1 + (self.retries if idempotent or method in ("GET", "DELETE") else 0)
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                # the same Idempotency-Key makes a retry replay, never repeat, the work
                if attempt == attempts - 1:
                    raise
                continue
            if response.status_code != 503 or attempt == attempts - 1:
                break
            # unavailable for now (a vault's storage, a pool): nothing was done, the key is free again
            time.sleep(_retry_after(response, attempt))
        if response.status_code >= 400:
            raise _error(response)
        ctype = response.headers.get("content-type", "")
        return response.json() if "json" in ctype else response.text

    def _get(self, path: str, **params) -> Any:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def _post(self, path: str, body: dict | None = None, *, idempotent: bool = False) -> Any:
        return self._request("POST", path, json=body if body is not None else {}, idempotent=idempotent)

    def _pages(self, path: str, cls: type[T] | None = None, *, page_size: int = 100, **params) -> Iterator[T]:
        """Every item of a list route, page after page: ``{"items", "next_cursor"}`` until the cursor is null."""
        cursor = None
        while True:
            body = self._get(path, limit=page_size, cursor=cursor, **params)
            yield from (_load(cls, i) if cls else i for i in body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                return

    # -- orgs and tokens ----------------------------------------------------------------------

    def me(self) -> Org:
        return _load(Org, self._get("/me"))

    def create_org(self, name: str, roles: list[str], *, display_name: str = "", region: str = "") -> tuple[Org, str]:
        """Operator: a new org and its first token (returned once)."""
        body = self._post("/orgs", {"name": name, "roles": roles, "display_name": display_name, "region": region})
        return _load(Org, body), body["token"]

    def orgs(self, *, role: str | None = None) -> Iterator[Org]:
        return self._pages("/orgs", Org, role=role)

    def org(self, ref: str) -> Org:
        return _load(Org, self._get(f"/orgs/{ref}"))

    def create_token(self, name: str, roles: list[str] | None = None) -> tuple[Token, str]:
        body = self._post("/tokens", {"name": name, "roles": roles})
        return _load(Token, body), body["token"]

    def tokens(self) -> Iterator[Token]:
        return self._pages("/tokens", Token)

    def revoke_token(self, token_id: str) -> Token:
        return _load(Token, self._request("DELETE", f"/tokens/{token_id}"))

    # -- vault --------------------------------------------------------------------------------

    def upload(self, path: str | Path, *, name: str | None = None) -> Asset:
        """Provider: ingest a CSV (UTF-8/GBK/GB18030), Parquet or .xlsx file into the vault; it is scanned."""
        path = Path(path)
        # bytes, not a file handle: a retry after a dropped connection must send the file again
        body = self._request("POST", "/vault/assets", idempotent=True, files={"file": (path.name, path.read_bytes())},
                             data={"name": name} if name else {})
        return _load(Asset, body)

    def assets(self) -> Iterator[Asset]:
        return self._pages("/vault/assets", Asset)

    def asset(self, ref: str) -> Asset:
        return _load(Asset, self._get(f"/vault/assets/{ref}"))

    def scan(self, asset: str) -> dict:
        """The asset's scan report (types per column, grade, findings with masked samples)."""
        return self._get(f"/vault/assets/{asset}/scan")

    # -- components and their review ----------------------------------------------------------

    def publish(self, name: str, *, asset: str, policy: dict, price_fen: int, sql: str | None = None,
                desensitize: dict | None = None, title: str = "", description: str = "",
                tags: list[str] | None = None, draft: bool = False,
                source_legality_statement: str = "") -> Component:
        """Provider: a new version; gated, then in_review for the operator (or a draft).

        ``source_legality_statement`` (数据来源合法性声明) is required by the server."""
        body = {"name": name, "asset": asset, "policy": policy, "price_fen": price_fen, "sql": sql,
                "desensitize": desensitize or {}, "title": title, "description": description,
                "tags": tags or [], "draft": draft, "source_legality_statement": source_legality_statement}
        return _load(Component, self._post("/components", body, idempotent=True))

    def components(self, *, state: str | None = None, org: str | None = None, name: str | None = None,
                   page_size: int = 100) -> Iterator[Component]:
        """Listed components and the caller's own in any state; pages are fetched as you iterate."""
        return self._pages("/components", Component, page_size=page_size, state=state, org=org, name=name)

    def component(self, ref: str) -> Component:
        return _load(Component, self._get(f"/components/{ref}"))

    def review_queue(self) -> Iterator[Component]:
        """Operator: components waiting for review, each with ``scan`` (grade, findings)."""
        return self._pages("/review", Component)

    def approve(self, component_id: str, note: str = "") -> Component:
        return _load(Component, self._post(f"/components/{component_id}/approve", {"reason": note}))

    def reject(self, component_id: str, reason: str) -> Component:
        return _load(Component, self._post(f"/components/{component_id}/reject", {"reason": reason}))

    def resubmit(self, component_id: str) -> Component:
        return _load(Component, self._post(f"/components/{component_id}/submit"))

    def delist(self, component_id: str, reason: str = "") -> Component:
        return _load(Component, self._post(f"/components/{component_id}/delist", {"reason": reason}))

    def history(self, component_id: str) -> list[dict]:
        return self._get(f"/components/{component_id}/history")

    def search(self, q: str = "", **filters) -> dict:
        """Catalog search (Chinese segmentation): region, grade, mode, price_min, price_max, limit, offset."""
        return self._get("/catalog/search", q=q, **filters)

    # -- contracts and queries ----------------------------------------------------------------

    def sign(self, component: str, budget_fen: int, *, purpose: str = "", days: int = 365) -> Contract:
        """Buyer: sign for a listed component (id or name); the budget is held at once."""
        body = {"component": component, "budget_fen": budget_fen, "purpose": purpose, "days": days}
        return _load(Contract, self._post("/contracts", body, idempotent=True))

    def contracts(self, *, state: str | None = None, side: str | None = None,
                  component: str | None = None) -> Iterator[Contract]:
        return self._pages("/contracts", Contract, state=state, side=side, component=component)

    def contract(self, contract_id: str) -> Contract:
        return _load(Contract, self._get(f"/contracts/{contract_id}"))

    def query(self, contract_id: str, sql: str, own: dict[str, dict] | None = None) -> QueryResult:
        """Buyer: a governed query; charged when answered, refusals raise ``ApiError`` and cost nothing.
        ``own``: the buyer's tables for the join role, ``{name: {"columns": [...], "rows": [[...]]}}``."""
        body = {"sql": sql, "own": own} if own else {"sql": sql}
        return _load(QueryResult, self._post(f"/contracts/{contract_id}/queries", body, idempotent=True))

    def queries(self, contract_id: str, *, status: str | None = None) -> Iterator[dict]:
        """The contract's queries (answered and refused); SQL and receipts only for its buyer."""
        return self._pages(f"/contracts/{contract_id}/queries", status=status)

    # -- ledger, audit, pools -----------------------------------------------------------------

    def deposit(self, org: str, amount_fen: int, reference: str = "") -> dict:
        """Operator: money received from outside for ``org`` (by name)."""
        return self._post("/ledger/deposits", {"org": org, "amount_fen": amount_fen, "reference": reference},
                          idempotent=True)

    def void_usage(self, source: str, id: str, reason: str) -> dict:
        """Operator: void a stored usage event no invoice has taken (one rating refuses), with a
        reason; returns the event with its void. Voiding it again returns it unchanged."""
        return self._post("/usage/void", {"source": source, "id": id, "reason": reason})

    def balances(self) -> list[Balance]:
        return [_load(Balance, a) for a in self._get("/ledger/balances")["accounts"]]

    def verify_audit(self) -> dict:
        """Operator or auditor: checkpoints, chain and Merkle root recomputed; names the first broken entry."""
        return self._get("/audit/verify")

    def prove(self, seq: int, tree_size: int | None = None) -> dict:
        """An inclusion proof of audit entry ``seq`` (a receipt's ``audit_seq``)."""
        return self._get(f"/audit/proof/{seq}", tree_size=tree_size)

    def checkpoints(self) -> dict:
        return self._get("/audit/checkpoints")

    def pools(self) -> Iterator[dict]:
        return self._pages("/pools")

    def register_pool(self, spec: dict) -> dict:
        return self._post("/pools", spec)

    def jobs(self, *, contract: str | None = None) -> Iterator[dict]:
        """Jobs visible to the caller (its own as buyer, those on its data as provider)."""
        return self._pages("/jobs", contract=contract)

    # -- market: demands, the inbox, imported listings ------------------------------------------

    def demands(self, *, state: str | None = None, mine: bool = False) -> Iterator[dict]:
        """The demand board, newest first (``mine``: those the caller posted or bid on)."""
        return self._pages("/demands", state=state, mine=mine or None)

    def notifications(self, *, unread: bool = False) -> Iterator[dict]:
        """The caller's org's inbox, newest first."""
        return self._pages("/notifications", unread=unread or None)

    def external_listings(self, *, source: str | None = None) -> Iterator[dict]:
        """Listings imported from other exchanges' DCAT catalogs, by source."""
        return self._pages("/catalog/external", source=source)


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()["error"]
        return ApiError(response.status_code, body["code"], body["message"], body.get("details"))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http.error", response.text[:500] or response.reason_phrase)
