"""What this server last signed, kept outside the database: it never signs a tree that
does not extend it.

A checkpoint is a promise that every later tree holds this one. The tree and the
checkpoints both live in the database, so someone with the database alone could rewrite
history, delete the checkpoints above the rewrite and let the server sign the new tree;
anyone who had not kept an older checkpoint would then take it for the truth. So the last
checkpoint signed is also kept in a file beside the server's key (``last-checkpoint``):
before signing, the stored tree must extend it (a consistency proof from the stored tree,
verified), or nothing is signed and ``LogForkError`` says why. A database restored from a
backup older than that checkpoint is such a fork too; ``ledger checkpoint --after-restore``
signs it once the operator has accepted the loss (docs/deploy.md §8).
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from ledger import log, merkle
from ledger.checkpoint import Checkpoint as CheckpointBody
from ledger.checkpoint import CheckpointError, parse_checkpoint_body
from ledger.errors import LedgerError
from ledger.model import Checkpoint
from ledger.note import NoteError, Signer, split_note
from ledger.whole_files import write_whole

FILE_NAME = "last-checkpoint"


class LogForkError(LedgerError):
    """The stored tree does not extend the checkpoint this server signed last."""


def publish(
    session: Session, signer: Signer, origin: str, memory: Path | None, *, accept: bool = False
) -> Checkpoint:
    """``log.publish_checkpoint``, once the stored tree is shown to extend the remembered
    checkpoint (``accept``: sign it anyway, after a restore the operator has accepted).
    The caller remembers the answer once its transaction has committed (``remember``)."""
    if memory is not None and not accept:
        state = log.log_state(session)
        require_extension(session, remembered(memory), state.size, state.root)
    return log.publish_checkpoint(session, signer, origin)


def remembered(path: Path) -> CheckpointBody | None:
    """The checkpoint in the file, or None when there is none yet."""
    try:
        note = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogForkError(f"最近签发的检查点文件无法读取 / cannot read {path}: {exc}") from exc
    try:
        return parse_checkpoint_body(split_note(note)[0])
    except (NoteError, CheckpointError) as exc:
        why = f"最近签发的检查点文件已损坏 / {path} is not a checkpoint: {exc}"
        raise LogForkError(why) from exc


def require_extension(
    session: Session, last: CheckpointBody | None, size: int, root: bytes
) -> None:
    """Raise ``LogForkError`` unless the stored tree (size, root) extends ``last``."""
    if last is None:
        return
    why = None
    if size < last.size:
        why = f"tree size {size} is smaller than the {last.size} leaves already signed"
    else:
        try:
            proof = log.consistency_proof(session, last.size, size)
            merkle.verify_consistency(last.size, size, proof, last.root, root)
        except (merkle.ProofError, log.LogRangeError) as exc:
            why = f"the first {last.size} leaves are not those signed: {exc}"
    if why is not None:
        raise LogForkError(
            "数据库中的日志与本服务器最近签发的检查点不一致（数据被改动，或从较旧的备份恢复），"
            "拒绝签发；请运行 ledger audit / the log in the database does not extend the "
            f"last checkpoint this server signed ({why}): nothing signed; run `ledger audit`"
        )


def path_in(keys_dir: Path | None) -> Path | None:
    """Where the server whose keys are in ``keys_dir`` keeps its last checkpoint."""
    return None if keys_dir is None else keys_dir / FILE_NAME


def remember(path: Path, note: str) -> None:
    """Keep ``note`` as the last checkpoint signed (written whole or not at all)."""
    try:
        if path.read_text(encoding="utf-8") == note:
            return  # the tree did not grow: nothing to write
    except (OSError, UnicodeDecodeError):
        pass
    write_whole(path, note)
