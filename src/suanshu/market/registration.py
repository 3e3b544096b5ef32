"""Listing registration (数据产品登记): a record per listed component version, and its certificate.

The record's fields follow the core metadata of T/CIITA 406-2022 (data components: identifier,
name, type, provider, version, description, source, security grade, usage terms, price, content
hash), plus what an exchange registrar adds: the provider's source-legality statement, the
compliance gate's verdict and the registration time. The record is stored with the SHA-256 of
its canonical JSON, and the same transaction appends a ``component.register`` audit entry that
carries that hash: the registration is in the tamper-evident log.

The certificate is printable HTML: every field, the record hash, an Ed25519 signature by the
exchange's audit key (``audit/checkpoint.signing_key``) over

    suanshu-registration/v1
    <registration id>
    <record sha256>
    <audit seq>

and the audit entry's inclusion proof (as of issue) with the URL that serves a fresh one
(``/api/v1/audit/proof/{seq}``), checkable against any signed checkpoint.

When: ``register(s, component, actor_label=...)`` runs in the caller's transaction; the operator's
approval (``review._move``) calls it, so a version is registered the moment it is listed, with the
statement its provider gave at submission. ``ensure(ex, ref)`` covers versions listed without a
review (in-process ``components.publish(state="listed")``, rows from before registration at
approval): it registers them on first request. There is no default statement: the registrar does
not speak for the provider, so a version without one is refused (``registration.no_legality_statement``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import checkpoint
from suanshu.audit import log as audit
from suanshu.core.clock import iso, local, utcnow
from suanshu.core.errors import Conflict, NotFound, Refused
from suanshu.core.ids import new_id
from suanshu.core.orgs import Organization
from suanshu.market import components as component_service
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component
from suanshu.market.tables import Registration
from suanshu.vault.models import Asset, ScanReport

HEADER = "suanshu-registration/v1"
STANDARD = "T/CIITA 406-2022（数据元件核心元数据，字段按交易所登记需要取用）"
COMPONENT_TYPES = {"aggregate": "统计聚合型", "dp": "差分隐私型", "extract": "明细抽取型", "job": "计算任务型"}
TEMPLATE = Path(__file__).with_name("data") / "registration_certificate.html"


def content_sha256(comp: Component, asset_sha256: str) -> str:
    """What the buyer gets, fixed: the asset's bytes, the projection, desensitization, policy and schema."""
    body = {"asset_sha256": asset_sha256, "sql": comp.sql, "desensitize": comp.desensitize, "policy": comp.policy,
            "output_schema": comp.output_schema}
    return hashlib.sha256(audit.canonical(body)).hexdigest()


def build_record(s: Session, comp: Component, statement: str) -> dict:
    org = s.get(Organization, comp.org_id)
    asset = s.get(Asset, comp.asset_id)
    scan = s.scalar(select(ScanReport).where(ScanReport.asset_id == comp.asset_id))
    return {
        "standard": STANDARD,
        "identifier": comp.id, "name": comp.name, "title": comp.title, "version": comp.version,
        "type": COMPONENT_TYPES.get((comp.policy or {}).get("mode", ""), "数据元件"),
        "description": comp.description, "keywords": list(comp.tags or []),
        "provider": {"id": org.id, "name": org.name, "display_name": org.display_name, "region": org.region},
        "source": {"asset": asset.id, "file": asset.source_name, "format": asset.source_format, "rows": asset.rows,
                   "asset_sha256": asset.content_sha256},
        "source_legality_statement": statement,
        "security": {"scan_grade": scan.grade if scan else None,
                     "exposed_grade": (comp.gate or {}).get("scan_grade"),
                     "gate_passed": bool((comp.gate or {}).get("passed")),
                     "exposed_columns": (comp.gate or {}).get("exposed_columns", [])},
        "policy": comp.policy, "price_fen_per_query": comp.price_fen,
        "columns": [c.get("name") for c in comp.output_schema or []],
        "content_sha256": content_sha256(comp, asset.content_sha256),
        "listed_at": iso(comp.listed_at),
    }


def register(s: Session, comp: Component, *, actor_label: str, statement: str | None = None) -> Registration:
    """Register a listed component version in the caller's transaction (idempotent per component).

    ``statement``: the provider's source-legality statement; default: the one it gave at submission.
    """
    existing = s.scalar(select(Registration).where(Registration.component_id == comp.id))
    if existing is not None:
        return existing
    if comp.state != "listed":
        raise Refused("registration.not_listed", f"component {comp.name} v{comp.version} is {comp.state}, not listed")
    statement = (statement or comp.source_legality_statement or "").strip()
    if not statement:
        raise Conflict("registration.no_legality_statement",
                      f"component {comp.name} v{comp.version} has no source-legality statement (数据来源合法性声明): "
                      "its provider states one (a new version, or POST /components/{id}/registration once listed)")
    record = build_record(s, comp, statement)
    now = utcnow()
    reg_id = f"REG-{now:%Y%m%d}-{new_id('r')[-12:].upper()}"
    record["registration_id"], record["registered_at"] = reg_id, iso(now)
    digest = hashlib.sha256(audit.canonical(record)).hexdigest()
    ev = audit.append(s, actor=actor_label, action="component.register", subject=comp.id,
                      payload={"registration": reg_id, "record_sha256": digest, "version": comp.version,
                               "content_sha256": record["content_sha256"]})
    reg = Registration(id=reg_id, component_id=comp.id, record=record, record_sha256=digest, audit_seq=ev.seq,
                       created_at=now)
    s.add(reg)
    s.flush()
    return reg


def ensure(ex: Exchange, actor: Actor | None, ref: str, *, statement: str | None = None) -> Registration:
    """The registration of a listed component; versions listed without a review register on first request."""
    with ex.db.transaction() as s:
        comp = component_service.get_component(s, actor, ref)
        reg = s.scalar(select(Registration).where(Registration.component_id == comp.id))
        if reg is None:
            if statement is not None and (actor is None or actor.org_id != comp.org_id):
                raise Refused("registration.not_provider", "only the provider states the source's legality")
            # the registrar registers; a provider stating its source's legality registers its own listing
            label = actor.label if statement is not None and actor is not None else "system:registry"
            reg = register(s, comp, actor_label=label, statement=statement)
        return reg


def message(reg: Registration) -> bytes:
    return f"{HEADER}\n{reg.id}\n{reg.record_sha256}\n{reg.audit_seq}\n".encode()


def signed(ex: Exchange, reg: Registration) -> dict:
    """The registration with the exchange's signature and the audit entry's inclusion proof."""
    key = checkpoint.signing_key(ex.settings.home)
    public = checkpoint.public_hex(key.public_key())
    with ex.db.transaction() as s:
        proof = audit.prove(s, reg.audit_seq)
    return {"registration_id": reg.id, "record": reg.record, "record_sha256": reg.record_sha256,
            "signature": key.sign(message(reg)).hex(), "public_key": public, "key_id": checkpoint.key_id(public),
            "signed_message": message(reg).decode(), "audit_seq": reg.audit_seq,
            "proof_url": f"/api/v1/audit/proof/{reg.audit_seq}", "inclusion_proof": proof}


def verify(doc: dict) -> bool:
    """Check a signed registration: the record hashes to record_sha256 and the signature holds."""
    if hashlib.sha256(audit.canonical(doc["record"])).hexdigest() != doc["record_sha256"]:
        return False
    msg = f"{HEADER}\n{doc['registration_id']}\n{doc['record_sha256']}\n{doc['audit_seq']}\n".encode()
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(doc["public_key"])).verify(bytes.fromhex(doc["signature"]), msg)
    except Exception:  # noqa: BLE001  (any failure to verify is a failed verification)
        return False
    return True


def certificate_html(ex: Exchange, reg: Registration, *, base_url: str = "") -> str:
    doc = signed(ex, reg)
    env = jinja2.Environment(autoescape=True)
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    rec = doc["record"]
    return template.render(doc=doc, rec=rec, base_url=base_url.rstrip("/"),
                           registered_local=local(_parse(rec["registered_at"])),
                           listed_local=local(_parse(rec["listed_at"])) if rec.get("listed_at") else "",
                           price=f"¥{rec['price_fen_per_query'] / 100:,.2f}")


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def registration_json(reg: Registration) -> dict:
    return {"registration_id": reg.id, "component": reg.component_id, "record": reg.record,
            "record_sha256": reg.record_sha256, "audit_seq": reg.audit_seq,
            "proof_url": f"/api/v1/audit/proof/{reg.audit_seq}", "created_at": iso(reg.created_at)}


def get(ex: Exchange, registration_id: str) -> Registration:
    with ex.db.transaction() as s:
        reg = s.get(Registration, registration_id)
        if reg is None:
            raise NotFound("registration.not_found", f"no registration {registration_id!r}")
        return reg
