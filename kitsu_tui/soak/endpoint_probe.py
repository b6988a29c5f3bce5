"""The endpoint probe: development-corpus lines (first parts and whole utterances) spoken by espeak-ng through the
real engine, and what each endpointing setting would make of the verdicts it recorded.

Run it with `python -m kitsu_tui.soak.endpoint_probe [FIRST_PARTS] [WHOLE] [SEED]`. None of its lines or voices
belong to the held-out set (`soak/voiceset.py`), so thresholds can be tuned on it without touching that set.
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.config.settings import Settings, VadSettings, load_settings
from kitsu_tui.engine.endpoint import Cue, required_silence_ms
from kitsu_tui.soak.heldout import run_held_out
from kitsu_tui.soak.turntaking import voice_turns_by_item
from kitsu_tui.soak.voiceset import HeldOutItem, build_item, default_cache_dir, pick_voices

DEV_CORPUS = Path(__file__).resolve().parents[2] / "data" / "turns" / "dev_corpus.tsv"
PAUSE_RANGE_MS = (300, 700)
"""Mid-sentence pauses the cut-off share assumes, uniformly spread (the held-out set's range)."""
FRAME_LAG_MS = 16
"""The endpoint fires this much after the required silence (half a 32 ms VAD frame on average)."""
_RULE = re.compile(r"^transcript (?P<cue>\w+)(?:, (?:model [\d.]+|model pending))?"
                   r"(?:, (?:reply|sentence) (?P<p>[\d.]+|pending))?, (?P<ms>\d+) ms$")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the listener knew when a turn ended: the transcript's cue, P(the sentence ends here), the wait it chose."""

    cue: Cue | None
    sentence_prob: float | None
    required_ms: float


def parse_rule(rule: str) -> Verdict | None:
    """The verdict in a turn record's `endpoint_rule` ("transcript unsure, reply 0.24, 650 ms"); None if unreadable."""
    match = _RULE.match(rule.strip())
    if match is None:
        return None
    cue = next((c for c in Cue if c.value == match["cue"]), None)
    prob = match["p"]
    return Verdict(cue, None if prob in (None, "pending") else float(prob), float(match["ms"]))


def load_dev_corpus(path: Path = DEV_CORPUS) -> list[tuple[str, str]]:
    """(kind, text) rows of the development corpus: kind is "complete" or "incomplete"."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        kind, _, text = line.partition("\t")
        if kind not in ("complete", "incomplete") or not text.strip():
            raise ValueError(f"{path}:{number}: expected 'complete' or 'incomplete', a tab, then the text")
        rows.append((kind, text.strip()))
    return rows


def pick_lines(rows: Sequence[tuple[str, str]], first_parts: int, whole: int, seed: int) -> list[tuple[str, str]]:
    """A seeded, shuffled sample of `first_parts` incomplete and `whole` complete lines."""
    rng = random.Random(seed)
    heads = [r for r in rows if r[0] == "incomplete"]
    wholes = [r for r in rows if r[0] == "complete"]
    rng.shuffle(heads)
    rng.shuffle(wholes)
    picked = heads[:first_parts] + wholes[:whole]
    rng.shuffle(picked)
    return picked


def build_probe_items(lines: Sequence[tuple[str, str]], seed: int, cache_dir: Path | None = None) -> list[HeldOutItem]:
    """Each line spoken alone by its own espeak-ng voice; the label says whether it is a first part."""
    voices = pick_voices(len(lines), seed)
    folder = cache_dir or default_cache_dir()
    return [build_item(f"probe-{number:03d}-{'first' if kind == 'incomplete' else 'whole'}", voices[number], text, "",
                       0, folder) for number, (kind, text) in enumerate(lines)]


def cut_share(required_ms: float, pauses: tuple[int, int] = PAUSE_RANGE_MS, lag_ms: float = FRAME_LAG_MS) -> float:
    """The share of uniformly spread pauses that outlast the wait: a first part answered before the rest came."""
    low, high = pauses
    return min(1.0, max(0.0, (high - (required_ms + lag_ms)) / (high - low)))


def verdicts(records: Sequence[Mapping[str, Any]], items: Sequence[HeldOutItem]) -> list[tuple[str, Verdict]]:
    """(label, verdict) of the first voice turn of each item that had a readable rule."""
    by_item = voice_turns_by_item(records)
    found = []
    for item in items:
        turns = by_item.get(item.label, [])
        verdict = parse_rule(str(turns[0].get("endpoint_rule") or "")) if turns else None
        if verdict is not None:
            found.append((item.label, verdict))
    return found


def replay(found: Sequence[tuple[str, Verdict]], vad: VadSettings) -> dict[str, float]:
    """What `vad` would make of the recorded verdicts: the expected cut-off share of the first parts and the mean
    wait of the whole utterances (a transcript still pending when the turn ended keeps its recorded wait)."""
    def wait(verdict: Verdict) -> float:
        if verdict.cue is None:
            return verdict.required_ms
        return required_silence_ms(vad, verdict.cue, None, verdict.sentence_prob)

    first = [wait(v) for label, v in found if label.endswith("-first")]
    whole = [wait(v) for label, v in found if label.endswith("-whole")]
    return {"first_parts": len(first), "cut_share": sum(map(cut_share, first)) / len(first) if first else 0.0,
            "whole": len(whole), "whole_wait_ms": sum(whole) / len(whole) if whole else 0.0,
            "whole_capped": sum(1 for w in whole if w >= vad.end_silence_ms + vad.unfinished_extra_ms)}


def format_replay(name: str, figures: Mapping[str, float]) -> str:
    """One line of the probe's table."""
    return (f"{name:<28} first parts cut {figures['cut_share'] * 100:5.1f} % of {figures['first_parts']:.0f}, "
            f"whole utterances wait {figures['whole_wait_ms']:4.0f} ms on average ({figures['whole_capped']:.0f} "
            f"of {figures['whole']:.0f} at the cap)")


async def run_probe(settings: Settings, items: Sequence[HeldOutItem], err: TextIO) -> list[tuple[str, Verdict]]:
    """Feed the items to a fresh engine endpointing with `sentence` and return the verdicts it recorded."""
    with tempfile.TemporaryDirectory(prefix="kitsu-probe-") as scratch:
        _, records = await run_held_out(settings.with_values({"audio.play_audio": False}), "sentence", items,
                                        Path(scratch), err)
    return verdicts(records, items)


def main(argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Probe, then print the current setting and a few alternatives side by side."""
    first_parts, whole, seed = (int(given) for given in [*argv[:3], *("120", "80", "99")[len(argv[:3]):]])
    settings = load_settings()
    items = build_probe_items(pick_lines(load_dev_corpus(), first_parts, whole, seed), seed)
    found = asyncio.run(run_probe(settings, items, err))
    vad = settings.vad
    for name, changes in (("current", {}), ("margin 100 ms", {"sentence_margin_ms": 100}),
                          ("margin 250 ms", {"sentence_margin_ms": 250}), ("sure at P 0.5", {"sentence_sure": 0.5})):
        out.write(format_replay(name, replay(found, vad.model_copy(update=changes))) + "\n")
    return 0 if found else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
