"""`kitsu bench --quality`: the shipped chat lines and the checkers that score replies (independent of the stripper)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitsu_tui.soak.quality import (
    ChatLine,
    check_targets,
    format_report,
    is_invented_dialogue,
    is_label_leak,
    load_lines,
    logins_in,
    model_mood,
    score_turn,
    summarize,
)

ROOT = Path(__file__).resolve().parents[2]
MOODS = ("neutral", "happy", "sad", "angry", "surprised")


def test_shipped_chat_lines_are_many_and_varied() -> None:
    lines = load_lines(ROOT / "data" / "quality" / "chat_lines.txt")
    assert len(lines) >= 120
    assert len({line.login for line in lines}) == len(lines), "one login per line"
    assert len({line.text.lower() for line in lines}) == len(lines)
    greetings = [line for line in lines if line.greeting]
    assert 5 <= len(greetings) < len(lines) // 4


def test_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_text("# comment\nann\thi kitsu!\n\nno tab here\n")
    with pytest.raises(ValueError, match=r"lines.txt:4: expected 'login<TAB>text'"):
        load_lines(path)


def test_label_leaks_are_detected() -> None:
    logins, names = ["fan32", "luna_vt"], ["Kitsu"]
    for leak in ("fan32: hi there", "User: what?", "Kitsu: I love snacks.", "k1: ok", "<|im_start|>user hi",
                 "Luna_vt: yes", "Viewer: hello"):
        assert is_label_leak(leak, logins, names), leak
    for fine in ("Fun fact: foxes purr.", "I love snacks!", "We start at 3:30.", "fan32 said: hi"):
        assert not is_label_leak(fine, logins, names), fine


def test_invented_dialogue_is_detected() -> None:
    assert is_invented_dialogue('You said: "hi kitsu!"')
    assert is_invented_dialogue('He says, "hello there"')
    assert is_invented_dialogue("and you replied: oh my god")
    assert is_invented_dialogue("fan32 said: hi") and is_invented_dialogue("The viewer says: hello")
    assert not is_invented_dialogue("As you said, foxes are cute.")
    assert not is_invented_dialogue("I said hi to everyone.")


def test_logins_and_moods() -> None:
    assert logins_in("Thanks luna vt and FAN32!", ["fan32", "luna_vt", "bob99"]) == ["fan32", "luna_vt"]
    assert logins_in("fan321 is not fan32x", ["fan32"]) == []
    assert logins_in("Oh kaz_play, and \"lua_tic\"!", ["kaz_plays", "luna_tic", "bob99"], misspelt=True) == [
        "kaz_plays", "luna_tic"]
    assert logins_in("Oh kaz_play!", ["kaz_plays"]) == [], "exact forms only unless asked"
    assert model_mood("[happy] Yay!", MOODS) == "happy"
    assert model_mood(" [excited|wave] Yay!", MOODS) == "happy", "aliases count as the model's mood"
    assert model_mood("Yay! [happy]", MOODS) is None
    assert model_mood("[laughs] ok", MOODS) is None


def test_scores_and_summary() -> None:
    previous = ["Snacks are life. I love cookies."]
    line = ChatLine("fan32", "what's your favorite snack?")
    record = {"reply": '[happy] fan32: Snacks are life. You said: "snack". Cookies rule!',
              "spoken": "Cookies rule! Thanks fan32.", "latency_ms": {"first_audio": 300.0}}
    turn = score_turn(line, record, previous, ["fan32"], ["Kitsu"], MOODS, 2.5)
    assert turn["model_mood"] == "happy"
    assert turn["label_leaks_raw"] == ['fan32: Snacks are life.'] and turn["label_leaks_spoken"] == []
    assert turn["dialogue_raw"] == ['You said: "snack".'] and turn["dialogue_spoken"] == []
    assert turn["logins_spoken"] == ["fan32"]
    assert turn["sentences"] == 2 and turn["repeats"] == []
    assert turn["relevant"] is False, "'snack' is not in the spoken reply"
    greeting = score_turn(ChatLine("fan32", "hi kitsu!"), {"reply": "Hi fan32!", "spoken": "Hi fan32!"},
                          [], ["fan32"], ["Kitsu"], MOODS, 1.0)
    assert greeting["logins_spoken"] == [] and greeting["relevant"] is None
    again = score_turn(line, {"reply": "Snacks are life!", "spoken": "Snacks are life!"}, previous,
                       ["fan32"], ["Kitsu"], MOODS, 1.0)
    assert again["repeats"] == ["Snacks are life!"] and again["model_mood"] is None
    metrics = summarize([turn, greeting, again])
    assert metrics["label_leaks"] == {"raw": 1, "spoken": 0}
    assert metrics["logins_without_greeting"] == {"raw": 1, "spoken": 1}
    assert metrics["exact_repeat_rate"]["spoken"] == round(1 / 4, 4)
    assert metrics["model_mood_share"] == round(1 / 3, 4)
    assert metrics["sentences"]["median"] == 1.0
    targets = {t["target"]: t["met"] for t in check_targets(metrics)}
    assert targets["spoken label leaks <= 0"] is True and targets["model-emitted mood share >= 0.8"] is False
    report = format_report({"metrics": metrics, "targets": check_targets(metrics),
                            "machine": {"cpu": "cpu", "cores": 2}, "seconds": 1.0})
    assert "speaker-label leaks" in report and "MISSED" in report
