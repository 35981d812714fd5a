"""Small helpers the registration modules share: the outbox, the vault, ЦКО's address."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mailproc.errors import ConfigError
from mailproc.registrations.vault import Vault

REVIEW_REASON_NO_CKO = ("rules/departments.yaml: нет ответственного ЦКО (cko: name, address); "
                        "впишите его, чтобы документы уходили на регистрацию")


def outbox(ctx, **kw):
    """Queue a message in the message's transaction (the contract's ``enqueue``)."""
    if getattr(ctx, "outbox", None) is not None:
        return ctx.outbox(**kw)
    from mailproc.outbound.outbox import enqueue

    return enqueue(ctx.session, ctx.settings, **kw)


def vault(settings) -> Vault:
    return Vault.from_settings(settings)


def vault_or_none(settings) -> Vault | None:
    """The vault when a key is configured, else None (for callers that can do without)."""
    try:
        return Vault.from_settings(settings)
    except ConfigError:
        return None


def cko_address(ctx) -> str:
    """ЦКО's responsible address from the departments directory."""
    directory = getattr(ctx, "directory", None)
    if directory is None:
        from mailproc.sorting.directory import load_directory

        directory = load_directory(Path(ctx.settings.paths.rules) / "departments.yaml")
    cko = getattr(directory, "cko", None)
    address = getattr(cko, "address", "") if cko is not None else ""
    if not address:
        raise ConfigError(REVIEW_REASON_NO_CKO)
    return address


def attachment_name(kind_ru: str, index: int, content_type: str) -> str:
    """``01 Анкета.jpg``: built by ``filenames.safe_name``, the extension from the type."""
    from mailproc.outbound.filenames import safe_name  # noqa: PLC0415 - stdlib only

    return safe_name(f"{index:02d} {kind_ru}", content_type)


@dataclass
class ServiceContext:
    """What the services need when no message is being processed (commands, daily jobs):
    the same names as the sorting ActionContext."""

    session: Any
    settings: Any
    now: datetime
    letter: Any = None
    message: Any = None
    tokens: Any = None
    directory: Any = None
    folder: str | None = None
    keywords: list[str] = field(default_factory=list)

    def outbox(self, **kw):
        from mailproc.outbound.outbox import enqueue

        return enqueue(self.session, self.settings, **kw)
