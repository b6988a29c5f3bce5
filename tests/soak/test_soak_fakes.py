"""`kitsu soak` machinery on fake backends: chat files, Ctrl-C, the error threshold, utterances, record and replay."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
from pathlib import Path
from typing import Any

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import BackendError
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm
from kitsu_tui.config.settings import Settings
from kitsu_tui.soak.options import SoakOptions
from kitsu_tui.soak.runner import run_soak
from kitsu_tui.soak.stats import describe

from .conftest import fake_backends, tone_wav


async def soak(settings: Settings, options: SoakOptions, **backend_args: Any) -> tuple[int, str, dict[str, Any]]:
    err = io.StringIO()
    code = await asyncio.wait_for(run_soak(settings, options, err=err, backends=fake_backends(**backend_args),
                                           output=NullOutput(16000)), 60)
    summary = json.loads(options.output.read_text()) if options.output and options.output.exists() else {}
    return code, err.getvalue(), summary


async def test_chat_file_with_a_broken_line(soak_settings: Settings, tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"user": "ann", "text": "hi kitsu!"}\n'
                    '{"user": "bob", "text": "what do foxes eat?"\n'
                    '{"user": "cy", "text": "tell me a story", "delay": 0.1}\n')
    out = tmp_path / "summary.json"
    code, err, summary = await soak(soak_settings, SoakOptions(chat_file=chat, output=out))
    assert code == 0, err
    assert f"{chat}:2: not valid JSON" in err and "line skipped" in err
    assert summary["input_problems"] and f"{chat}:2:" in summary["input_problems"][0]
    assert [t["transcript"] for t in summary["turns"]] == ["hi kitsu!", "tell me a story"]
    assert [t["input"]["user"] for t in summary["turns"]] == ["ann", "cy"]
    assert summary["stopped_by"] == "plan finished" and summary["complete"] is True
    assert summary["turns_attempted"] == 2 and summary["errors"]["total"] == 0
    first = [t["latency_ms"]["first_audio"] for t in summary["turns"]]
    assert summary["aggregates"]["first_audio"] == describe(first)
    assert summary["modules"]["telemetry"]["state"] in ("on", "off")
    assert 0 < summary["rss_mb"]["start"] <= summary["rss_mb"]["peak"] and summary["rss_mb"]["end"] <= summary["rss_mb"]["peak"]


async def test_sigint_writes_the_summary_so_far(soak_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    err = io.StringIO()
    options = SoakOptions(max_turns=1000, output=out)
    task = asyncio.create_task(run_soak(soak_settings, options, err=err, backends=fake_backends(),
                                        output=NullOutput(16000)))
    while err.getvalue().count("turns 3/1000") == 0:  # the progress bar after the third turn
        assert not task.done(), err.getvalue()
        await asyncio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)
    code = await asyncio.wait_for(task, 20)
    assert code == 130
    summary = json.loads(out.read_text())
    assert summary["complete"] is False and summary["stopped_by"] == "interrupted (SIGINT)"
    assert 3 <= summary["turns_attempted"] < 1000 and len(summary["turns"]) >= 3
    assert summary["aggregates"]["total"]["count"] == len([t for t in summary["turns"] if "total" in t["latency_ms"]])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler removed again


async def test_errors_above_the_threshold_fail_the_run(soak_settings: Settings, tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(messages: Any) -> str:
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise BackendError("llm server went away; check llm.base_url")
        return f"Sure thing! Here we go, part {calls['n']}."  # a reply said before is dropped, and asked for again

    out = tmp_path / "summary.json"
    code, err, summary = await soak(soak_settings, SoakOptions(max_turns=4, output=out, max_error_rate=0.25),
                                    llm=FakeLlm(reply_fn=flaky, token_delay_s=0.001))
    assert code == 1
    assert summary["errors"]["by_kind"] == {"turn:BackendError": 2} and summary["errors"]["rate"] == 0.5
    assert "soak failed: 2 errors in 4 turns" in err and "--max-error-rate 25.0%" in err
    tolerant = tmp_path / "tolerant.json"
    calls["n"] = 0
    code, _, summary = await soak(soak_settings, SoakOptions(max_turns=4, output=tolerant, max_error_rate=0.5),
                                  llm=FakeLlm(reply_fn=flaky, token_delay_s=0.001))
    assert code == 0 and summary["errors"]["total"] == 2


async def test_utterances_record_and_replay(soak_settings: Settings, tmp_path: Path) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    tone_wav(voices / "1.wav", 0.8)
    tone_wav(voices / "2.wav", 0.6, rate=22050)
    session = tmp_path / "session"
    out = tmp_path / "summary.json"
    asr = FakeAsr(["hello kitsu how are you", "what is your favorite game"])
    code, err, summary = await soak(soak_settings, SoakOptions(utterances=voices, record_session=session, output=out),
                                    asr=asr)
    assert code == 0, err
    turns = summary["turns"]
    assert [t["source"] for t in turns] == ["voice", "voice"]
    assert [t["input"]["file"] for t in turns] == ["1.wav", "2.wav"]
    assert [t["transcript"] for t in turns] == ["hello kitsu how are you", "what is your favorite game"]
    assert all(t["latency_ms"]["endpointing"] >= 300 for t in turns)
    lines = [json.loads(line) for line in (session / "session.jsonl").read_text().splitlines()]
    assert lines[0]["kitsu_session"] == 1
    assert [(e["type"], e["file"], e["transcript"]) for e in lines[1:]] == [
        ("voice", "voice-0001.wav", "hello kitsu how are you"), ("voice", "voice-0002.wav", "what is your favorite game")]

    replayed = tmp_path / "replay.json"
    code, err, summary = await soak(soak_settings, SoakOptions(replay=session, output=replayed),
                                    asr=FakeAsr(["hello kitsu how are you", "what is your favourite game"]))
    assert code == 1, err  # one utterance heard differently: a regression
    assert summary["source"] == f"replay:{session}"
    assert summary["replay_mismatches"] == [{"file": "voice-0002.wav", "expected": "what is your favorite game",
                                             "heard": "what is your favourite game"}]
    assert summary["errors"]["by_kind"] == {"replay:transcript_mismatch": 1}


async def test_bad_inputs_are_one_line(soak_settings: Settings, tmp_path: Path) -> None:
    code, err, _ = await soak(soak_settings, SoakOptions(utterances=tmp_path / "nope"))
    assert code == 2 and err.count("\n") == 1 and "not a folder" in err
    code, err, _ = await soak(soak_settings, SoakOptions())
    assert code == 2 and "--max-turns" in err
