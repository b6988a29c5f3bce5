"""The sentence model on the embedded SmolLM2: it tells a whole sentence from a pause mid-sentence (kitsu bench times it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitsu_tui.backends.base import BackendError
from kitsu_tui.backends.turn_text import TextTurn

pytestmark = pytest.mark.models

CORPUS = Path(__file__).resolve().parents[2] / "data" / "turns" / "dev_corpus.tsv"


@pytest.fixture(scope="module")
def sentence_model() -> TextTurn:
    model = TextTurn()
    model.load()
    return model


def test_it_separates_sentences_from_pauses_on_the_dev_corpus(sentence_model: TextTurn) -> None:
    """The dev corpus (440 lines, not the held-out voices): ranking quality and the default thresholds' errors."""
    rows = [line.split("\t") for line in CORPUS.read_text(encoding="utf-8").splitlines() if "\t" in line]
    scored = [(label, sentence_model.end_prob(text)) for label, text in rows[::4]]  # every 4th line keeps it quick
    whole = [p for label, p in scored if label == "complete"]
    halves = [p for label, p in scored if label == "incomplete"]
    assert len(whole) > 40 and len(halves) > 40
    auc = sum((w > h) + 0.5 * (w == h) for w in whole for h in halves) / (len(whole) * len(halves))
    assert auc > 0.9, auc
    assert sum(h >= 0.2 for h in halves) / len(halves) < 0.12  # halves taken for sentences at the default threshold
    assert sum(w >= 0.2 for w in whole) / len(whole) > 0.7  # sentences that end at the base silence
    assert sum(w < 0.02 for w in whole) / len(whole) < 0.05  # sentences sent to the longest wait


def test_a_question_without_its_mark_ends_and_a_half_does_not(sentence_model: TextTurn) -> None:
    assert sentence_model.end_prob("what is your favourite snack") > 0.2
    assert sentence_model.end_prob("can you tell me about the") < 0.02
    assert sentence_model.end_prob("") == 0.0


def test_a_missing_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as caught:
        TextTurn(str(tmp_path / "nope.gguf")).load()
    assert "\n" not in str(caught.value)
