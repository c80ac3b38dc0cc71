"""Refuse a token's second exchange: the jti values seen, each forgotten once its token has expired."""

from __future__ import annotations

import heapq

from emulator.state import EmulatorState


def first_use(state: EmulatorState, key: str, expires_at: float, now: float) -> bool:
    """Remember `key` until `expires_at`; return False when it is already remembered (a replay).

    The entries expired at `now` are forgotten first, soonest expiry first from a heap, so a call costs
    the entries it forgets, not one pass over every token exchanged within its lifetime. Call it holding
    `state.lock`.
    """
    expiries = state.seen_jti_expiries
    while expiries and expiries[0][0] <= now:
        state.seen_jti.pop(heapq.heappop(expiries)[1], None)
    if key in state.seen_jti:
        return False
    state.seen_jti[key] = expires_at
    heapq.heappush(expiries, (expires_at, key))
    return True
