"""Statement rules: a target (a group, a child) near a predicate (hostile, sexual) in one clause, with negation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.toml import load_model

#: Words that negate a predicate that follows them closely ("i do n't hate anyone", "nobody should kill").
DEFAULT_NEGATORS = ("not", "n't", "never", "nobody", "noone", "no one", "none", "nothing", "neither", "nor",
                    "cannot", "without", "stop", "stopped", "against", "anti", "wrong to", "refuse to")
#: Words right after a predicate that empty it ("i hate nobody", "kill no one").
_AFTER_NEGATORS = re.compile(r"^(?:nobody|no one|noone|none|no body|nothing)\b")
#: Words that end a negation's reach: a negator before them does not negate a predicate after them.
_SCOPE_BREAK = re.compile(r"\b(?:and|or|so|then|because|cause|while|who|which|whereas)\b")


class StatementSpec(BaseModel):
    """A statements file (TOML): targets, the predicates that make a statement about them harmful, and limits."""

    model_config = ConfigDict(extra="forbid")

    nouns: list[str] = Field(default_factory=list)
    """Words that always name the target ("muslims", "jews", "immigrants"); plural -s/-es is added."""
    adjectives: list[str] = Field(default_factory=list)
    """Words that name the target only before a person noun ("jewish people") or as "the X are"."""
    person_nouns: list[str] = Field(default_factory=list)
    """Nouns that turn an adjective into a target ("people", "folks", "kids")."""
    patterns: list[str] = Field(default_factory=list)
    """Regexes that also name the target ("13 year old", "14yo")."""
    predicates: list[str] = Field(default_factory=list)
    """Regexes (on lower-case words, "n't" as its own word) that make a statement about the target harmful."""
    inherent: list[str] = Field(default_factory=list)
    """Predicates that carry their own negation ("do n't deserve to live"): a negator before them is ignored."""
    review: list[str] = Field(default_factory=list)
    """Regexes that make a statement borderline: held for the operator (output only) instead of blocked."""
    window: int = Field(7, ge=1, le=60)
    """Most words between target and predicate."""
    negation: bool = True
    """A negator just before the predicate ("i do n't hate", "nobody should hurt") clears it."""
    negators: list[str] = Field(default_factory=lambda: list(DEFAULT_NEGATORS))
    """Words that negate a predicate within negation_span words before it."""
    negation_span: int = Field(4, ge=1, le=10)
    """How many words before a predicate a negator reaches."""


@dataclass(frozen=True, slots=True)
class StatementHit:
    """What a statement rule found: the action, the target and the predicate, for the decision's detail."""

    action: str
    target: str
    predicate: str


def _alternation(words: list[str], plural: bool) -> str:
    """One regex alternative per word, longest first, spaces as single spaces, optional plural."""
    parts = sorted({" ".join(w.lower().split()) for w in words if w.strip()}, key=len, reverse=True)
    suffix = "(?:s|es)?" if plural else ""
    return "|".join(re.escape(p) + suffix for p in parts)


@dataclass(slots=True)
class StatementRule:
    """One compiled statements file."""

    spec: StatementSpec
    targets: re.Pattern[str] | None = None
    predicates: re.Pattern[str] | None = None
    inherent: re.Pattern[str] | None = None
    review: re.Pattern[str] | None = None
    negators: re.Pattern[str] | None = None

    @classmethod
    def load(cls, path: Path) -> StatementRule:
        """Read and compile a statements TOML; a bad key or regex names the file and line."""
        spec = load_model(StatementSpec, path)
        rule = cls(spec)
        alternatives = []
        if spec.nouns:
            alternatives.append(rf"(?:{_alternation(spec.nouns, plural=True)})")
        alternatives += [f"(?:{pattern})" for pattern in spec.patterns if pattern.strip()]
        if spec.adjectives and spec.person_nouns:
            adjectives, persons = _alternation(spec.adjectives, False), _alternation(spec.person_nouns, True)
            alternatives.append(rf"(?:{adjectives}) (?:\w+ )?(?:{persons})")
            alternatives.append(rf"(?:the|all|those|these|you|most|many|some|every|any|each|no|a|an|one|good|only|that|this) "
                                rf"(?:{adjectives})"
                                r"(?= (?:are|is|were|was|should|must|will|can|deserve|need|ought|people|all)\b)")
        try:
            rule.targets = re.compile(rf"\b(?:{'|'.join(alternatives)})\b") if alternatives else None
            rule.predicates = _compile_any(spec.predicates)
            rule.inherent = _compile_any(spec.inherent)
            rule.review = _compile_any(spec.review)
            rule.negators = re.compile(rf"\b(?:{_alternation(spec.negators, False)})(?=\W|$)") if spec.negators else None
        except re.error as exc:
            raise ConfigError(path, [f"{path}: invalid regex in a statements list: {exc}"]) from exc
        return rule

    def find(self, clauses: tuple[str, ...], with_review: bool) -> StatementHit | None:
        """The first harmful (or, with_review, borderline) statement among the clauses."""
        if self.targets is None:
            return None
        review_hit: StatementHit | None = None
        for clause in clauses:
            targets = [(m.start(), m.end(), m.group(0)) for m in self.targets.finditer(clause)]
            if not targets:
                continue
            for pattern, action in ((self.inherent, "block"), (self.predicates, "block"),
                                    (self.review if with_review else None, "review")):
                if pattern is None:
                    continue
                for match in pattern.finditer(clause):
                    if not self._near(clause, targets, match.start(), match.end()):
                        continue
                    if pattern is not self.inherent and self._negated(clause, match.start(), match.end()):
                        continue
                    hit = StatementHit(action, _closest(targets, match.start()), match.group(0))
                    if action == "block":
                        return hit
                    review_hit = review_hit or hit
        return review_hit

    def _near(self, clause: str, targets: list[tuple[int, int, str]], start: int, end: int) -> bool:
        """True when a target lies within `window` words of the predicate span."""
        window = self.spec.window
        for t_start, t_end, _ in targets:
            if t_start < end and start < t_end:
                return True
            gap = clause[t_end:start] if t_end <= start else clause[end:t_start]
            if len(gap.split()) <= window:
                return True
        return False

    def _negated(self, clause: str, start: int, end: int) -> bool:
        """A negator within negation_span words before the predicate, or "nobody"/"no one" right after it."""
        if not self.spec.negation or self.negators is None:
            return False
        scope = _SCOPE_BREAK.split(clause[:start])[-1]  # "are n't real and deserve to suffer": no negation
        before = " ".join(scope.split()[-self.spec.negation_span:])
        if self.negators.search(before):
            return True
        return bool(_AFTER_NEGATORS.match(clause[end:].strip()))


def _compile_any(patterns: list[str]) -> re.Pattern[str] | None:
    """One regex matching any of the patterns (None when there are none)."""
    patterns = [p for p in patterns if p.strip()]
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def _closest(targets: list[tuple[int, int, str]], position: int) -> str:
    """The target text nearest to a position."""
    return min(targets, key=lambda t: abs(t[0] - position))[2]
