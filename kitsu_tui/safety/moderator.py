"""The moderator: checks chat/voice input before the LLM and every reply sentence before TTS."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import TYPE_CHECKING

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.safety.normalize import Normalized, clean_text, normalize, squeeze
from kitsu_tui.safety.rules import PatternList, RuleSet, load_rules
from kitsu_tui.safety.speakable import foreign_share, speakable
from kitsu_tui.safety.statements import StatementRule

if TYPE_CHECKING:
    from kitsu_tui.config.settings import ModerationSettings

log = logging.getLogger("kitsu.safety")

#: Sources whose text is typed by the operator: trusted with instructions, never rate-limited.
TRUSTED_SOURCES = frozenset({"operator", "say"})
_MAX_AUTHORS = 2000
#: Input more than this share in scripts the persona's voice cannot read is not answered.
MAX_FOREIGN_INPUT_SHARE = 0.5
#: A reply sentence that copies this many consecutive words of the viewer's message is an echo.
ECHO_WORDS = 10
_WORDS_RE = re.compile(r"[a-z0-9']+")


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one moderation check."""

    action: str
    """allow, block, or review (a borderline reply sentence held for the operator)."""
    rule: str
    """Rule that decided (a list name, length, spam, duplicate, rate, empty, script, echo) or "ok"."""
    text: str
    """The checked text, cleaned of control and zero-width characters."""
    detail: str = ""
    """What matched, with the offending word masked so logs do not repeat it."""
    remember: bool = True
    """False for input that may be answered but must not stay in history or memory (a role-play framing)."""
    ms: float = dataclasses.field(default=0.0, compare=False)
    """How long the check took, in milliseconds (not part of equality)."""

    @property
    def allowed(self) -> bool:
        """True when the text may go on."""
        return self.action == "allow"

    @property
    def held(self) -> bool:
        """True when the text waits for the operator (review)."""
        return self.action == "review"

    @property
    def digest(self) -> str:
        """A short stable hash of the text, so logs can name a sentence without repeating it."""
        return hashlib.sha256(self.text.encode("utf-8", "replace")).hexdigest()[:12]


def mask(term: str) -> str:
    """Hide all but the first letter of each word of a matched term ("n*****")."""
    return " ".join(word[:1] + "*" * (len(word) - 1) for word in term.split())


class _SpamTracker:
    """Per-author message history for rate limits, duplicates and copy-paste raids."""

    def __init__(self, rate_window_s: float, max_per_window: int, duplicate_window_s: float) -> None:
        self.rate_window_s = rate_window_s
        self.max_per_window = max_per_window
        self.duplicate_window_s = duplicate_window_s
        self.history: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()

    def check(self, author: str, fingerprint: str, now: float) -> tuple[str, str] | None:
        """Record a message; return (rule, detail) when it is spam."""
        history = self.history.pop(author, None) or deque(maxlen=64)
        self.history[author] = history
        if len(self.history) > _MAX_AUTHORS:
            self.history.popitem(last=False)
        horizon = now - max(self.rate_window_s, self.duplicate_window_s)
        while history and history[0][0] < horizon:
            history.popleft()
        recent = sum(1 for ts, _ in history if ts >= now - self.rate_window_s)
        duplicate = any(fp == fingerprint and ts >= now - self.duplicate_window_s for ts, fp in history)
        history.append((now, fingerprint))
        if duplicate:
            return "duplicate", f"same message again within {self.duplicate_window_s:g} s"
        if recent >= self.max_per_window:
            return "rate", f"more than {self.max_per_window} messages in {self.rate_window_s:g} s"
        return None


def _repetitive(normalized: Normalized, text: str) -> str | None:
    """Detail when a message is mostly one character or one word repeated (walls of text/emotes)."""
    stripped = text.replace(" ", "")
    if len(stripped) >= 24 and len(set(stripped)) <= 2:
        return "one character repeated"
    words = [t.variants[0] for t in normalized.tokens]
    if len(words) >= 8 and max(words.count(w) for w in set(words)) / len(words) > 0.6:
        return "one word repeated"
    return None


class Moderator:
    """Input and output moderation with rules from editable files, reloaded when they change."""

    def __init__(
        self,
        rules_dir: Path,
        *,
        max_input_chars: int = 500,
        rate_window_s: float = 20.0,
        max_messages_per_window: int = 5,
        duplicate_window_s: float = 120.0,
        reload_check_s: float = 1.0,
    ) -> None:
        self.rules_dir = Path(rules_dir)
        self.max_input_chars = max_input_chars
        self.reload_check_s = reload_check_s
        self.last_error = ""
        """Why the last automatic reload failed (the previous rules stay active); empty when fine."""
        self._spam = _SpamTracker(rate_window_s, max_messages_per_window, duplicate_window_s)
        self._rules = RuleSet()
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self._next_check = 0.0
        self.reload()

    @classmethod
    def from_settings(cls, settings: ModerationSettings, data_dir: Path) -> Moderator:
        """Build a moderator from the [moderation] settings section."""
        return cls(
            settings.resolved_rules_dir(data_dir),
            max_input_chars=settings.max_input_chars,
            rate_window_s=settings.rate_window_s,
            max_messages_per_window=settings.max_messages_per_window,
            duplicate_window_s=settings.duplicate_window_s,
        )

    def _current_signature(self) -> tuple[tuple[str, int, int], ...]:
        """(name, mtime, size) of every file in the rules directory: cheap change detection."""
        try:
            with os.scandir(self.rules_dir) as entries:
                return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries if e.is_file()))
        except OSError:
            return ()

    def reload(self) -> None:
        """Re-read the rule files now; on error raise ConfigError and keep the rules in force."""
        signature = self._current_signature()
        rules = load_rules(self.rules_dir)
        self._rules, self._signature, self.last_error = rules, signature, ""
        log.info("moderation rules loaded from %s (%d lists)", self.rules_dir, len(rules.lists))

    def _maybe_reload(self) -> None:
        """Reload when a rules file changed, at most once per reload_check_s."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.reload_check_s
        signature = self._current_signature()
        if signature == self._signature:
            return
        try:
            self.reload()
        except ConfigError as exc:
            self._signature = signature  # do not retry until the files change again
            self.last_error = str(exc)
            log.warning("moderation rules not reloaded, previous rules stay active: %s", exc)

    def _match_rules(
        self, normalized: Normalized, stage: str, family_friendly: bool, trusted: bool = False
    ) -> tuple[str, str, str] | None:
        """(action, rule, detail) of the first rule list that blocks at this stage, else the first review or forget."""
        review: tuple[str, str, str] | None = None
        for spec, compiled in self._rules.lists:
            if stage not in spec.stages or (spec.family_only and not family_friendly):
                continue
            if trusted and not spec.operator_too:
                continue
            if isinstance(compiled, StatementRule):
                hit = compiled.find(normalized.clauses, with_review=stage == "output" and review is None)
                if hit is not None:
                    found = ("block" if hit.action == "block" else "review", spec.rule,
                             f"{mask(hit.target)} + {hit.predicate[:40]!r}")
                    if found[0] == "block":
                        return found
                    review = review or found
            elif isinstance(compiled, PatternList):
                if spec.action == "forget" and review is not None:
                    continue
                found_text = compiled.find(normalized)
                if found_text and spec.action == "forget":
                    review = ("forget", spec.rule, f"framing: {found_text[:40]!r}")
                elif found_text:
                    return "block", spec.rule, f"pattern matched: {mask(found_text[:60])!r}"
            else:
                term = compiled.find(normalized, self._rules.allowed, backwards=spec.reversed)
                if term:
                    return "block", spec.rule, f"term: {mask(term)}"
        return review

    def check_input(self, text: str, source: str, author: str = "", family_friendly: bool = True,
                    language: str = "en") -> Decision:
        """Check chat or voice text before it reaches the LLM."""
        started = time.perf_counter()
        decision = self._check_input(text, source, author, family_friendly, language)
        return _timed(decision, started)

    def _check_input(self, text: str, source: str, author: str, family_friendly: bool, language: str) -> Decision:
        self._maybe_reload()
        cleaned = clean_text(text[: self.max_input_chars * 4 + 64])
        if len(text) > self.max_input_chars * 4 + 64 or len(cleaned) > self.max_input_chars:
            return Decision("block", "length", cleaned[:200], f"{len(text)} characters (limit {self.max_input_chars})")
        normalized = normalize(self._rules.without_allowed_phrases(cleaned))
        trusted = str(source) in TRUSTED_SOURCES
        hit = self._match_rules(normalized, "input", family_friendly, trusted=trusted)
        if hit is not None and hit[0] == "block":
            return Decision("block", hit[1], cleaned, hit[2])
        forget = hit if hit is not None and hit[0] == "forget" else None  # review is for reply sentences only
        if not any(c.isalnum() for c in normalized.forms[0]):
            return Decision("block", "empty", cleaned, "nothing to answer")
        if not trusted and foreign_share(cleaned, language) > MAX_FOREIGN_INPUT_SHARE:
            return Decision("block", "script", cleaned, f"mostly in a script a {language} voice cannot read")
        if str(source) == "chat":
            repeated = _repetitive(normalized, cleaned)
            key = author.casefold() or "(anonymous)"
            spam = ("spam", repeated) if repeated else None
            found = self._spam.check(key, squeeze(normalized.forms[-1]), time.monotonic()) or spam
            if found:
                return Decision("block", found[0], cleaned, found[1])
        if forget is not None:
            return Decision("allow", forget[1], cleaned, forget[2], remember=False)
        return Decision("allow", "ok", cleaned)

    def check_output(self, sentence: str, family_friendly: bool, language: str = "en", context: str = "") -> Decision:
        """Check one reply sentence before TTS: allow (with the text cleaned for the voice), block or review.

        An empty result is allowed with rule "empty" (nothing to say). `context` is the message being
        answered: a sentence that copies a long run of it word for word is blocked as an echo.
        """
        started = time.perf_counter()
        return _timed(self._check_output(sentence, family_friendly, language, context), started)

    def _check_output(self, sentence: str, family_friendly: bool, language: str, context: str) -> Decision:
        self._maybe_reload()
        cleaned = clean_text(sentence)
        if not cleaned:
            return Decision("allow", "empty", "", "nothing to speak")
        hit = self._match_rules(normalize(self._rules.without_allowed_phrases(cleaned)), "output", family_friendly)
        if hit is not None and hit[0] == "block":
            return Decision("block", hit[1], cleaned, hit[2])
        if context and _echoes(cleaned, context):
            return Decision("block", "echo", cleaned, f"repeats {ECHO_WORDS}+ words of the message word for word")
        spoken, reason = speakable(cleaned, language)
        if reason:
            return Decision("block", "script", cleaned, reason)
        if hit is not None:
            return Decision("review", hit[1], spoken, hit[2])
        if not spoken.strip() or not any(c.isalnum() for c in spoken):
            return Decision("allow", "empty", "", "nothing to speak")
        return Decision("allow", "ok", spoken)


def _timed(decision: Decision, started: float) -> Decision:
    """The decision with the time since `started`."""
    return dataclasses.replace(decision, ms=round((time.perf_counter() - started) * 1000, 3))


def _echoes(sentence: str, context: str, words: int = ECHO_WORDS) -> bool:
    """True when `sentence` repeats `words` consecutive words of `context` verbatim."""
    said = _WORDS_RE.findall(sentence.casefold())
    heard = _WORDS_RE.findall(context.casefold())
    if len(said) < words or len(heard) < words:
        return False
    grams = {tuple(heard[i : i + words]) for i in range(len(heard) - words + 1)}
    return any(tuple(said[i : i + words]) in grams for i in range(len(said) - words + 1))
