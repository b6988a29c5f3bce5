"""Reply hygiene over every shipped chat login: exact, spaced and misspelt logins go, ordinary speech stays."""

from __future__ import annotations

import re

from kitsu_tui.engine.hygiene import ReplyHygiene, within
from kitsu_tui.soak.endpoint_probe import load_dev_corpus
from kitsu_tui.soak.quality import load_lines

from .conftest import ROOT

TEMPLATES = (
    "Oh, {x}, that's a great question!",
    "Thanks {x} for asking about foxes.",
    "{x} wants to know my favorite snack.",
    "Haha, \"{x}\" always makes me laugh.",
    "I think {x} is right about that.",
    "Well, @{x}, let me think.",
)
LOGINS = sorted({line.login for line in load_lines(ROOT / "data" / "quality" / "chat_lines.txt")})
ORDINARY = [line.text for line in load_lines(ROOT / "data" / "quality" / "chat_lines.txt")] + [
    text for _, text in load_dev_corpus()
]


def mangled(login: str) -> list[str]:
    """Handle-like misspellings one edit away: a letter dropped or doubled, one letter changed."""
    forms = set()
    for i, c in enumerate(login):
        if c.isalpha():
            forms.add(login[:i] + login[i + 1:])
            forms.add(login[:i] + c + login[i:])
            forms.add(login[:i] + ("a" if c != "a" else "e") + login[i + 1:])
    return sorted(f for f in forms if f != login and ("_" in f or re.search(r"\d", f)) and re.search(r"[a-z]", f))


def test_the_corpus_is_broad() -> None:
    assert len(LOGINS) >= 100 and len(ORDINARY) >= 500


def test_every_login_exact_or_spaced_is_taken_out_of_replies() -> None:
    leaks = []
    for login in LOGINS:
        hygiene = ReplyHygiene(("Kitsu",), author="someone_else", logins=LOGINS)
        for form in {login, login.upper(), login.replace("_", " ")}:
            for template in TEMPLATES:
                out = hygiene.clean(template.format(x=form))
                if form.lower() in out.lower() or not out:
                    leaks.append((form, out))
                hygiene = ReplyHygiene(("Kitsu",), author="someone_else", logins=LOGINS)
    assert leaks == []


def test_handle_like_misspellings_of_logins_are_taken_out_too() -> None:
    cases = leaks = 0
    examples = []
    for login in LOGINS:
        if len(login) < 5:
            continue
        for form in mangled(login):
            hygiene = ReplyHygiene(("Kitsu",), author="someone_else", logins=[login])
            cases += 1
            out = hygiene.clean(TEMPLATES[cases % len(TEMPLATES)].format(x=form))
            if form.lower() in out.lower():
                leaks += 1
                examples.append(form)
    assert cases > 1000
    assert leaks == 0, examples[:10]


def test_ordinary_speech_is_left_alone_with_every_login_in_chat() -> None:
    changed = []
    for text in ORDINARY:
        hygiene = ReplyHygiene(("Kitsu",), author="someone_else", logins=LOGINS)
        out = hygiene.clean(text)
        if " ".join(text.split()) != out:
            changed.append((text, out))
    assert changed == []


def test_edit_distance_is_bounded() -> None:
    assert within("kaz_play", "kaz_plays", 1) and within("lua_tic", "luna_tic", 1)
    assert not within("kaz_pl", "kaz_plays", 2) and within("kitten", "sitting", 3) and not within("kitten", "sitting", 2)
    assert within("", "", 0) and not within("a", "", 0)
