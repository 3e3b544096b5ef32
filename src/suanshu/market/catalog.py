"""Open catalogs: the catalog as W3C DCAT 3 (JSON-LD) with each policy as an ODRL 2.2 offer,
and import of another exchange's DCAT catalog as read-only listings.

Export (``dcat``): one ``dcat:Catalog``; each listed component is a ``dcat:Dataset`` with
``odrl:hasPolicy`` an ``odrl:Offer`` whose permission (action ``odrl:use``) carries the policy's
terms as constraints — ``odrl:purpose`` (isAnyOf), ``odrl:dateTime`` before the expiry,
``odrl:spatial`` (isAnyOf the residency regions) and ``suanshu:accessMode`` (eq the mode) — and
a duty ``odrl:compensate`` with ``odrl:payAmount`` per query in CNY (yuan, exact decimal). The
context is inline (``CONTEXT``): readers need no network to expand it.

Import: the document is expanded with pyld (any compaction, inline contexts only: a remote
context is refused, nothing is fetched), then read by full IRIs. Each dataset becomes an
``ExternalListing`` keyed by (catalog IRI, dataset IRI): re-importing updates in place. Imported
listings are searchable (kind ``external``, with their source) and cannot be bought here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pyld import jsonld
from sqlalchemy import select

from suanshu.audit import log as audit
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import UsageError
from suanshu.core.ids import new_id
from suanshu.core.orgs import Organization, Role
from suanshu.market import search
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.models import Component
from suanshu.market.paging import window_sorted
from suanshu.market.tables import ExternalListing

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
ODRL = "http://www.w3.org/ns/odrl/2/"
FOAF = "http://xmlns.com/foaf/0.1/"
XSD = "http://www.w3.org/2001/XMLSchema#"
SUANSHU = "https://suanshu.example/ns#"  # our own terms (grade, access mode); a stable namespace IRI
CNY = "http://dbpedia.org/resource/Chinese_yuan"
MAX_DATASETS = 20_000

# The inline JSON-LD context: prefixes for the vocabularies, and typed terms where a value is an IRI.
CONTEXT: dict[str, Any] = {
    "dcat": DCAT, "dct": DCT, "odrl": ODRL, "foaf": FOAF, "xsd": XSD, "suanshu": SUANSHU,
    "dct:issued": {"@type": "xsd:dateTime"},
    "dct:modified": {"@type": "xsd:dateTime"},
    "odrl:action": {"@type": "@id"},
    "odrl:leftOperand": {"@type": "@id"},
    "odrl:operator": {"@type": "@id"},
    "odrl:unit": {"@type": "@id"},
    "odrl:target": {"@type": "@id"},
    "odrl:assigner": {"@type": "@id"},
}


# -- export ---------------------------------------------------------------------------------------

def yuan(fen: int) -> str:
    """Exact decimal yuan from integer fen: 205 -> "2.05"."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def odrl_offer(policy: dict, price_fen: int, *, uid: str, target: str, assigner: str) -> dict:
    constraints = []
    if policy.get("purpose"):
        constraints.append({"odrl:leftOperand": "odrl:purpose", "odrl:operator": "odrl:isAnyOf",
                            "odrl:rightOperand": list(policy["purpose"])})
    if policy.get("expiry"):
        constraints.append({"odrl:leftOperand": "odrl:dateTime", "odrl:operator": "odrl:lt",
                            "odrl:rightOperand": {"@value": policy["expiry"], "@type": "xsd:dateTime"}})
    if policy.get("residency"):
        constraints.append({"odrl:leftOperand": "odrl:spatial", "odrl:operator": "odrl:isAnyOf",
                            "odrl:rightOperand": list(policy["residency"])})
    constraints.append({"odrl:leftOperand": "suanshu:accessMode", "odrl:operator": "odrl:eq",
                        "odrl:rightOperand": policy.get("mode", "")})
    return {
        "@id": uid, "@type": "odrl:Offer", "odrl:target": target, "odrl:assigner": assigner,
        "odrl:permission": [{
            "odrl:action": "odrl:use", "odrl:target": target, "odrl:assigner": assigner,
            "odrl:constraint": constraints,
            "odrl:duty": [{"odrl:action": "odrl:compensate", "odrl:constraint": [{
                "odrl:leftOperand": "odrl:payAmount", "odrl:operator": "odrl:eq",
                "odrl:rightOperand": {"@value": yuan(price_fen), "@type": "xsd:decimal"},
                "odrl:unit": CNY}]}],
        }],
    }


def export_dcat(ex: Exchange, *, base_url: str = "") -> dict:
    """The catalog of listed components as one DCAT JSON-LD document (a stable, sorted order)."""
    base = (base_url or ex.settings.extra.get("public_url") or "urn:suanshu:local").rstrip("/")
    with ex.db.transaction() as s:
        rows = s.execute(select(Component, Organization).join(Organization, Organization.id == Component.org_id)
                         .where(Component.state == "listed").order_by(Component.id)).all()
        datasets = [_dataset(base, comp, org) for comp, org in rows]
    return {"@context": CONTEXT, "@id": f"{base}/api/v1/catalog/dcat", "@type": "dcat:Catalog",
            "dct:title": {"@value": "算数数据交易所目录", "@language": "zh-CN"},
            "dct:publisher": {"@id": f"{base}/", "@type": "foaf:Agent", "foaf:name": "Suanshu exchange"},
            "dct:modified": iso(utcnow()), "dcat:dataset": datasets}


def _dataset(base: str, comp: Component, org: Organization) -> dict:
    iri = f"{base}/api/v1/components/{comp.id}"
    agent = f"{base}/api/v1/orgs/{org.id}"
    out = {
        "@id": iri, "@type": "dcat:Dataset", "dct:identifier": comp.id,
        "dct:title": {"@value": comp.title, "@language": "zh-CN"},
        "dct:description": {"@value": comp.description or "", "@language": "zh-CN"},
        "dcat:keyword": list(comp.tags or []), "dcat:version": str(comp.version),
        "dct:publisher": {"@id": agent, "@type": "foaf:Agent", "foaf:name": org.display_name},
        "suanshu:accessMode": comp.policy.get("mode", ""),
        "suanshu:priceFenPerQuery": comp.price_fen,
        "odrl:hasPolicy": odrl_offer(comp.policy, comp.price_fen, uid=f"{iri}/policy", target=iri, assigner=agent),
    }
    if org.region:
        out["dct:spatial"] = org.region
    if comp.listed_at:
        out["dct:issued"] = iso(comp.listed_at)
    grade = (comp.gate or {}).get("scan_grade")
    if grade:
        out["suanshu:grade"] = grade
    return out


# -- import ---------------------------------------------------------------------------------------

def _no_remote(url, options=None):  # pyld document loader: imports never fetch anything
    raise jsonld.JsonLdError(f"remote context {url} refused: inline the context", "loading remote context failed",
                             code="loading remote context failed")


def expand(doc: dict) -> list:
    try:
        return jsonld.expand(doc, {"documentLoader": _no_remote})
    except jsonld.JsonLdError as exc:
        raise UsageError("catalog.bad_jsonld", f"not a JSON-LD document this exchange can read offline: {exc}") from None


def _vals(node: dict, iri: str) -> list:
    return node.get(iri, []) if isinstance(node, dict) else []


def _text(node: dict, iri: str, prefer: str = "zh") -> str:
    vals = [v for v in _vals(node, iri) if "@value" in v]
    best = next((v for v in vals if str(v.get("@language", "")).lower().startswith(prefer)), vals[0] if vals else None)
    return "" if best is None else str(best["@value"])


def _types(node: dict) -> list[str]:
    return node.get("@type", []) if isinstance(node, dict) else []


def parse_catalog(doc: dict) -> tuple[str, list[dict]]:
    """(catalog IRI, listings) from a DCAT document in any JSON-LD compaction."""
    if not isinstance(doc, dict):
        raise UsageError("catalog.bad_dcat", "a DCAT catalog is a JSON object")
    nodes = expand(doc)
    catalogs = [n for n in nodes if DCAT + "Catalog" in _types(n)]
    if len(catalogs) != 1 or not catalogs[0].get("@id"):
        raise UsageError("catalog.bad_dcat", "expected exactly one dcat:Catalog with an @id")
    cat = catalogs[0]
    datasets = [d for d in _vals(cat, DCAT + "dataset") if DCAT + "Dataset" in _types(d)]
    if len(datasets) > MAX_DATASETS:
        raise UsageError("catalog.too_large", f"at most {MAX_DATASETS} datasets per import")
    return cat["@id"], [_listing(d) for d in datasets]


def _listing(d: dict) -> dict:
    if not d.get("@id"):
        raise UsageError("catalog.bad_dcat", "every dcat:Dataset needs an @id")
    publisher = next(iter(_vals(d, DCT + "publisher")), {})
    offer = next(iter(_vals(d, ODRL + "hasPolicy")), {})
    return {"source_id": d["@id"], "title": _text(d, DCT + "title") or d["@id"],
            "description": _text(d, DCT + "description"),
            "tags": [str(v["@value"]) for v in _vals(d, DCAT + "keyword") if "@value" in v],
            "publisher": _text(publisher, FOAF + "name"), "region": _text(d, DCT + "spatial"),
            "mode": _text(d, SUANSHU + "accessMode"), "price_fen": _price_fen(offer), "offer": offer}


def _price_fen(offer: dict) -> int | None:
    """The payAmount of the offer's compensate duty, in fen (CNY only; other currencies: no price)."""
    for perm in _vals(offer, ODRL + "permission"):
        for duty in _vals(perm, ODRL + "duty"):
            for c in _vals(duty, ODRL + "constraint"):
                left = [v.get("@id") for v in _vals(c, ODRL + "leftOperand")]
                unit = [v.get("@id") for v in _vals(c, ODRL + "unit")]
                amount = [v.get("@value") for v in _vals(c, ODRL + "rightOperand") if "@value" in v]
                if ODRL + "payAmount" in left and amount and (not unit or unit == [CNY]):
                    try:
                        return int((Decimal(str(amount[0])) * 100).to_integral_value())
                    except ArithmeticError:
                        return None
    return None


def import_dcat(ex: Exchange, actor: Actor | None, doc: dict) -> dict:
    """Operator (or the local admin): upsert a remote catalog's datasets as read-only listings."""
    if actor is not None:
        actor.require(Role.OPERATOR)
    source, listings = parse_catalog(doc)
    now = utcnow()
    with ex.db.transaction() as s:
        existing = {e.source_id: e for e in s.scalars(select(ExternalListing).where(ExternalListing.source == source))}
        added = updated = 0
        for item in listings:
            row = existing.get(item["source_id"])
            if row is None:
                s.add(ExternalListing(id=new_id("ext"), source=source, imported_at=now, **item))
                added += 1
            else:
                for k, v in item.items():
                    setattr(row, k, v)
                row.imported_at = now
                updated += 1
        audit.append(s, actor=actor.label if actor else "local:admin", action="catalog.import", subject=source[:80],
                     payload={"source": source, "added": added, "updated": updated, "datasets": len(listings)})
    search.invalidate(ex)
    return {"source": source, "added": added, "updated": updated, "datasets": len(listings)}


def external_json(e: ExternalListing) -> dict:
    return {"id": e.id, "source": e.source, "source_id": e.source_id, "title": e.title, "description": e.description,
            "tags": e.tags, "publisher": e.publisher, "region": e.region, "mode": e.mode, "price_fen": e.price_fen,
            "offer": e.offer, "imported_at": iso(e.imported_at)}


def list_external(ex: Exchange, source: str | None = None, *, after: str | None = None,
                  limit: int | None = None) -> list[ExternalListing]:
    order = (ExternalListing.source, ExternalListing.id)
    with ex.db.transaction() as s:
        q = select(ExternalListing).order_by(*order)
        if source:
            q = q.where(ExternalListing.source == source)
        return list(s.scalars(window_sorted(q, order, ExternalListing.id, after, limit)))
