"""Turn-taking scores of a held-out voice run from its turn records: cut-offs on paused sentences and false waits."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from kitsu_tui.soak.stats import describe

COVERED_SHARE = 0.5
"""A transcript holds a phrase when at least this share of the phrase's words is in it (ASR makes mistakes)."""
AUDIO_BEFORE_END = "reply audio began before the person finished"
TWO_TURNS = "one utterance made two voice turns"
SECOND_HALF_MISSING = "the answered transcript lacks the second half"


def words(text: str) -> list[str]:
    """Lower-case words of a text, punctuation dropped."""
    return re.findall(r"[a-z0-9']+", text.lower())


def covers(transcript: str, phrase: str, share: float = COVERED_SHARE) -> bool:
    """Whether the transcript holds (most of) the phrase's words; an empty phrase is always held."""
    wanted = words(phrase)
    if not wanted:
        return True
    heard = set(words(transcript))
    return sum(1 for word in wanted if word in heard) / len(wanted) >= share


def holds_second_half(transcript: str, first: str, second: str) -> bool:
    """Whether a transcript goes on past the first half: most second-half words heard, or clearly more words
    than the first half alone has (a poor transcript of the second half is still the second half)."""
    extra = len(words(transcript)) - len(words(first))
    return covers(transcript, second) or extra >= max(2, len(words(second)) // 2)


def long_wait_ms(end_silence_ms: float, unfinished_extra_ms: float, unsure_extra_ms: float = 0.0) -> float:
    """Endpointing at or above this took the longest wait (the cap): halfway between the next shorter wait
    (the unsure one, or the base silence) and base + unfinished_extra_ms."""
    return end_silence_ms + (min(unsure_extra_ms, unfinished_extra_ms) + unfinished_extra_ms) / 2


def item_label(record: Mapping[str, Any]) -> str:
    """The label of the fed item a record belongs to ("" when the record has none)."""
    given = record.get("input")
    return str(given.get("file") or "") if isinstance(given, Mapping) else ""


def voice_turns_by_item(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The voice turn records of each fed item, in the order they completed."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        label = item_label(record)
        if label and record.get("source") == "voice":
            out.setdefault(label, []).append(record)
    return out


def answering_turn(turns: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The turn whose reply the person was left with: the last one that made audio, else the last one."""
    audible = [t for t in turns if "first_audio" in (t.get("latency_ms") or {})]
    return audible[-1] if audible else (turns[-1] if turns else None)


def answer_latency_ms(turn: Mapping[str, Any]) -> float | None:
    """From the end of the person's speech to the answer's first audio (the bench's timing, else the record's)."""
    value = turn.get("first_audio_vs_end_ms")
    if not isinstance(value, int | float):
        value = (turn.get("latency_ms") or {}).get("first_audio")
    return float(value) if isinstance(value, int | float) else None


def cut_off_reasons(meta: Mapping[str, Any], turns: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why a paused item was cut off (empty when it was answered as one whole sentence, or not at all)."""
    answer = answering_turn(turns)
    if answer is None:
        return []
    reasons = []
    if any(isinstance(t.get("first_audio_vs_end_ms"), int | float) and float(t["first_audio_vs_end_ms"]) < 0
           for t in turns):
        reasons.append(AUDIO_BEFORE_END)
    if len(turns) > 1:
        reasons.append(TWO_TURNS)
    if not holds_second_half(str(answer.get("transcript", "")), str(meta.get("first", "")), str(meta.get("second", ""))):
        reasons.append(SECOND_HALF_MISSING)
    return reasons


def complete_when_endpointed(meta: Mapping[str, Any], turn: Mapping[str, Any]) -> bool:
    """Whether the sentence was finished when this turn was endpointed (a paused one: its second half is heard)."""
    if meta.get("second_start") is None:
        return True
    return holds_second_half(str(turn.get("transcript", "")), str(meta.get("first", "")), str(meta.get("second", "")))


def wait_counts(meta: Mapping[str, Any], turns: Sequence[Mapping[str, Any]], threshold_ms: float) -> Counter[str]:
    """Complete and incomplete turns of one item, and how many of each took the longer endpointing cap."""
    counts: Counter[str] = Counter()
    for turn in turns:
        waited = (turn.get("latency_ms") or {}).get("endpointing")
        if not isinstance(waited, int | float):
            continue
        kind = "complete" if complete_when_endpointed(meta, turn) else "incomplete"
        counts[f"{kind}_turns"] += 1
        if waited >= threshold_ms:
            counts["false_waits" if kind == "complete" else "kept_waiting"] += 1
    return counts


def item_outcome(meta: Mapping[str, Any], turns: Sequence[Mapping[str, Any]], threshold_ms: float) -> dict[str, Any]:
    """One item's result: turns made, cut-off reasons (paused items), long waits, answer latency."""
    answer = answering_turn(turns)
    return {
        "label": meta.get("label", ""), "voice": meta.get("voice", ""), "paused": meta.get("second_start") is not None,
        "pause_ms": meta.get("pause_ms", 0), "text": meta.get("text", ""),
        "heard": [str(t.get("transcript", "")) for t in turns],
        "endpointing_ms": [(t.get("latency_ms") or {}).get("endpointing") for t in turns],
        "cut_off": cut_off_reasons(meta, turns) if meta.get("second_start") is not None else [],
        "waits": dict(wait_counts(meta, turns, threshold_ms)),
        "answer_ms": None if answer is None else answer_latency_ms(answer),
    }


def rate(count: int, total: int) -> float | None:
    """count / total rounded to 3 places, None for no total."""
    return round(count / total, 3) if total else None


def score(records: Sequence[Mapping[str, Any]], items: Sequence[Mapping[str, Any]], threshold_ms: float) -> dict[str, Any]:
    """Cut-off rate on the paused items, false waits, and first audio over the held-out items' voice turns."""
    by_item = voice_turns_by_item(records)
    outcomes = [item_outcome(meta, by_item.get(str(meta.get("label", "")), []), threshold_ms) for meta in items]
    paused = [o for o in outcomes if o["paused"]]
    answered_paused = [o for o in paused if o["heard"]]
    cut = [o for o in answered_paused if o["cut_off"]]
    reasons: Counter[str] = Counter(reason for o in cut for reason in o["cut_off"])
    waits: Counter[str] = Counter()
    for outcome in outcomes:
        waits.update(outcome["waits"])
    turns = [t for label in (str(m.get("label", "")) for m in items) for t in by_item.get(label, [])]
    first_audio = [float(v) for t in turns if isinstance(v := (t.get("latency_ms") or {}).get("first_audio"), int | float)]
    endpointing = [float(v) for t in turns if isinstance(v := (t.get("latency_ms") or {}).get("endpointing"), int | float)]
    answers = [float(o["answer_ms"]) for o in outcomes if o["answer_ms"] is not None]
    return {
        "items": len(outcomes), "answered": sum(1 for o in outcomes if o["heard"]), "voice_turns": len(turns),
        "first_audio": describe(first_audio), "answer_ms": describe(answers), "endpointing": describe(endpointing),
        "paused_items": len(paused), "paused_answered": len(answered_paused), "cut_offs": len(cut),
        "cut_off_rate": rate(len(cut), len(answered_paused)), "cut_off_reasons": dict(reasons),
        "long_wait_ms": threshold_ms, "complete_turns": waits["complete_turns"], "false_waits": waits["false_waits"],
        "false_wait_rate": rate(waits["false_waits"], waits["complete_turns"]),
        "incomplete_turns": waits["incomplete_turns"], "kept_waiting": waits["kept_waiting"],
        "outcomes": outcomes,
    }


def format_score(result: Mapping[str, Any]) -> list[str]:
    """Plain-text lines for the bench table."""
    def stat(figures: Mapping[str, Any]) -> str:
        if not figures.get("count"):
            return "-"
        return f"p50 {figures['p50']:.0f} / p95 {figures['p95']:.0f} ms (n={figures['count']})"

    cut_rate = result["cut_off_rate"]
    lines = [
        f"held-out voices: {result['answered']}/{result['items']} items answered, {result['voice_turns']} voice turns",
        f"held-out first audio (per turn): {stat(result['first_audio'])}",
        f"held-out answer after the person stopped (per item): {stat(result['answer_ms'])}",
        f"held-out endpointing: {stat(result['endpointing'])}",
        f"cut-offs on paused sentences: {result['cut_offs']}/{result['paused_answered']}"
        + ("" if cut_rate is None else f" ({cut_rate:.0%})"),
        f"false waits (complete sentence, endpointing >= {result['long_wait_ms']:.0f} ms): "
        f"{result['false_waits']}/{result['complete_turns']}; incomplete turns that waited: "
        f"{result['kept_waiting']}/{result['incomplete_turns']}",
    ]
    lines += [f"  cut-off reason: {reason}: {count}" for reason, count in result["cut_off_reasons"].items()]
    return lines
