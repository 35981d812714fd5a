"""Sorting actions of the outbound package (registered in mailproc.sorting.plugins)."""

from __future__ import annotations

from mailproc.outbound.bounces import handle_bounce
from mailproc.sorting.registry import action


@action("handle-bounce", "Отметить недоставленное письмо и подавить мёртвый адрес")
def handle_bounce_action(ctx) -> dict:
    return handle_bounce(ctx.session, ctx.settings, ctx.letter)
