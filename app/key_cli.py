"""``flask ledger new-key`` and ``flask ledger verifier-key``: the checkpoint key's rotation
by command (docs/deploy.md §9). A new key is written beside the one in use, never over a
file, and its verifier key printed, so it can be published before it signs anything."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.runtime import runtime
from ledger.keys import read_server_signer
from ledger.note import generate_signer_key, signer_from_key, verifier_key_for


@click.command("new-key")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def new_key(path: Path) -> None:
    """Write a new server key named after LEDGER_ORIGIN to PATH (mode 0600, never over an
    existing file) and print its verifier key, the line to publish."""
    skey = generate_signer_key(runtime().origin)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(
            f"{path} 已存在，未改动 / already exists: left as it is (this command never "
            "replaces a key; choose another name, e.g. server.key.new)"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(skey + "\n")
        f.flush()
        os.fsync(f.fileno())
    click.echo(verifier_key_for(signer_from_key(skey)))
    click.echo(
        f"新密钥已写入 {path}；请先公布上面的验证公钥，再替换 server.key / new key written to "
        f"{path}: publish the verifier key above before it replaces server.key "
        "(docs/deploy.md §9)",
        err=True,
    )


@click.command("verifier-key")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def verifier_key(path: Path) -> None:
    """Print the verifier key (name+hex8+base64) of the server key file PATH, which must be
    named after LEDGER_ORIGIN."""
    if not path.exists():  # said here: the audit's own message would suggest its --key
        raise click.ClickException(f"未找到密钥文件 no key file at {path}")
    click.echo(verifier_key_for(read_server_signer(path, runtime().origin)))
