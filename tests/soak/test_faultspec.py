"""`--faults` specs: explicit entries, times, errors in one line, and the default schedule spread over a soak."""

from __future__ import annotations

import pytest

from kitsu_tui.soak.faultspec import (
    DEFAULT_SECONDS,
    KINDS,
    Fault,
    FaultSpecError,
    default_schedule,
    parse_faults,
)


def test_explicit_entries_in_start_order() -> None:
    faults = parse_faults("tts@2m+10s, llm-500@30s, output@45", 300)
    assert faults == [Fault("llm-500", 30.0, DEFAULT_SECONDS["llm-500"]), Fault("output", 45.0, DEFAULT_SECONDS["output"]),
                      Fault("tts", 120.0, 10.0)]
    assert faults[2].until_s == 130.0


def test_entries_without_a_time_are_spaced_out() -> None:
    assert [f.at_s for f in parse_faults("llm-cut,db-lock", None)] == [20.0, 40.0]


@pytest.mark.parametrize("spec", ["", "none", "off"])
def test_no_faults(spec: str) -> None:
    assert parse_faults(spec, 60) == []


@pytest.mark.parametrize("spec", ["llm-501", "tts@soon", "tts+0", "tts@1h", "db-lock@5s+-3"])
def test_bad_specs_are_one_readable_line(spec: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_faults(spec, 60)
    message = str(caught.value)
    assert "\n" not in message and "--faults" in message


def test_default_needs_a_duration() -> None:
    with pytest.raises(FaultSpecError, match="duration"):
        parse_faults("default", None)


def test_default_cycles_every_available_kind_with_clean_time_between() -> None:
    available = frozenset(KINDS) - {"obs", "vts"}
    faults = default_schedule(7200, available)
    kinds = [f.kind for f in faults]
    assert set(kinds) == available
    assert all(kinds.count(k) >= 5 for k in available)  # a 2-hour soak meets every fault several times
    for earlier, later in zip(faults, faults[1:], strict=False):
        assert earlier.until_s < later.at_s  # one fault at a time, with clean turns between
    assert faults[-1].until_s < 7200


def test_default_fits_a_short_soak() -> None:
    faults = default_schedule(180, frozenset({"llm-500", "tts"}))
    assert [f.kind for f in faults][:2] == ["llm-500", "tts"]
    assert all(f.duration_s <= DEFAULT_SECONDS[f.kind] for f in faults) and faults[-1].at_s + 5 < 180
    assert all(a.until_s < b.at_s for a, b in zip(faults, faults[1:], strict=False))
