"""An enterprise's own webhook for its notifications: set (or replace), read, remove.

Each view calls one use case of ``ledger.owner_webhooks``, which decides who may do what
and which URLs are acceptable. Not a ledger event: nothing goes into the hash chain. A
keyed PUT (``Idempotency-Key``) is answered again, secret included, to its retry: the
secret is stored in clear beside the webhook anyway, since the scheduler signs with it.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import DateTime, Integer, String
from flask import current_app

from app.api import api
from app.api.registry import READ_ERRORS, WRITE_ERRORS, call
from app.auth import auth
from app.runtime import runtime
from ledger import owner_webhooks as hooks

PATH = "/enterprises/<int:enterprise_id>/webhook"
NO_STORE = {"Cache-Control": "no-store"}  # an answer carrying a secret is never cached


class WebhookIn(Schema):
    url = String(
        required=True,
        metadata={  # checked in ledger.owner_webhooks.valid_url, its refusals bilingual
            "maxLength": hooks.MAX_URL,
            "description": "https:// 网址，不得指向本机或内网 / an https:// URL, not naming this"
            " host or a private network address; no user:password",
            "example": "https://oa.example.com/hooks/cylinders",
        },
    )


class WebhookOut(Schema):
    enterprise_id = Integer()
    url = String()
    created_at = DateTime()
    updated_at = DateTime()
    pending = Integer(metadata={"description": "未发送 / not sent yet"})
    failed = Integer(
        metadata={"description": "上次失败，将重试 / the last attempt failed: retried"}
    )
    given_up = Integer(
        metadata={
            "description": "多次失败，已放弃（最后一次尝试后保留，默认 90 天）/ failed too often: "
            "not sent again (kept OWNER_DELIVERY_KEEP_DAYS, 90 by default, after the last try)"
        }
    )


class WebhookSecretOut(Schema):
    enterprise_id = Integer()
    url = String()
    secret = String(
        metadata={"description": "签名密钥，仅此一次显示 / the signing secret, shown this once"}
    )
    created_at = DateTime()
    updated_at = DateTime()


@api.put(PATH)
@api.auth_required(auth)
@api.input(WebhookIn, arg_name="body")
@api.output(WebhookSecretOut)
@api.doc(
    summary="设置或替换本企业的 webhook，密钥仅此一次显示 / Set or replace the enterprise's"
    " webhook; its secret is shown this once",
    description="每次设置都生成新密钥，旧密钥立即失效；只发送此后产生的通知。"
    " Each PUT makes a new secret (the old one stops at once); only notifications written"
    " from now on are sent, each signed in the Ledger-Signature header (docs/deploy.md).",
    responses=WRITE_ERRORS,
)
def set_webhook(enterprise_id: int, body: dict[str, Any]) -> Any:
    private_ok = bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))
    hook = call(hooks.register, enterprise_id, body["url"], runtime().now(), private_ok)
    return hook.model_dump(exclude={"actor_id"}), 200, NO_STORE


@api.get(PATH)
@api.auth_required(auth)
@api.output(WebhookOut)
@api.doc(
    summary="本企业的 webhook 及待发数量（不含密钥）/ The enterprise's webhook and its backlog"
    " (never its secret)",
    responses=READ_ERRORS,
)
def read_webhook(enterprise_id: int) -> Any:
    return call(hooks.read, enterprise_id, write=False)


@api.delete(PATH)
@api.auth_required(auth)
@api.output({}, status_code=204)
@api.doc(
    summary="删除本企业的 webhook 及其未发送的通知投递 / Remove the enterprise's webhook and"
    " its unsent deliveries",
    responses=WRITE_ERRORS,
)
def remove_webhook(enterprise_id: int) -> Any:
    call(hooks.remove, enterprise_id)
    return ""
