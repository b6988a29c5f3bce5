"""The console with the real embedded models: the UI loop's stall budget, and `kitsu run` in a real terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kitsu_tui.bootstrap import EngineParts, build_engine
from kitsu_tui.config.settings import Settings
from kitsu_tui.tui.app import KitsuApp

from .conftest import ROOT, make_settings
from .helpers import started, transcript, until

pytestmark = pytest.mark.models
KITSU = str(Path(sys.executable).with_name("kitsu"))


@pytest.fixture
def real_settings(tmp_path: Path) -> Settings:
    """Settings with a private data dir (memory DB, recordings) and logs under tmp."""
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns("memory.sqlite3*", "*token*"))
    return make_settings(tmp_path).with_values({"paths.data_dir": tmp_path / "data"})


@pytest.fixture
def question_wav(tmp_path: Path) -> Path:
    """A spoken question made with the bundled Piper voice."""
    from kitsu_tui.audio.wav import write_wav
    from kitsu_tui.backends.tts_piper import PiperTts

    tts = PiperTts()
    tts.load()
    path = tmp_path / "question.wav"
    write_wav(path, tts.synthesize("Hello Kitsu, what is your favorite color?"), tts.sample_rate)
    return path


async def test_ui_loop_never_stalls_over_50ms_during_real_turns(real_settings: Settings, question_wav: Path) -> None:
    """A voice turn and a typed turn on the real models, UI rendering all along: worst loop lateness < 50 ms."""
    from kitsu_tui.audio.inputs import WavFileInput

    def factory() -> EngineParts:
        source = WavFileInput([question_wav], realtime=True, lead_in_s=0.5, trailing_silence_s=2.0)
        return build_engine(real_settings, inputs=[source])

    app = KitsuApp(real_settings, factory, blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        engine = await started(app, pilot, limit_s=180)  # waits for the real models
        load_worst_ms = app.lag.worst_s * 1000
        app.lag.reset()
        await until(pilot, lambda: len(engine.records) >= 1 and engine.current is None, limit_s=90, what="voice turn")
        await pilot.press(*"tell me about your tail", "enter")
        await until(pilot, lambda: len(engine.records) >= 2 and engine.current is None, limit_s=90, what="typed turn")
        await pilot.pause(0.3)
        worst_ms, samples = app.lag.worst_s * 1000, app.lag.samples
        lines = transcript(app)
    origins = [r["origin"] for r in engine.records]
    assert origins == ["voice", "operator"], engine.records
    assert all(r["spoken"] for r in engine.records), engine.records
    assert any(line.startswith("mic: ") and "color" in line.lower() for line in lines), lines
    print(f"UI loop: worst stall {worst_ms:.1f} ms over {samples} samples (model loading: {load_worst_ms:.1f} ms)")
    assert samples > 200
    # 15-19 ms measured on the 2-core machine. Before the loaded heap was frozen (kitsu_tui/engine/heap.py)
    # a full GC pass over it paused the loop 66-110 ms every few turns.
    assert worst_ms < 50.0, f"the UI loop stalled {worst_ms:.1f} ms"


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def _screen(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait_screen(session: str, needle: str, limit_s: float) -> str:
    deadline = time.monotonic() + limit_s
    while True:
        screen = _screen(session)
        if needle in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not on screen after {limit_s:.0f}s:\n{screen}")
        time.sleep(0.3)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_kitsu_run_in_a_real_terminal(tmp_path: Path) -> None:
    """`kitsu run` in tmux: the console appears within seconds, a typed line gets a spoken reply, Ctrl+Q quits."""
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns("memory.sqlite3*", "*token*"))
    config = tmp_path / "kitsu.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\nlog_dir = "{tmp_path / "logs"}"\n')
    session = f"kitsu-pty-{os.getpid()}"
    env = f"KITSU_CONFIG_FILE={config} TERM=xterm-256color PULSE_SERVER= "
    command = f"cd {tmp_path} && env {env} {KITSU} run; echo KITSU-EXITED-$?; sleep 30"
    _tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command)
    try:
        started_at = time.monotonic()
        # The first frame may be caught half painted (panels before the status bar): wait for the status bar's
        # "starting" state, which shows the console is up while the models still load in the background.
        first = _wait_screen(session, "starting", 15)
        first_frame_s = time.monotonic() - started_at
        assert "transcript" in first and "LISTENING" not in first
        _wait_screen(session, "no mic", 30)  # the missing microphone is said clearly
        _wait_screen(session, "LISTENING", 120)  # the real models have loaded
        _tmux("send-keys", "-t", session, "-l", "hello kitsu, how are you?")
        _tmux("send-keys", "-t", session, "Enter")
        _wait_screen(session, "operator: hello kitsu, how are you?", 10)
        screen = _wait_screen(session, "kitsu: ", 120)
        assert "ttft" in _wait_screen(session, "ttft", 30)  # the token stream's figures
        assert "Traceback" not in screen and "llama_" not in screen and "onnxruntime" not in screen
        _tmux("send-keys", "-t", session, "C-q")
        time.sleep(1.0)
        if "Quit anyway?" in _screen(session):  # still speaking: quitting asks first
            _tmux("send-keys", "-t", session, "y")
        _wait_screen(session, "KITSU-EXITED-0", 30)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
    assert list((tmp_path / "data" / "recordings").glob("turn-*.wav")), "no speakers: the reply is recorded"
    assert list((tmp_path / "logs").glob("kitsu-*.jsonl")), "logs go to the daily JSON file"
    print(f"first frame after {first_frame_s:.2f}s")
