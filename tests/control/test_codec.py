"""encode_event/decode_event: every engine event survives the JSON round trip; junk decodes to None."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kitsu_tui.control.codec import REPLAY_DONE, decode_event, encode_event, event_classes
from kitsu_tui.engine import events as ev

SAMPLES: list[ev.Event] = [
    ev.PipelineStateChanged(state=ev.PipelineState.SPEAKING, muted=True, paused=False, panic=True),
    ev.ModuleStateChanged(module="obs", state=ev.ModuleState.ERROR, reason="OBS unreachable"),
    ev.StageError(stage="llm", message="boom"),
    ev.Notice(level="warning", message="careful"),
    ev.PersonaChanged(name="calm", display_name="Calm Kitsu"),
    ev.SystemStatsSampled(cpu_percent=12.5, rss_mb=300.0, gpus=(
        ev.GpuStat(index=0, name="H200", utilization_pct=5.0, memory_used_mb=1.0, memory_total_mb=2.0,
                   temperature_c=40.0, power_w=None, fan_pct=None),), gpu_status="ok"),
    ev.MicLevel(rms=0.25),
    ev.SpeechStarted(speech_start=1.5),
    ev.SpeechEnded(speech_end=2.5, duration_s=1.0),
    ev.TranscriptPartial(text="hel"),
    ev.TranscriptFinal(text="hello", asr_ms=80.0),
    ev.TurnStarted(turn_id=3, source=ev.Source.VOICE, text="hi", author="me", arrived=4.0),
    ev.TurnRejected(turn_id=3, source=ev.Source.CHAT, text="x", reason="panic is engaged", author="bob"),
    ev.ModerationDecided(stage="input", action="block", rule="slur", text="t", detail="d", author="a",
                         text_hash="abc", ms=0.3),
    ev.SentenceHeld(hold_id=1, index=0, text="held", reason="review", review=True, release_in_s=None),
    ev.HoldResolved(hold_id=1, index=0, action="approved", by="api", text_hash="h"),
    ev.MoodChanged(mood="happy", actions=("wave", "nod")),
    ev.LlmStarted(turn_id=2),
    ev.LlmToken(text=" fox"),
    ev.LlmFinished(text="Hi!", tokens=3, ttft_ms=10.0, tokens_per_s=30.0, stopped=True),
    ev.SentenceQueued(index=0, text="Hi!"),
    ev.SentenceStateChanged(index=0, status=ev.SentenceStatus.PLAYING, duration_s=1.2, reason="r"),
    ev.TtsAudioReady(index=0, duration_s=1.2, synth_ms=90.0),
    ev.PlaybackStarted(index=0, text="Hi!"),
    ev.PlaybackFinished(index=0, played_text="Hi", interrupted=True),
    ev.MouthUpdated(value=0.7, vowels=(0.1, 0.2, 0.3, 0.4, 0.5)),
    ev.Interrupted(reason="barge-in"),
    ev.TurnCompleted(turn_id=3, record={"turn": 3, "latency_ms": {"first_audio": 812.5}, "moderation": [{"a": 1}]}),
    ev.OperatorAction(action="scene", detail="BRB", by="api"),
    ev.PanicStepsDone(module="obs", engaged=True, steps=("scene BRB", "mute Mic"), elapsed_ms=40.0, error=""),
]


def test_samples_cover_every_event_class() -> None:
    assert {type(e).__name__ for e in SAMPLES} == set(event_classes())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.kind)
def test_round_trip_through_json(event: ev.Event) -> None:
    data = encode_event(event)
    assert data["kind"] == event.kind and "lossy" not in data
    wire = json.loads(json.dumps(data))  # strictly JSON-safe: enums as values, tuples as lists
    back = decode_event(wire)
    assert back == event
    assert back is not None and back.ts == event.ts and back.turn_id == event.turn_id
    for f in dataclasses.fields(event):
        assert type(getattr(back, f.name)) is type(getattr(event, f.name)), f.name  # enums and tuples restored


def test_enums_and_tuples_are_plain_json() -> None:
    data = encode_event(ev.MoodChanged(mood="happy", actions=("wave",)))
    assert data["actions"] == ["wave"]
    data = encode_event(ev.PipelineStateChanged(state=ev.PipelineState.PANIC))
    assert data["state"] == "panic" and type(data["state"]) is str


@pytest.mark.parametrize("data", [
    {"kind": REPLAY_DONE},
    {"kind": "NoSuchEvent", "ts": 1.0},
    {"ts": 1.0},
    {"kind": 5},
    {"kind": "Notice", "level": "info"},  # a required field missing
    {"kind": "Notice", "level": "info", "message": 3},  # wrong type
    {"kind": "PipelineStateChanged", "state": "dancing"},  # not an enum value
    {"kind": "MouthUpdated", "value": 0.5, "vowels": [0.1, 0.2]},  # wrong tuple length
    {"kind": "TurnStarted", "source": "chat", "text": "x", "turn_id": True},  # bool is not an int
    {"kind": "TurnCompleted", "record": ["not", "an", "object"]},
    {"kind": "SystemStatsSampled", "cpu_percent": 1.0, "rss_mb": 1.0, "gpus": [{"index": 0}]},
])
def test_unknown_kinds_and_bad_fields_decode_to_none(data: dict[str, object]) -> None:
    assert decode_event(data) is None


def test_absent_optional_fields_take_defaults_and_extra_keys_are_ignored() -> None:
    event = decode_event({"kind": "Notice", "level": "info", "message": "hi", "future_field": 1})
    assert isinstance(event, ev.Notice) and event.turn_id == 0 and event.message == "hi"
