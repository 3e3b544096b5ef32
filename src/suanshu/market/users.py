"""Console users (people with passwords) and their browser sessions.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile): unlike API tokens,
people choose guessable secrets, so the hash must be slow and memory-hard.

A console session is a server-side row keyed by the SHA-256 of a 256-bit random cookie value.
We keep sessions in the database rather than in a signed cookie because logging out, disabling a
user or changing a password must end every session at once, and because the session also holds
the CSRF synchronizer token. A user acts as the same ``Actor`` the API builds from a token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from suanshu.audit import log as audit
from suanshu.core.clock import iso, utcnow
from suanshu.core.db import Base
from suanshu.core.errors import AuthError, Conflict, NotFound, UsageError
from suanshu.core.ids import new_id
from suanshu.core.orgs import Organization, Role
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.orgs import org_by_name, parse_roles

SESSION_HOURS = 12
MIN_PASSWORD = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[list]
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class UserSession(Base):
    """One signed-in browser. ``id`` is SHA-256(cookie value); the value itself is never stored."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


@dataclass(frozen=True)
class SignedIn:
    """What a request learns from its session cookie."""

    actor: Actor
    user_id: str
    username: str
    display_name: str
    org_display_name: str
    csrf_token: str


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError("user.weak_password", f"a password needs at least {MIN_PASSWORD} characters")


def create_user(ex: Exchange, actor: Actor | None, org_name: str, username: str, password: str,
                roles: list[str] | tuple[str, ...] = (), *, display_name: str = "") -> User:
    """A person who signs in to the console for ORG. Roles default to the org's; they never exceed them.

    ``actor`` None means the local administrator (whoever holds the data dir).
    """
    if actor is not None:
        actor.require(Role.OPERATOR)
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise UsageError("user.bad_name", f"username {username!r}: 2-63 lowercase letters, digits, '.', '_', '-'")
    _check_password(password)
    with ex.db.transaction() as s:
        org = org_by_name(s, org_name)
        wanted = parse_roles(list(roles)) if roles else list(org.roles)
        extra = sorted(set(wanted) - set(org.roles))
        if extra:
            raise UsageError("user.role_not_in_org",
                             f"{org.name} does not hold the role(s) {', '.join(extra)}; it holds {', '.join(org.roles)}")
        if s.scalar(select(User.id).where(User.username == username)):
            raise Conflict("user.exists", f"a user named {username!r} already exists")
        user = User(id=new_id("usr"), org_id=org.id, username=username, display_name=display_name or username,
                    roles=wanted, password_hash=_hasher.hash(password))
        s.add(user)
        s.flush()
        audit.append(s, actor=actor.label if actor else "local:admin", action="user.create", subject=user.id,
                     payload={"org": org.id, "username": username, "roles": wanted})
    return user


def _actor_for(user: User, org: Organization) -> Actor:
    return Actor(org.id, org.name, frozenset(user.roles) & frozenset(org.roles), user.id)


def authenticate(ex: Exchange, username: str, password: str) -> Actor:
    """The Actor a username and password stand for; the same error for every kind of failure."""
    return _verify(ex, username, password)[0]


def _verify(ex: Exchange, username: str, password: str) -> tuple[Actor, User]:
    failure = AuthError("auth.bad_password", "wrong username or password")
    with ex.db.transaction() as s:
        row = s.execute(select(User, Organization).join(Organization, Organization.id == User.org_id)
                        .where(User.username == username.strip().lower())).first()
        if row is None:
            _safe_verify(_DUMMY_HASH, password)
            raise failure
        user, org = row
        if not _safe_verify(user.password_hash, password) or user.disabled_at is not None:
            raise failure
        if _hasher.check_needs_rehash(user.password_hash):  # parameters were raised since it was set
            user.password_hash = _hasher.hash(password)
        return _actor_for(user, org), user


def _safe_verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(ex: Exchange, actor: Actor, old: str, new: str) -> None:
    """The signed-in user changes their own password; every session of theirs ends."""
    _check_password(new)
    with ex.db.transaction() as s:
        user = s.get(User, actor.principal_id) if actor.principal_id else None
        if user is None:
            raise NotFound("user.not_found", "only a console user has a password to change")
        if not _safe_verify(user.password_hash, old):
            raise AuthError("auth.bad_password", "the current password is wrong")
        user.password_hash = _hasher.hash(new)
        user.password_changed_at = utcnow()
        s.execute(delete(UserSession).where(UserSession.user_id == user.id))
        audit.append(s, actor=actor.label, action="user.password", subject=user.id, payload={"org": user.org_id})


def disable_user(ex: Exchange, actor: Actor | None, username: str) -> None:
    if actor is not None:
        actor.require(Role.OPERATOR)
    with ex.db.transaction() as s:
        user = _by_name(s, username)
        user.disabled_at = utcnow()
        s.execute(delete(UserSession).where(UserSession.user_id == user.id))
        audit.append(s, actor=actor.label if actor else "local:admin", action="user.disable", subject=user.id,
                     payload={"org": user.org_id})


def _by_name(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound("user.not_found", f"no user named {username!r}; see `suanshu user list`")
    return user


def list_users(ex: Exchange, org_name: str | None = None) -> list[tuple[User, Organization]]:
    with ex.db.transaction() as s:
        q = select(User, Organization).join(Organization, Organization.id == User.org_id).order_by(User.username)
        if org_name:
            q = q.where(Organization.id == org_by_name(s, org_name).id)
        return [tuple(r) for r in s.execute(q).all()]


def user_json(user: User, org: Organization) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "org": org.name,
            "roles": user.roles, "created_at": iso(user.created_at), "disabled_at": iso(user.disabled_at)}


# -- sessions ------------------------------------------------------------------------------------

def _session_id(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def sign_in(ex: Exchange, username: str, password: str) -> tuple[str, SignedIn]:
    """Check the password and open a session; returns the cookie value (shown once) and the session."""
    actor, user = _verify(ex, username, password)
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with ex.db.transaction() as s:
        s.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now))
        s.add(UserSession(id=_session_id(cookie), user_id=user.id, csrf_token=csrf, created_at=now,
                          expires_at=now + timedelta(hours=SESSION_HOURS)))
        audit.append(s, actor=user.id, action="user.sign_in", subject=user.id, payload={"org": user.org_id})
        org = s.get(Organization, user.org_id)
    return cookie, SignedIn(actor, user.id, user.username, user.display_name, org.display_name, csrf)


def session(ex: Exchange, cookie: str | None) -> SignedIn | None:
    """The live session behind a cookie, or None (unknown, expired, or the user was disabled)."""
    if not cookie:
        return None
    with ex.db.transaction() as s:
        row = s.execute(
            select(UserSession, User, Organization).join(User, User.id == UserSession.user_id)
            .join(Organization, Organization.id == User.org_id).where(UserSession.id == _session_id(cookie))
        ).first()
    if row is None:
        return None
    sess, user, org = row
    if sess.expires_at <= utcnow() or user.disabled_at is not None:
        return None
    return SignedIn(_actor_for(user, org), user.id, user.username, user.display_name, org.display_name,
                    sess.csrf_token)


def sign_out(ex: Exchange, cookie: str | None) -> None:
    if not cookie:
        return
    with ex.db.transaction() as s:
        s.execute(delete(UserSession).where(UserSession.id == _session_id(cookie)))
