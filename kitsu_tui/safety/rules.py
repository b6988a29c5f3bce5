"""Moderation rule files (data/moderation/): the manifest, word lists and regex pattern lists, compiled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.toml import find_key_line, load_model
from kitsu_tui.safety.normalize import Normalized, Token, fold, squeeze
from kitsu_tui.safety.statements import StatementRule

MANIFEST = "rules.toml"
Stage = Literal["input", "output"]
_PLURAL = "(?:e?s|z)?"


class RuleListSpec(BaseModel):
    """One [[rules]] entry of rules.toml: which file holds which rule and where it applies."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_\-]+$")
    """Rule name reported in decisions, events and logs."""
    file: str = Field(min_length=1)
    """File in the rules directory, one entry per line, # starts a comment."""
    kind: Literal["terms", "patterns", "statements", "allow"]
    """terms = words/phrases (fuzzy-matched); patterns = regexes; statements = a target near a predicate
    (TOML, see README.md); allow = words never blocked."""
    stages: list[Stage] = Field(default_factory=lambda: list[Stage](["input", "output"]))
    """Where the list applies: input (chat, voice before the LLM) and/or output (each sentence before TTS)."""
    family_only: bool = False
    """Apply only while the persona is family_friendly."""
    operator_too: bool = True
    """Also apply to text the operator types (false for prompt-injection rules: the operator may instruct)."""
    reversed: bool = False
    """Terms lists: also look for the terms spelled backwards ("reggin")."""
    action: Literal["block", "forget"] = "block"
    """block = refuse the text; forget = answer it once but keep it out of the LLM's history and memory
    (role-play framings and standing instructions that could come back turns later)."""


class RulesManifest(BaseModel):
    """rules.toml: the rule lists, checked in order."""

    model_config = ConfigDict(extra="forbid")

    rules: list[RuleListSpec] = Field(default_factory=list)
    """Rule lists; the first that matches decides."""


def _term_regex(term: str) -> str:
    """Regex for a term that tolerates repeated letters but not missing ones ("nigger" != "niger")."""
    parts = []
    for match in re.finditer(r"(.)\1*", term):
        char, count = re.escape(match.group(1)), len(match.group(0))
        parts.append(" +" if char == "\\ " else f"{char}+" if count == 1 else f"{char}{{{count},}}")
    return "".join(parts)


@dataclass(slots=True)
class TermList:
    """Words and phrases matched on whole words after normalisation; `x*` prefix, `*x` suffix, `*x*` infix."""

    rule: str
    exact: dict[str, list[tuple[str, re.Pattern[str]]]] = field(default_factory=dict)
    partial: list[tuple[str, str, re.Pattern[str]]] = field(default_factory=list)
    plain_terms: list[str] = field(default_factory=list)
    max_words: int = 1

    def add(self, entry: str) -> None:
        """Add one line of a terms file."""
        starts, ends = entry.startswith("*"), entry.endswith("*")
        term = " ".join(fold(entry.strip("*")).split())
        if not term:
            return
        body = _term_regex(term)
        if starts or ends:
            left = "" if starts else "^"
            right = "" if ends else f"{_PLURAL}$"
            self.partial.append((term, squeeze(term), re.compile(left + body + right)))
        else:
            self.exact.setdefault(squeeze(term), []).append((term, re.compile(f"{body}{_PLURAL}")))
            self.max_words = max(self.max_words, term.count(" ") + 1)
        self.plain_terms.append(term)

    def _exact_hit(self, word: str, skeleton: str) -> str | None:
        """The exact term `word` (one reading of one token or n-gram, with its skeleton) is, if any."""
        keys = [skeleton]
        if skeleton.endswith(("s", "z")):
            keys.append(skeleton[:-1])
        if skeleton.endswith("es"):
            keys.append(skeleton[:-2])
        for key in keys:
            for term, regex in self.exact.get(key, ()):
                if regex.fullmatch(word):
                    return term
        return None

    def _partial_hit(self, word: str, skeleton: str) -> str | None:
        """The prefix/suffix/infix term inside `word`, if any."""
        for term, term_skeleton, regex in self.partial:
            if term_skeleton in skeleton and regex.search(word):
                return term
        return None

    def _censored_hit(self, word: str) -> str | None:
        """A term that `word` spells with * or # standing for letters ("f**k", "n****r")."""
        if sum(c.isalpha() for c in word) < 2:
            return None
        wildcard = re.compile("".join("[a-z]" if c in "*#" else re.escape(c) for c in word) + _PLURAL)
        return next((term for term in self.plain_terms if wildcard.fullmatch(term)), None)

    def find(self, normalized: Normalized, allowed: frozenset[str], backwards: bool = False) -> str | None:
        """The first term found among the words (and runs of words), skipping allow-listed words."""
        tokens: tuple[Token, ...] = normalized.tokens + (normalized.reversed_tokens if backwards else ())
        for token in tokens:
            for word, skeleton in zip(token.variants, token.skeletons, strict=True):
                if word in allowed:
                    break
                hit = self._exact_hit(word, skeleton) or self._partial_hit(word, skeleton)
                if hit is None and token.censored:
                    hit = self._censored_hit(word)
                if hit:
                    return hit
        if self.max_words > 1:
            for phrase, skeleton in normalized.phrases:
                hit = self._exact_hit(phrase, skeleton)
                if hit:
                    return hit
        return None


@dataclass(slots=True)
class PatternList:
    """Regexes searched in every whole-text form of a message (one combined regex for speed)."""

    rule: str
    patterns: list[re.Pattern[str]] = field(default_factory=list)
    combined: re.Pattern[str] | None = None

    def seal(self) -> None:
        """Compile the combined regex once every pattern is added."""
        if self.patterns:
            self.combined = re.compile("|".join(f"(?:{p.pattern})" for p in self.patterns), re.IGNORECASE)

    def find(self, normalized: Normalized) -> str | None:
        """The matched text of the first pattern found, if any."""
        if self.combined is None:
            return None
        for form in normalized.forms:
            match = self.combined.search(form)
            if match:
                return match.group(0)
        return None


@dataclass(slots=True)
class RuleSet:
    """Every compiled rule list with where it applies."""

    lists: list[tuple[RuleListSpec, TermList | PatternList | StatementRule]] = field(default_factory=list)
    allowed: frozenset[str] = frozenset()
    allowed_phrases: re.Pattern[str] | None = None
    """Multi-word allow entries ("moby dick", "dick van dyke"): removed from the text before the lists look."""
    files: tuple[Path, ...] = ()

    def without_allowed_phrases(self, text: str) -> str:
        """`text` with allow-listed phrases replaced by a neutral word, for matching only."""
        if self.allowed_phrases is None:
            return text
        return self.allowed_phrases.sub(" okay ", fold(text))


def _entries(path: Path, inline_comments: bool = True) -> list[tuple[int, str]]:
    """(line number, entry) for every non-blank line not starting with #; " #" ends a term line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"{path}: cannot read rules file ({exc})"]) from exc
    lines = ((n, line.split(" #", 1)[0].strip() if inline_comments else line.strip())
             for n, line in enumerate(text.splitlines(), start=1))
    return [(n, entry) for n, entry in lines if entry and not entry.startswith("#")]


def load_rules(rules_dir: Path) -> RuleSet:
    """Read rules.toml and every file it names; errors name the file, line and key or entry."""
    manifest_path = rules_dir / MANIFEST
    if not manifest_path.is_file():
        raise ConfigError(manifest_path, [f"{manifest_path}: moderation rules not found; restore data/moderation "
                                          "or set [moderation] rules_dir"])
    manifest = load_model(RulesManifest, manifest_path)
    manifest_text = manifest_path.read_text(encoding="utf-8")
    rules = RuleSet(files=(manifest_path,))
    allowed: set[str] = set()
    for spec in manifest.rules:
        path = rules_dir / spec.file
        if not path.is_file():
            line = find_key_line(manifest_text, ("rules", "file"))
            raise ConfigError(manifest_path, [f"{manifest_path}:{line}: key 'rules.file': {path} not found"])
        rules.files += (path,)
        compiled: TermList | PatternList | StatementRule
        if spec.kind == "statements":
            compiled = StatementRule.load(path)
        elif spec.kind == "patterns":
            compiled = PatternList(spec.rule)
            for lineno, entry in _entries(path, inline_comments=False):
                try:
                    compiled.patterns.append(re.compile(entry, re.IGNORECASE))
                except re.error as exc:
                    raise ConfigError(path, [f"{path}:{lineno}: invalid pattern {entry!r}: {exc}"]) from exc
            compiled.seal()
        elif spec.kind == "terms":
            compiled = TermList(spec.rule)
            for _, entry in _entries(path):
                compiled.add(entry.lower())
        else:
            allowed.update(fold(entry) for _, entry in _entries(path))
            continue
        rules.lists.append((spec, compiled))
    phrases = sorted((entry for entry in allowed if " " in entry), key=len, reverse=True)
    rules.allowed = frozenset(entry for entry in allowed if " " not in entry)
    if phrases:
        rules.allowed_phrases = re.compile(r"\b(?:" + "|".join(r"\W+".join(map(re.escape, p.split())) for p in phrases)
                                           + r")\b")
    return rules
