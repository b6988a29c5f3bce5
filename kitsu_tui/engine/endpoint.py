"""End-of-turn decisions: how much silence ends an utterance, from the early transcript and a turn model's verdict."""

from __future__ import annotations

import re
from enum import Enum

from kitsu_tui.config.settings import VadSettings

#: Words a sentence ends on only when it is cut short, even when Whisper puts a full stop after them.
NEVER_LAST = frozenset(["a", "an", "the", "and", "or", "but", "nor", "because", "although", "though", "unless", "whereas", "my", "your", "his", "her", "our", "their", "its", "um", "uh", "er", "erm"])
#: Words that, without final punctuation, leave the sentence hanging: "I think that", "a question about".
DANGLING = NEVER_LAST | frozenset(["so", "since", "if", "until", "while", "when", "whenever", "where", "whether", "which", "who", "whose", "that", "than", "then", "to", "of", "about", "for", "from", "with", "without", "into", "onto", "in", "on", "at", "by", "as", "like", "is", "are", "was", "were", "am", "be", "been", "being", "has", "have", "had", "do", "does", "did", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "not", "very", "really", "just", "also", "we", "they", "he", "she", "some", "any", "every", "let's", "gonna", "wanna"])
_TERMINAL = (".", "!", "?", "。", "！", "？")
_UNFINISHED_TAIL = re.compile(r"(\.\.\.|…|[,;:–—-])[\"')\]]*$")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


class Cue(Enum):
    """What the early transcript says about the end of the turn."""

    FINISHED = "finished"
    """It ends like a sentence: . ! or ? (not an ellipsis) after a word a sentence can end on."""
    UNSURE = "unsure"
    """No punctuation, and the last word could end a sentence."""
    UNFINISHED = "unfinished"
    """It trails off (..., a comma, a dash) or ends on a word a sentence does not end on."""


def transcript_cue(text: str) -> Cue:
    """Classify an early transcript's ending; empty text is UNSURE."""
    text = text.strip()
    if not text:
        return Cue.UNSURE
    if _UNFINISHED_TAIL.search(text):
        return Cue.UNFINISHED
    words = _WORD.findall(text.lower())
    last = words[-1] if words else ""
    if text.rstrip("\"')]").endswith(_TERMINAL):
        return Cue.UNFINISHED if last in NEVER_LAST and len(words) > 1 else Cue.FINISHED
    return Cue.UNFINISHED if last in DANGLING else Cue.UNSURE


#: The cues a sentence verdict is asked for: it settles an unsure transcript, and checks a finished-looking one.
VERDICT_CUES = frozenset([Cue.UNSURE, Cue.FINISHED])


def sentence_cue(settings: VadSettings, cue: Cue | None, sentence_prob: float | None) -> Cue | None:
    """An unsure or finished-looking cue settled by the sentence model's P(the sentence ends here), read before the
    transcript's final punctuation: Whisper writes "I was thinking that maybe tomorrow." at a pause for breath too.
    An unfinished cue stands (it already waits the longest)."""
    if cue not in VERDICT_CUES or sentence_prob is None:
        return cue
    if sentence_prob >= settings.sentence_threshold:
        return Cue.FINISHED
    return Cue.UNFINISHED if sentence_prob < settings.sentence_low else Cue.UNSURE


def required_silence_ms(settings: VadSettings, cue: Cue | None, complete_prob: float | None,
                        sentence_prob: float | None = None) -> float:
    """The silence that ends the turn now, given the transcript's cue and the models' verdicts.

    None means not known yet. Transcript rule: finished = end_silence_ms, unsure = + unsure_extra_ms,
    unfinished = + unfinished_extra_ms (the cap). The sentence model turns an unsure cue into finished or
    unfinished when it is confident; a finished one it is not sure of (below sentence_sure) waits
    sentence_margin_ms more. A turn model, when it has spoken, settles what the transcript leaves
    open: a confident "complete" ends the turn at turn_check_ms, a "not complete" on an unsure transcript
    waits for the cap; it never shortens an unfinished transcript.
    """
    cue = sentence_cue(settings, cue, sentence_prob)
    base = float(settings.end_silence_ms)
    finished = base  # finished, the model says, but not surely: a pause for breath may follow
    if sentence_prob is not None and sentence_prob < settings.sentence_sure:
        finished += settings.sentence_margin_ms
    cap = base + settings.unfinished_extra_ms
    unsure = base + settings.unsure_extra_ms
    if complete_prob is None:
        return {Cue.FINISHED: finished, Cue.UNFINISHED: cap}.get(cue, unsure) if cue is not None else base
    complete = complete_prob >= settings.turn_threshold
    if cue is Cue.UNFINISHED:
        return cap
    if cue is Cue.FINISHED:
        return float(settings.turn_check_ms) if complete else finished
    if cue is Cue.UNSURE:
        return base if complete else cap
    return base if complete else unsure  # no transcript yet: the model alone
