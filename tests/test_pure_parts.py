"""Golden tests for pure pieces: stop handling, slot choice, FIM fitting, step sizing, debounce."""

from __future__ import annotations

import pytest
from fireside.engine.fim import FimParts, fit_fim
from fireside.engine.prefix_reuse import SlotView, common_prefix, plan_reuse
from fireside.engine.step_budget import StepBudget
from fireside.engine.text_stream import TextStream
from fireside.lsp.typing_pace import TypingPace


def test_text_stream_holds_back_a_possible_stop() -> None:
    s = TextStream(("</end>",))
    assert s.push(b"hello </") == "hello "
    assert s.push(b"en") == ""
    assert s.push(b"d> tail") == ""
    assert s.stopped


def test_text_stream_releases_a_false_alarm() -> None:
    s = TextStream(("</end>",))
    assert s.push(b"a </e") == "a "
    assert s.push(b"x") == "</ex"
    assert s.flush() == ""


def test_text_stream_never_splits_a_character() -> None:
    s = TextStream()
    snowman = "☃".encode()
    assert s.push(snowman[:1]) == ""
    assert s.push(snowman[1:]) == "☃"


def test_text_stream_flushes_held_text_at_the_end() -> None:
    s = TextStream(("STOP",))
    assert s.push(b"value ST") == "value "
    assert s.flush() == "ST"


def test_common_prefix() -> None:
    a = list(range(1000))
    assert common_prefix(a, a[:700] + [-1]) == 700
    assert common_prefix(a, []) == 0


def test_plan_prefers_own_cache_then_shares_a_busy_one() -> None:
    prompt = [1, 2, 3, 4, 5, 6]
    slots = [
        SlotView(0, [1, 2, 9], busy=False, last_used=5.0),
        SlotView(1, [7, 7], busy=False, last_used=1.0),
        SlotView(2, [1, 2, 3, 4, 5], busy=True, last_used=9.0),
    ]
    plan = plan_reuse(prompt, slots)
    assert plan is not None
    # The busy slot holds the most; the least useful free slot (1) takes a shared copy.
    assert (plan.target, plan.source, plan.n_reuse) == (1, 2, 5)


def test_plan_keeps_one_token_to_evaluate() -> None:
    plan = plan_reuse([1, 2, 3], [SlotView(0, [1, 2, 3, 4], busy=False, last_used=0.0)])
    assert plan is not None and (plan.target, plan.source, plan.n_reuse) == (0, None, 2)


def test_plan_without_a_match_evicts_the_least_recently_used() -> None:
    slots = [SlotView(0, [5], busy=False, last_used=3.0), SlotView(1, [6], busy=False, last_used=1.0)]
    plan = plan_reuse([1, 2], slots)
    assert plan is not None and (plan.target, plan.n_reuse) == (1, 0)


def test_plan_waits_when_all_slots_are_busy() -> None:
    assert plan_reuse([1], [SlotView(0, [], busy=True, last_used=0.0)]) is None


def test_fit_fim_drops_context_then_trims_far_ends() -> None:
    parts = FimParts(context=list(range(100)), prefix=list(range(1000, 1050)), suffix=list(range(2000, 2050)))
    fitted, dropped = fit_fim(parts, 60)
    assert fitted.context == []
    assert fitted.size == 60 and dropped == 140
    assert fitted.prefix[-1] == 1049 and fitted.suffix[0] == 2000
    assert len(fitted.suffix) == 15
    same, none = fit_fim(parts, 500)
    assert same == parts and none == 0


def test_prompt_steps_are_sized_to_the_measured_speed() -> None:
    budget = StepBudget(512, target_s=0.5, floor=64)
    assert budget.prompt_room() == 512  # not measured yet
    budget.observe(8, 0.5)  # a few generation tokens: says nothing about speed
    assert budget.prompt_room() == 512
    budget.observe(512, 4.0)  # two CPU cores: 128 tokens/s
    assert budget.prompt_room() == 64
    budget.observe(64, 0.25)  # faster now (256/s): the estimate moves towards it
    assert 64 < budget.prompt_room() < 128
    fast = StepBudget(512)
    fast.observe(512, 0.01)  # a GPU
    assert fast.prompt_room() == 512


def _typed(pace: TypingPace, gaps: list[float]) -> TypingPace:
    now = 100.0
    pace.keystroke(now)
    for gap in gaps:
        now += gap
        pace.keystroke(now)
    return pace


def test_the_debounce_follows_the_typists_pace_and_the_models_speed() -> None:
    assert TypingPace().delay(0.12, True, None) == 0.12  # pace unknown: the setting
    steady = _typed(TypingPace(), [0.14] * 6)
    assert steady.delay(0.12, True, None) == pytest.approx(0.21)  # past the usual gap
    assert steady.delay(0.12, True, answer_time=2.5) == pytest.approx(0.21)  # a slow model: no waste
    assert steady.delay(0.12, True, answer_time=0.05) == 0.12  # a fast model: no reason to wait longer
    assert steady.delay(0.12, False, None) == 0.12  # adaptive off
    assert _typed(TypingPace(), [0.03] * 6).delay(0.12, True, None) == 0.06  # fast typist: half the setting
    assert _typed(TypingPace(), [1.0] * 6).delay(0.12, True, None) == pytest.approx(0.48)  # slow: at most 4x
    assert _typed(TypingPace(), [0.14, 0.14, 5.0, 0.14]).delay(0.12, True, None) == pytest.approx(0.21)  # a pause is not pace
