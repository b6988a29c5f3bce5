"""`kitsu redteam CORPUS.jsonl`: every case through the real pipeline (models, moderation, memory), scored per category."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.bootstrap import attach_modules, build_engine, build_memory
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.soak.driver import TurnDriver
from kitsu_tui.soak.plan import ChatItem
from kitsu_tui.soak.redteam_corpus import Case, CorpusError, read_corpus, select
from kitsu_tui.soak.redteam_score import CaseScore, format_report, score_case, score_turn, summarize
from kitsu_tui.soak.summary import SoakTally

PLAYBACK_SPEED = 50.0
"""The silent sink drains replies this many times faster than real time (speech is still synthesized in full)."""


class FastNullOutput(NullOutput):
    """A silent sink that plays `speed` times faster than real time, so a long corpus is not paced by speech."""

    def __init__(self, sample_rate: int = 22050, speed: float = PLAYBACK_SPEED, block_ms: int = 10) -> None:
        super().__init__(sample_rate, block_ms, name=f"null x{speed:g} (no speakers)")
        self.speed = float(speed)

    def _run(self) -> None:
        """Every block_ms of real time, consume speed * block_ms of audio (clocked, so it never drifts)."""
        started = time.monotonic()
        block_s = self.block_samples / self.sample_rate
        max_chunk = self._scratch.shape[0]
        stop = self._stop
        while not stop.is_set():
            due = int((time.monotonic() - started) * self.sample_rate * self.speed) - self.clock_samples
            while due > 0:
                chunk = min(due, max_chunk)
                self._consume(self._scratch[:chunk])
                self.clock_samples += chunk
                due -= chunk
            stop.wait(block_s)


def redteam_settings(settings: Settings, scratch: Path) -> Settings:
    """A copy for a red-team run: private memory, frozen rules, no playback, no broadcast delay, content checks only.

    The rules are copied at the start, so editing them during a run cannot mix two rule sets in one report.
    Per-author rate and duplicate limits are lifted (they would refuse lines because the corpus is fed faster
    than real chat, not because of what they say); a sentence held for review is dumped at once, since no
    operator is there to approve it, so it is never spoken.
    """
    changes: dict[str, Any] = {
        "audio.play_audio": False,
        "audio.record_dir": None,
        "memory.path": scratch / "memory.sqlite3",
        "moderation.max_messages_per_window": 1000,
        "moderation.duplicate_window_s": 0.0,
        "hold.voice": 0.0, "hold.chat": 0.0, "hold.twitch": 0.0, "hold.operator": 0.0,
        "hold.review_timeout_s": 0.0,
    }
    rules = settings.moderation.resolved_rules_dir(settings.paths.data_dir)
    if rules.is_dir():
        changes["moderation.rules_dir"] = Path(shutil.copytree(rules, scratch / "moderation"))
    return settings.with_values(changes)


LOOKAHEAD_TASKS = ("kitsu-prepare-", "kitsu-llm-warm")
"""Names of the engine's work for the next turn (cache warm-up, memory summary) that may outlive a turn."""


async def drop_lookahead() -> None:
    """Cancel the previous case's look-ahead work: it prepares a conversation that is over."""
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith(LOOKAHEAD_TASKS) and not t.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def fresh_conversation(engine: Engine, settings: Settings, scratch: Path, number: int) -> None:
    """Forget the previous case: history, the repetition guard, remembered notes and the memory database.

    The new database is built from a copy of `settings` with its own path; the engine keeps its settings.
    """
    await drop_lookahead()
    engine.conversation.history.clear()
    engine.conversation.recent_replies.clear()
    if engine.memory is not None:
        old = engine.memory
        store = build_memory(settings.with_values({"memory.path": scratch / f"memory-{number:04d}.sqlite3"}))
        assert store is not None, "memory is enabled: the engine had a store"
        await store.open()
        engine.memory = store
        await old.close()
    await engine.conversation.refresh_notes("")


async def start_models(engine: Engine, settings: Settings, err: TextIO) -> list[str]:
    """Open memory and load the models; no stream integrations (a red-team run must never reach a live channel)."""
    await attach_modules(engine, settings, integrations=False)
    await engine.start()
    failures = []
    for name in ("llm", "tts"):
        state, reason = engine.module_states.get(name, (ModuleState.OFF, ""))
        if state != ModuleState.ON:
            failures.append(f"{name}: {reason or state}")
            err.write(f"kitsu: {name} unavailable: {reason or state}\n")
    return failures


class Progress:
    """On stderr: a line per finished category, and on a terminal a running case counter."""

    def __init__(self, err: TextIO, total: int) -> None:
        self.err, self.total = err, total
        self.tty = err.isatty()
        self.started = self.category_started = time.monotonic()

    def case_done(self, results: Sequence[CaseScore], upcoming: Case | None) -> None:
        """Report the case just scored, and its category once the next case starts another one."""
        last = results[-1]
        if self.tty:
            verdict = "FORBIDDEN SPOKEN" if last.hits else "ok"
            self.err.write(f"\rredteam {len(results)}/{self.total} {last.case_id}: {verdict}\033[K")
        if upcoming is None or upcoming.category != last.category:
            done = [r for r in results if r.category == last.category]
            now = time.monotonic()
            start, clear = ("\r", "\033[K") if self.tty else ("", "")
            self.err.write(f"{start}redteam: {last.category}: {len(done)} cases, "
                           f"{sum(1 for r in done if r.hits)} with forbidden text spoken "
                           f"({now - self.category_started:.0f} s; {len(results)}/{self.total} cases done){clear}\n")
            self.category_started = now
        self.err.flush()

    def finish(self) -> None:
        """End the running counter's line."""
        if self.tty:
            self.err.write("\r\033[K")
            self.err.flush()


async def run_case(driver: TurnDriver, case: Case) -> CaseScore:
    """Feed the case's lines in order into the current conversation and score what was heard."""
    turns = []
    for line in case.turns:
        produced = await driver.feed(ChatItem(user=line.author, text=line.text, delay=0.0))
        turns.append(score_turn(line.author, line.text, produced))
    return score_case(case, turns)


async def run_cases(settings: Settings, cases: Sequence[Case], err: TextIO, backends: Backends | None = None,
                    turn_timeout_s: float = 60.0) -> tuple[list[CaseScore], list[str]]:
    """Every case through one engine, each in a fresh conversation; (scores, model failures)."""
    results: list[CaseScore] = []
    with tempfile.TemporaryDirectory(prefix="kitsu-redteam-") as folder:
        scratch = Path(folder)
        settings = redteam_settings(settings, scratch)
        engine = build_engine(settings, inputs=[], backends=backends, output=FastNullOutput()).engine
        persona = engine.persona  # only the corpus speaks to kitsu: no idle lines (a copy; the loaded one stays)
        engine.persona = persona.model_copy(update={"idle": persona.idle.model_copy(update={"enabled": False})})
        driver = TurnDriver(engine, SoakTally(), turn_timeout_s=turn_timeout_s)
        progress = Progress(err, len(cases))
        try:
            failures = await start_models(engine, settings, err)
            if failures:
                return results, failures
            for number, case in enumerate(cases, start=1):
                await fresh_conversation(engine, settings, scratch, number)
                results.append(await run_case(driver, case))
                progress.case_done(results, cases[number] if number < len(cases) else None)
        finally:
            progress.finish()
            memory = engine.memory
            await engine.stop()
            if memory is not None:
                await memory.close()
    return results, []


async def run_redteam(settings: Settings, corpus: Path, categories: Sequence[str] = (), limit: int | None = None,
                      as_json: bool = False, show_failures: bool = False, out: TextIO | None = None,
                      err: TextIO | None = None, backends: Backends | None = None) -> int:
    """Run the corpus and print the report; 1 when anything forbidden was spoken, 2 on a bad corpus or model."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        cases = select(read_corpus(corpus), categories, limit)
    except CorpusError as exc:
        err.write(f"kitsu: {exc}\n")
        return 2
    if not cases:
        err.write(f"kitsu: {corpus}: no cases in the chosen categories\n")
        return 2
    started = time.monotonic()
    results, failures = await run_cases(settings, cases, err, backends)
    if failures:
        return 2
    summary = summarize(results, time.monotonic() - started)
    summary["corpus"] = str(corpus)
    summary["rules"] = str(settings.moderation.resolved_rules_dir(settings.paths.data_dir))
    if as_json:
        out.write(json.dumps(_with_cases(summary, results), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_report(summary, show_failures) + "\n")
    return 1 if summary["forbidden_spoken"] else 0


def _with_cases(summary: dict[str, Any], results: Sequence[CaseScore]) -> dict[str, Any]:
    """The summary plus one entry per case (its lines, what moderation did, what was heard)."""
    summary = dict(summary)
    summary["cases"] = [{
        "id": r.case_id, "category": r.category, "forbidden_spoken": bool(r.hits), "spoken": r.spoken,
        "turns": [{"author": t.author, "text": t.text, "spoken": t.spoken, "input": t.input_action,
                   "input_rule": t.input_rule, "sentences_blocked": t.sentences_blocked,
                   "sentences_held": t.sentences_held, "output_rules": t.output_rules, "error": t.error}
                  for t in r.turns],
    } for r in results]
    return summary
