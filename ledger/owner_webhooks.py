"""Owners' own webhooks: set, read and remove one, and queue the sweep's notifications to it.

An enterprise's administrator sets, reads and removes its own enterprise's webhook; the
regulator and the system admin read any (its URL and backlog, never its secret) and set
none. Anyone else, an administrator naming another enterprise included, is refused
(Forbidden) before any record is looked up. Setting one again replaces its URL and secret
(the old secret stops at once; the backlog goes to the new URL, signed with the new one).
Only notifications the sweep writes while the webhook exists are sent to it (``queue``):
registering one never floods it with the enterprise's history. Not a ledger event:
nothing here is hashed or logged. Delivery is ``ledger.owner_delivery``'s.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from ledger import notifications
from ledger.addresses import ascii_host, names_this_host_or_private
from ledger.errors import Forbidden, Invalid, NotFound
from ledger.model import Actor, Enterprise, Role
from ledger.model_ops import Notification
from ledger.model_webhooks import OwnerDelivery, OwnerWebhook
from ledger.registry import Policy, get, unique

READ = Policy(
    "查看企业 webhook / read an enterprise's webhook",
    frozenset({Role.ADMIN, Role.REGULATOR}),
    frozenset({Role.ENTERPRISE_ADMIN}),
)
WRITE = Policy(
    "设置企业 webhook / set an enterprise's webhook",
    frozenset(),
    frozenset({Role.ENTERPRISE_ADMIN}),
)
MAX_URL = 500
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
SECRET_BYTES = 32


def valid_url(url: str, private_ok: bool = False) -> str:
    """The URL, if a webhook may be sent there: absolute https, no user:password, at most
    500 characters, not naming this host or a private address; else Invalid. With
    ``private_ok`` (WEBHOOK_ALLOW_PRIVATE: tests, closed networks) private addresses are
    accepted, and http for this host."""
    if len(url) > MAX_URL:
        raise Invalid(
            f"url 至多 {MAX_URL} 个字符 / 'url' is at most {MAX_URL} characters", field="url"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise Invalid(
            "url 不得含空白或控制字符 / 'url' must not contain spaces or control characters",
            field="url",
        )
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # a port out of range raises
        ascii_host(host or "")  # a Chinese domain must have an IDNA form
    except (ValueError, UnicodeError):
        raise Invalid("url 不是有效网址 / 'url' is not a valid URL", field="url") from None
    if parts.scheme not in ("https", "http") or not host:
        raise Invalid(
            "url 须为完整的 https:// 网址 / 'url' must be an absolute https:// URL", field="url"
        )
    if "@" in parts.netloc:
        raise Invalid(
            "url 不得含用户名或密码 / 'url' must not carry a user name or password", field="url"
        )
    if not private_ok and names_this_host_or_private(host):
        raise Invalid(
            "url 不得指向本机或内网地址 / 'url' must not name this host or a private network"
            " address",
            field="url",
        )
    if parts.scheme == "http" and not private_ok:
        raise Invalid("url 须为 https:// 网址 / 'url' must be an https:// URL", field="url")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise Invalid(
            "url 须为 https://；http:// 仅限本机 (localhost、127.0.0.1、::1) / 'url' must be"
            " https:// (http:// only for localhost, 127.0.0.1 or ::1)",
            field="url",
        )
    return url


def register(
    session: Session,
    actor: Actor,
    enterprise_id: int,
    url: str,
    now: dt.datetime,
    private_ok: bool = False,
) -> OwnerWebhook:
    """Set or replace the enterprise's webhook with a new secret (the answer's only copy)."""
    _check(WRITE, session, actor, enterprise_id)
    url = valid_url(url, private_ok)
    assert actor.id is not None  # a stored actor: it holds a token
    hook = session.get(OwnerWebhook, enterprise_id)
    if hook is None:
        # A backlog left by a sweep that raced the removal of a former webhook is not sent.
        _drop_backlog(session, enterprise_id)
        hook = OwnerWebhook(
            enterprise_id=enterprise_id, url=url, secret="", created_at=now, actor_id=actor.id,
            generation=secrets.token_hex(8),
        )  # fmt: skip
    hook.url, hook.secret = url, secrets.token_hex(SECRET_BYTES)
    hook.updated_at, hook.actor_id = now, actor.id
    with unique(session, "webhook 正被同时设置，请重试 / the webhook is being set: retry"):
        session.add(hook)
    return hook


def read(session: Session, actor: Actor, enterprise_id: int) -> dict[str, Any]:
    """The webhook's URL, dates and backlog (never its secret); NotFound when none is set.

    ``pending``: not tried yet; ``failed``: the last attempt failed, retried on the next
    sweep; ``given_up``: failed ``MAX_ATTEMPTS`` times, not sent again.
    """
    _check(READ, session, actor, enterprise_id)
    hook = _hook(session, enterprise_id)
    d = OwnerDelivery
    query = (
        select(col(d.attempts), func.count())
        .where(
            col(d.enterprise_id) == enterprise_id,
            col(d.generation) == hook.generation,
            col(d.delivered_at).is_(None),
        )
        .group_by(col(d.attempts))
    )
    backlog = {"pending": 0, "failed": 0, "given_up": 0}
    for attempts, count in session.execute(query):
        key = "pending" if attempts == 0 else "failed"
        backlog["given_up" if attempts >= notifications.MAX_ATTEMPTS else key] += count
    return {
        "enterprise_id": enterprise_id,
        "url": hook.url,
        "created_at": hook.created_at,
        "updated_at": hook.updated_at,
        **backlog,
    }


def remove(session: Session, actor: Actor, enterprise_id: int) -> None:
    """Remove the webhook and what it had not taken yet; delivered records stay."""
    _check(WRITE, session, actor, enterprise_id)
    session.delete(_hook(session, enterprise_id))
    _drop_backlog(session, enterprise_id)
    session.flush()


def queue(session: Session, made: Sequence[Notification], now: dt.datetime) -> int:
    """Delivery rows for notifications just written (flushed: ids known) whose owner has a
    webhook now; how many. The sweep passes only those it inserted, so a second sweep
    queues nothing, and the notifications' unique key keeps two sweeps from both inserting."""
    owners = {n.enterprise_id for n in made}
    if not owners:
        return 0
    w = OwnerWebhook
    hooked: dict[int, str] = dict(
        session.execute(
            select(col(w.enterprise_id), col(w.generation)).where(col(w.enterprise_id).in_(owners))
        ).all()
    )
    rows = []
    for n in made:
        assert n.id is not None  # flushed
        if n.enterprise_id in hooked:
            rows.append(
                OwnerDelivery(
                    notification_id=n.id, enterprise_id=n.enterprise_id,
                    generation=hooked[n.enterprise_id], created_at=now,
                )
            )  # fmt: skip
    session.add_all(rows)
    session.flush()
    return len(rows)


def _check(policy: Policy, session: Session, actor: Actor, enterprise_id: int) -> None:
    """Forbidden unless the role may, and for its own enterprise when limited to it; then
    NotFound when no such enterprise exists."""
    policy.check_role(actor)
    if actor.role not in policy.everywhere and actor.enterprise_id != enterprise_id:
        raise Forbidden("只能管理本企业的 webhook / only your own enterprise's webhook")
    get(session, Enterprise, enterprise_id, "企业 / enterprise")


def _hook(session: Session, enterprise_id: int) -> OwnerWebhook:
    hook = session.get(OwnerWebhook, enterprise_id)
    if hook is None:
        raise NotFound(f"企业 {enterprise_id} 未设置 webhook / no webhook set for {enterprise_id}")
    return hook


def _drop_backlog(session: Session, enterprise_id: int) -> None:
    d = OwnerDelivery
    session.execute(
        delete(d).where(col(d.enterprise_id) == enterprise_id, col(d.delivered_at).is_(None))
    )
