"""Context fitting drops history in blocks, so the prompt's start (the engine's cache) holds."""

from __future__ import annotations

import itertools
from typing import Any

from causerie.services.context import DROP_BLOCK, estimate, fit

ROOM = 1_500
RATIO = 3.0
SYSTEM = {"role": "system", "content": "You are Causerie."}


def turn(i: int, words: int) -> list[dict[str, Any]]:
    question = {"role": "user", "content": f"Question {i}: " + "why " * words}
    return [question, {"role": "assistant", "content": f"Answer {i}: " + "because " * words}]


def test_the_kept_history_starts_at_the_same_message_until_the_next_block_drop() -> None:
    history: list[dict[str, Any]] = [SYSTEM]
    starts, used = [], []
    for i in range(60):
        history += turn(i, 20 + 7 * (i % 5))  # turns of 100 to 260 tokens
        # The reply is not there yet when the turn is fitted: the question is the latest.
        fitted = fit(history[:-1], ROOM, RATIO)
        assert fitted.messages[0] == SYSTEM and fitted.messages[-1] == history[-2]
        kept = fitted.messages[1:]
        assert kept == history[1:-1][fitted.dropped :]  # the newest turns, in order
        assert kept[0]["role"] == "user"  # never a reply cut from its question
        assert fitted.tokens == sum(estimate(m, RATIO) for m in fitted.messages) <= ROOM
        starts.append(fitted.dropped)
        used.append(fitted.tokens)
    drops = [i for i in range(1, len(starts)) if starts[i] != starts[i - 1]]
    assert drops, "60 turns of ~180 tokens never outgrew 1,500 tokens?"
    # Between two drops the prompt's start is the same message: the engine reuses its cache.
    gaps = [b - a for a, b in itertools.pairwise(drops)]
    assert min(gaps) >= 3, (drops, starts)  # one message a turn would make every gap 1
    # A drop takes a block off: the prompt shrinks to about 60 % of the room, not to 99 %.
    for i in drops:
        assert used[i] <= (1 - DROP_BLOCK) * ROOM + 270, (i, used[i])  # 270: one turn


def test_a_message_larger_than_a_block_still_leaves_the_newest_that_fit() -> None:
    huge = {"role": "user", "content": "x" * (3 * ROOM * 3)}
    history = [*turn(0, 20), huge, {"role": "assistant", "content": "ok"}, turn(1, 20)[0]]
    fitted = fit(history, ROOM, RATIO)
    assert fitted.messages == history[-1:] and fitted.dropped == len(history) - 1
    # Alone, the latest stays even over the room: the engine counts it and refuses it.
    alone = fit([SYSTEM, huge], ROOM, RATIO)
    assert alone.messages == [SYSTEM, huge] and alone.dropped == 0
    assert fit([SYSTEM], ROOM, RATIO).dropped == 0
