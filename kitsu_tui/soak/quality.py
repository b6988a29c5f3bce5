"""`kitsu bench --quality`: ordinary chat lines through the real pipeline, scored for reply hygiene, length and mood."""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.bootstrap import build_engine
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.events import Event, TtsAudioReady
from kitsu_tui.engine.hygiene import mangled_login
from kitsu_tui.engine.mood import MOOD_ALIASES
from kitsu_tui.headless import start_engine
from kitsu_tui.memory.summary import STOPWORDS
from kitsu_tui.soak.bench import chat_gap_s, machine
from kitsu_tui.soak.driver import TurnDriver
from kitsu_tui.soak.plan import ChatItem
from kitsu_tui.soak.stats import describe, percentile
from kitsu_tui.soak.summary import SoakTally

LINES_FILE = Path("quality") / "chat_lines.txt"
"""The shipped chat lines, under settings.paths.data_dir: `login<TAB>text` per line."""
REPEAT_WINDOW = 10
"""A sentence counts as a repeat when one of the previous this-many replies already held it."""

#: Words that, written as `word:` at the start of a line, make a reply a transcript instead of speech.
ROLE_WORDS = frozenset(
    ["user", "assistant", "viewer", "chat", "chatter", "system", "human", "ai", "bot", "streamer", "host", "guest", "narrator", "fan", "person", "me", "you", "vtuber", "moderator", "mod", "question", "answer", "reply", "response", "q", "a"]
)
_SPEECH_VERBS = "said|says|say|asked|asks|ask|replied|replies|wrote|writes|answered|answers|responded|responds"
_DIALOGUE_RE = re.compile(rf"\b(?:{_SPEECH_VERBS})\s*(?::|,?\s*[\"“])", re.IGNORECASE)
_LABEL_RE = re.compile(r"^[\s\"'“(*-]*([^\s:]{1,30}(?: [^\s:]{1,20})?)\s*:(?:\s|$)")
_ROLE_MARKER_RE = re.compile(r"<\|[a-z_]+\|?>?|\bim_(?:start|end)\b", re.IGNORECASE)
_MOOD_TAG_RE = re.compile(r"^\s*\[\s*([A-Za-z_]+)")
_LEADING_TAGS_RE = re.compile(r"^\s*(?:\[[^\]\n]{0,40}\]\s*)+")
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
_WORD_RE = re.compile(r"[a-z0-9']+")
_GREETING_RE = re.compile(
    r"^\W*(?:hi+|hello+|hey+|heya|hiya|yo|howdy|sup|greetings|good (?:morning|afternoon|evening|night))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One line of the quality set: who sends it and what."""

    login: str
    text: str

    @property
    def greeting(self) -> bool:
        """The viewer says hello: the persona may greet them by name."""
        return bool(_GREETING_RE.match(self.text))


def load_lines(path: Path) -> list[ChatLine]:
    """Read `login<TAB>text` lines (blank lines and `#` comments skipped); raises ValueError naming a bad line."""
    lines: list[ChatLine] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        login, sep, text = raw.partition("\t")
        if not sep or not login.strip() or not text.strip():
            raise ValueError(f"{path}:{number}: expected 'login<TAB>text'")
        lines.append(ChatLine(login.strip(), text.strip()))
    return lines


def sentences(text: str) -> list[str]:
    """The sentences (and separate lines) of a reply, stripped, without empty ones."""
    return [s.strip() for s in _SENTENCE_SPLIT_RE.split(text) if s and any(c.isalnum() for c in s)]


def normalized(sentence: str) -> str:
    """Lower-case words only, to compare sentences for exact repeats."""
    return " ".join(_WORD_RE.findall(sentence.lower()))


def without_mood_tag(raw: str) -> str:
    """A raw LLM reply without its leading `[mood]` / `[mood|action]` tags."""
    return _LEADING_TAGS_RE.sub("", raw, count=1)


def is_label_leak(sentence: str, logins: Iterable[str], persona_names: Iterable[str]) -> bool:
    """True when the sentence starts with a speaker label (`fan32:`, `User:`, `Kitsu:`) or holds a role marker."""
    if _ROLE_MARKER_RE.search(sentence):
        return True
    match = _LABEL_RE.match(sentence)
    if match is None:
        return False
    label = match.group(1).strip("\"'“”*()").lower()
    if re.search(rf"\b(?:{_SPEECH_VERBS})$", label):
        return False  # "X said: ..." is counted as invented dialogue
    names = {n.lower() for n in (*logins, *persona_names)}
    head = label.split(" ")[0]
    return label in ROLE_WORDS or label in names or head in names or bool(re.search(r"[\d_]", label))


def is_invented_dialogue(sentence: str) -> bool:
    """True when the sentence reports made-up speech ("You said: ...", "He says, \"...\"")."""
    return bool(_DIALOGUE_RE.search(sentence))


def logins_in(text: str, logins: Iterable[str], misspelt: bool = False) -> list[str]:
    """Which logins appear in `text` as words (case-insensitive; `_` may be read as a space).

    With `misspelt`, a login also counts when a handle-like word misspells it ("kaz_play" for kaz_plays).
    """
    lowered = text.lower()
    near = {mangled_login(word, logins) for word in re.findall(r"[\w@]+", lowered)} if misspelt else set()
    found = []
    for login in logins:
        forms = {login.lower(), login.lower().replace("_", " ")}
        if login.lower() in near or any(re.search(rf"(?<![\w]){re.escape(form)}(?![\w])", lowered) for form in forms):
            found.append(login)
    return found


def content_words(text: str, ignore: Iterable[str] = ()) -> set[str]:
    """Topic words of a line: not stop words, at least 3 letters, plural 's' dropped."""
    skip = {w.lower() for w in ignore}
    words = set()
    for word in _WORD_RE.findall(text.lower()):
        word = word.strip("'").removesuffix("'s")
        if len(word) < 3 or word in STOPWORDS or word in skip or word.isdigit():
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return words


def model_mood(raw: str, moods: Iterable[str]) -> str | None:
    """The mood named by the reply's own leading tag (None when the model wrote none)."""
    match = _MOOD_TAG_RE.match(raw)
    if match is None:
        return None
    word = match.group(1).lower()
    known = set(moods)
    if word in known:
        return word
    alias = MOOD_ALIASES.get(word)
    return alias if alias in known else None


def score_turn(line: ChatLine, record: dict[str, Any], previous: Sequence[str], logins: Sequence[str],
               persona_names: Sequence[str], moods: Sequence[str], audio_s: float) -> dict[str, Any]:
    """Every quality figure of one reply; `previous` holds the spoken text of the replies before it."""
    raw = str(record.get("reply", ""))
    spoken = str(record.get("spoken", ""))
    raw_sentences = sentences(without_mood_tag(raw))
    spoken_sentences = sentences(spoken)
    earlier = {normalized(s) for reply in previous[-REPEAT_WINDOW:] for s in sentences(reply)}
    question_words = content_words(line.text, persona_names)
    others = [] if line.greeting else logins
    return {
        "login": line.login,
        "text": line.text,
        "greeting": line.greeting,
        "raw": raw,
        "spoken": spoken,
        "rejected": record.get("rejected", ""),
        "error": record.get("error", ""),
        "mood": record.get("mood", ""),
        "model_mood": model_mood(raw, moods),
        "label_leaks_raw": [s for s in raw_sentences if is_label_leak(s, logins, persona_names)],
        "label_leaks_spoken": [s for s in spoken_sentences if is_label_leak(s, logins, persona_names)],
        "dialogue_raw": [s for s in raw_sentences if is_invented_dialogue(s)],
        "dialogue_spoken": [s for s in spoken_sentences if is_invented_dialogue(s)],
        "logins_raw": logins_in(without_mood_tag(raw), others, misspelt=True),
        "logins_spoken": logins_in(spoken, others, misspelt=True),
        "sentences": len(spoken_sentences),
        "repeats": [s for s in spoken_sentences if normalized(s) in earlier],
        "raw_sentences": len(raw_sentences),
        "raw_repeats": [s for s in raw_sentences if normalized(s) in earlier],
        "audio_s": round(audio_s, 2),
        "question_words": sorted(question_words),
        "relevant": (bool(question_words & content_words(spoken)) if question_words and spoken else None),
        "first_audio_ms": (record.get("latency_ms") or {}).get("first_audio"),
    }


def _spread(values: Sequence[float]) -> dict[str, float | int]:
    """count, median and p95 of some values."""
    if not values:
        return {"count": 0}
    return {"count": len(values), "median": round(percentile(values, 0.5), 2), "p95": round(percentile(values, 0.95), 2)}


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def summarize(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """The aggregate figures over every scored reply (rejected turns only count as rejected)."""
    replied = [t for t in turns if not t["rejected"] and not t["error"]]
    spoken = [t for t in replied if t["spoken"]]
    sentences_spoken = sum(t["sentences"] for t in replied)
    sentences_raw = sum(t["raw_sentences"] for t in replied)
    relevant = [t for t in spoken if t["relevant"] is not None]
    latencies = [float(t["first_audio_ms"]) for t in replied if t["first_audio_ms"] is not None]
    return {
        "lines": len(turns),
        "replies": len(replied),
        "rejected": sum(1 for t in turns if t["rejected"]),
        "errors": sum(1 for t in turns if t["error"]),
        "silent_replies": len(replied) - len(spoken),
        "label_leaks": {"raw": sum(len(t["label_leaks_raw"]) for t in replied),
                        "spoken": sum(len(t["label_leaks_spoken"]) for t in replied)},
        "invented_dialogue": {"raw": sum(len(t["dialogue_raw"]) for t in replied),
                              "spoken": sum(len(t["dialogue_spoken"]) for t in replied)},
        "logins_without_greeting": {"raw": sum(1 for t in replied if t["logins_raw"]),
                                    "spoken": sum(1 for t in replied if t["logins_spoken"])},
        "exact_repeat_rate": {"raw": _share(sum(len(t["raw_repeats"]) for t in replied), sentences_raw),
                              "spoken": _share(sum(len(t["repeats"]) for t in replied), sentences_spoken)},
        "sentences": _spread([float(t["sentences"]) for t in spoken]),
        "audio_s": _spread([float(t["audio_s"]) for t in spoken]),
        "model_mood_share": _share(sum(1 for t in replied if t["model_mood"]), len(replied)),
        "relevance_share": _share(sum(1 for t in relevant if t["relevant"]), len(relevant)),
        "first_audio_ms": describe(latencies),
    }


TARGETS: tuple[tuple[str, str, float], ...] = (
    ("spoken label leaks", "<=", 0.0),
    ("spoken invented dialogue", "<=", 0.0),
    ("spoken exact repeat rate", "<", 0.02),
    ("median sentences", "<=", 3.0),
    ("model-emitted mood share", ">=", 0.8),
)
"""The issue's bar for the embedded model."""


def check_targets(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it is met (None when not measured)."""
    values = {
        "spoken label leaks": metrics["label_leaks"]["spoken"],
        "spoken invented dialogue": metrics["invented_dialogue"]["spoken"],
        "spoken exact repeat rate": metrics["exact_repeat_rate"]["spoken"],
        "median sentences": metrics["sentences"].get("median"),
        "model-emitted mood share": metrics["model_mood_share"],
    }
    out = []
    for name, op, limit in TARGETS:
        value = values[name]
        met = None if value is None else value <= limit if op == "<=" else value < limit if op == "<" else value >= limit
        out.append({"target": f"{name} {op} {limit:g}", "value": value, "met": met})
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def format_report(results: dict[str, Any]) -> str:
    """A plain-text report: hygiene counts (raw LLM text and spoken), length, mood, relevance, latency, targets."""
    m = results["metrics"]
    s, a, f = m["sentences"], m["audio_s"], m["first_audio_ms"]
    rows = [
        f"quality: {m['lines']} chat lines, {m['replies']} replies ({m['rejected']} rejected, {m['errors']} errors, "
        f"{m['silent_replies']} silent)",
        f"{'':<34} {'raw LLM':>9} {'spoken':>9}",
        f"{'speaker-label leaks (sentences)':<34} {m['label_leaks']['raw']:>9} {m['label_leaks']['spoken']:>9}",
        f"{'invented dialogue (sentences)':<34} {m['invented_dialogue']['raw']:>9} {m['invented_dialogue']['spoken']:>9}",
        f"{'logins said unasked (replies)':<34} {m['logins_without_greeting']['raw']:>9} "
        f"{m['logins_without_greeting']['spoken']:>9}",
        f"{'exact repeats vs last 10 replies':<34} {_pct(m['exact_repeat_rate']['raw']):>9} "
        f"{_pct(m['exact_repeat_rate']['spoken']):>9}",
        f"reply length: sentences median {s.get('median', '-')} p95 {s.get('p95', '-')}; "
        f"audio median {a.get('median', '-')} s p95 {a.get('p95', '-')} s",
        f"model-emitted mood: {_pct(m['model_mood_share'])}; shares a content word with the question: "
        f"{_pct(m['relevance_share'])}",
        f"first audio: p50 {f.get('p50', '-')} ms, p95 {f.get('p95', '-')} ms (n={f.get('count', 0)})",
    ]
    for target in results["targets"]:
        verdict = "n/a" if target["met"] is None else "met" if target["met"] else "MISSED"
        rows.append(f"target {target['target']}: {target['value']} -> {verdict}")
    mach = results["machine"]
    rows.append(f"machine: {mach['cpu']}, {mach['cores']} cores; {results['seconds']:.0f} s")
    return "\n".join(rows)


async def run_quality(settings: Settings, lines_file: Path | None = None, limit: int = 0, as_json: bool = False,
                      out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Send every chat line (one at a time, as a show would) through the real pipeline and print the scores."""
    path = lines_file or settings.paths.data_dir / LINES_FILE
    try:
        lines = load_lines(path)
    except (OSError, ValueError) as exc:
        err.write(f"kitsu: cannot read the quality chat lines: {exc}\n")
        return 2
    if limit > 0:
        lines = lines[:limit]
    settings = settings.with_values({"audio.play_audio": False})
    logins = sorted({line.login for line in lines})
    audio: dict[int, float] = defaultdict(float)

    def on_event(event: Event) -> None:
        if isinstance(event, TtsAudioReady):
            audio[event.turn_id] += event.duration_s

    started = time.monotonic()
    scored: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kitsu-quality-") as scratch:
        settings = settings.with_values({"memory.path": Path(scratch) / "memory.sqlite3"})
        engine = build_engine(settings).engine
        engine.bus.add_listener(on_event)
        driver = TurnDriver(engine, SoakTally())
        try:
            if await start_engine(engine, err):
                return 2
            persona = engine.persona
            names = sorted({persona.name, persona.shown_name})
            previous: list[str] = []
            for index, line in enumerate(lines, start=1):
                produced = await driver.feed(ChatItem(user=line.login, text=line.text, delay=chat_gap_s(index)))
                record = next((r for r in produced if r.get("source") == "chat"), None)
                if record is None:
                    record = {"error": "no turn"}
                turn_audio = audio.get(int(record.get("turn", -1)), 0.0)
                turn = score_turn(line, record, previous, logins, names, persona.mood_names, turn_audio)
                scored.append(turn)
                if turn["spoken"]:
                    previous.append(turn["spoken"])
                err.write(f"quality {index}/{len(lines)} {line.login}: {line.text!r} -> {turn['raw']!r}\n")
                err.flush()
        finally:
            await engine.stop()
    metrics = summarize(scored)
    results = {"machine": machine(), "lines_file": str(path), "seconds": round(time.monotonic() - started, 1),
               "metrics": metrics, "targets": check_targets(metrics), "turns": scored}
    out.write(json.dumps(results, indent=2, ensure_ascii=False) + "\n" if as_json else format_report(results) + "\n")
    return 0 if scored else 1
