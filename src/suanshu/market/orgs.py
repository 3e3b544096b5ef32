"""Organizations, their roles and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.core.clock import iso, utcnow
from suanshu.core.errors import AuthError, Conflict, NotFound, Refused, UsageError
from suanshu.core.ids import new_id
from suanshu.core.orgs import OPERATOR_ORG, Organization, Principal, Role
from suanshu.market import settlement
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.paging import window


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
TOKEN_PREFIX = "ssk_"


def hash_token(token: str) -> str:
    # Tokens are 256-bit random values, so a fast hash is enough (no dictionary to attack);
    # passwords (console users) get argon2.
    return hashlib.sha256(token.encode()).hexdigest()


def parse_roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    if not roles:
        raise UsageError("org.no_roles", "give at least one role: provider, buyer, compute, operator, auditor")
    try:
        return sorted({Role(r.strip().lower()).value for r in roles})
    except ValueError as exc:
        raise UsageError("org.bad_role", f"{exc}; roles are provider, buyer, compute, operator, auditor") from None


def _new_token(session: Session, org: Organization, name: str, roles: list[str]) -> tuple[Principal, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    principal = Principal(id=new_id("pri"), org_id=org.id, name=name, token_hash=hash_token(token), roles=roles)
    session.add(principal)
    return principal, token


def create_org(ex: Exchange, actor: Actor | None, name: str, roles: list[str], *,
               display_name: str = "", region: str = "") -> tuple[Organization, str]:
    """Create an org with its cash account and a first API token (returned once, stored hashed).

    ``actor`` None means the local administrator (whoever holds the data dir).
    """
    if actor is not None:
        actor.require(Role.OPERATOR)
    if not _SLUG.match(name):
        raise UsageError("org.bad_name", f"org name {name!r}: use 2-63 lowercase letters, digits and dashes")
    role_list = parse_roles(roles)
    with ex.db.transaction() as s:
        if s.scalar(select(Organization).where(Organization.name == name)):
            raise Conflict("org.exists", f"an org named {name!r} already exists")
        org = Organization(id=new_id("org"), name=name, display_name=display_name or name,
                           roles=role_list, region=region)
        s.add(org)
        s.flush()
        settlement.open_org_accounts(s, org)
        principal, token = _new_token(s, org, f"{name} default token", role_list)
        audit.append(s, actor=actor.label if actor else "local:admin", action="org.create", subject=org.id,
                     payload={"name": name, "roles": role_list, "region": region, "principal": principal.id})
    return org, token


def ensure_operator(ex: Exchange) -> tuple[Organization, str | None]:
    """The exchange's own org and system accounts; a token is returned only when first created."""
    with ex.db.transaction() as s:
        org = s.scalar(select(Organization).where(Organization.name == OPERATOR_ORG))
        if org:
            return org, None
    return create_org(ex, None, OPERATOR_ORG, ["operator", "auditor"], display_name="交易所运营方")


def issue_token(ex: Exchange, org_name: str, label: str = "") -> str:
    with ex.db.transaction() as s:
        org = org_by_name(s, org_name)
        principal, token = _new_token(s, org, label or f"{org.name} token", list(org.roles))
        audit.append(s, actor="local:admin", action="token.issue", subject=principal.id, payload={"org": org.id})
    return token


# Built once: constructing the statement cost more than running it (~0.3 ms a request).
_TOKEN_LOOKUP = (select(Principal.id, Principal.roles, Organization.id, Organization.name, Organization.roles)
                 .join(Organization, Organization.id == Principal.org_id)
                 .where(Principal.token_hash == bindparam("token_hash"), Principal.revoked_at.is_(None)))


def authenticate(ex: Exchange, token: str | None) -> Actor:
    if not token:
        raise AuthError("auth.missing_token", "send an API token: Authorization: Bearer ssk_…")
    # Every request authenticates afresh (a revoked token stops at once), so this is the API's
    # hottest query: a read transaction (no SQLite write lock), five columns, no ORM session.
    with ex.db.read_connection() as conn:
        row = conn.execute(_TOKEN_LOOKUP, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise AuthError("auth.bad_token", "this API token is unknown or revoked")
    principal_id, token_roles, org_id, org_name, org_roles = row
    return Actor(org_id, org_name, frozenset(token_roles) & frozenset(org_roles), principal_id)


def org_by_name(s: Session, name: str) -> Organization:
    org = s.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        raise NotFound("org.not_found", f"no org named {name!r}; see `suanshu org list`")
    return org


def local_actor(ex: Exchange, org_name: str) -> Actor:
    with ex.db.transaction() as s:
        return Actor.of_org(org_by_name(s, org_name))


def list_orgs(ex: Exchange, *, role: str | None = None, after: str | None = None,
              limit: int | None = None) -> list[Organization]:
    """Every org's public profile, by id; ``role`` keeps the orgs that hold it."""
    with ex.db.transaction() as s:
        orgs = list(s.scalars(window(select(Organization).order_by(Organization.id), Organization.id,
                                     after, None if role else limit)))
    if role:  # roles is a JSON list: filtered here, the same on SQLite and PostgreSQL
        orgs = [o for o in orgs if o.has_role(Role(role))][:limit]
    return orgs


def get_org(ex: Exchange, ref: str) -> Organization:
    with ex.db.transaction() as s:
        org = s.get(Organization, ref) or s.scalar(select(Organization).where(Organization.name == ref))
    if org is None:
        raise NotFound("org.not_found", f"no org {ref!r}; see GET /api/v1/orgs")
    return org


# -- API tokens: a named token acts for its org with a subset of the org's roles -------------------

def create_token(ex: Exchange, actor: Actor, name: str, roles: list[str] | None = None) -> tuple[Principal, str]:
    """A new token for the actor's own org, never with a role the actor itself lacks."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise UsageError("token.bad_name", "name the token (1-200 characters), e.g. 'nightly-report'")
    wanted = parse_roles(roles) if roles else sorted(actor.roles)
    extra = sorted(set(wanted) - set(actor.roles))
    if extra:
        raise Refused("token.roles_exceed", f"this token cannot grant {', '.join(extra)}: "
                      f"{actor.org_name} acts here with {', '.join(sorted(actor.roles))}")
    with ex.db.transaction() as s:
        org = s.get(Organization, actor.org_id)
        principal, token = _new_token(s, org, name, wanted)
        audit.append(s, actor=actor.label, action="token.issue", subject=principal.id,
                     payload={"org": org.id, "name": name, "roles": wanted})
    return principal, token


def list_tokens(ex: Exchange, actor: Actor, *, after: str | None = None, limit: int | None = None) -> list[Principal]:
    q = select(Principal).where(Principal.org_id == actor.org_id).order_by(Principal.id)
    with ex.db.transaction() as s:
        return list(s.scalars(window(q, Principal.id, after, limit)))


def revoke_token(ex: Exchange, actor: Actor, token_id: str) -> Principal:
    """Revoke one of the org's tokens (at once: every request authenticates afresh). Idempotent."""
    with ex.db.transaction() as s:
        principal = s.get(Principal, token_id)
        if principal is None or principal.org_id != actor.org_id:
            raise NotFound("token.not_found", f"no token {token_id!r} in {actor.org_name}")
        if principal.revoked_at is None:
            principal.revoked_at = utcnow()
            audit.append(s, actor=actor.label, action="token.revoke", subject=principal.id,
                         payload={"org": principal.org_id})
    return principal


def token_json(p: Principal) -> dict:
    return {"id": p.id, "name": p.name, "roles": p.roles, "created_at": iso(p.created_at),
            "revoked_at": iso(p.revoked_at)}
