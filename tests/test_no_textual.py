"""`kitsu soak`, `kitsu devices` and `kitsu run --headless` never import Textual (only the console does).

Each command runs in a fresh interpreter through the real CLI entry point, on fake backends (no models),
with an import hook that notes who imported Textual first; the import contract in pyproject.toml checks the
static imports, this checks what a real run loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.wav import write_wav

ROOT = Path(__file__).resolve().parents[1]

DRIVER = r'''
import sys
import traceback

first_import: list[str] = []


class TextualWatch:
    """Notes the stack of the first `import textual`; the import itself goes on as usual."""

    def find_spec(self, name, path=None, target=None):
        if (name == "textual" or name.startswith("textual.")) and not first_import:
            first_import.append("".join(traceback.format_stack(limit=25)))
        return None


sys.meta_path.insert(0, TextualWatch())

import kitsu_tui.backends.factory as factory
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad


def fake_backends(settings, persona=None):
    return Backends(vad=FakeVad(), asr=FakeAsr(["hello kitsu"]), llm=FakeLlm(token_delay_s=0.0),
                    tts=FakeTts(ms_per_char=1.0))


factory.build_backends = fake_backends
from kitsu_tui.cli import app

code = 0
try:
    app(sys.argv[1:], prog_name="kitsu")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
loaded = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "kitsu_tui.tui")))
print(f"TEXTUAL-CHECK loaded={loaded}", file=sys.stderr)
if first_import:
    print("TEXTUAL-FIRST-IMPORT\n" + first_import[0], file=sys.stderr)
sys.exit(code)
'''


@pytest.fixture
def home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working dir with its own config, data dir and logs, and no audio server; returns (dir, env)."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("memory.sqlite3*", "*token*"))
    config = tmp_path / "kitsu.toml"
    config.write_text(f'[paths]\ndata_dir = "{data}"\n[audio]\nplay_audio = false\n')
    env = {**os.environ, "KITSU_CONFIG_FILE": str(config), "KITSU_LOG_ROOT": str(tmp_path / "logs")}
    env.pop("PULSE_SERVER", None)
    return tmp_path, env


def run_kitsu(home: tuple[Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    """`kitsu ARGS` on fake backends in a fresh interpreter; fails the test if Textual was imported."""
    cwd, env = home
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert "TEXTUAL-CHECK loaded=[]" in proc.stderr, f"kitsu {' '.join(args)} imported Textual:\n{proc.stderr}"
    return proc


def test_soak_never_imports_textual(home: tuple[Path, dict[str, str]]) -> None:
    out = home[0] / "summary.json"
    proc = run_kitsu(home, "soak", "--max-turns", "2", "--seed", "3", "--turn-timeout", "20", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.exists(), proc.stderr


def test_devices_never_imports_textual(home: tuple[Path, dict[str, str]]) -> None:
    proc = run_kitsu(home, "devices", "--json")
    assert proc.returncode in (0, 1), proc.stderr  # 1: no audio devices on this machine, said in one line
    assert "Traceback" not in proc.stderr


def test_headless_run_never_imports_textual(home: tuple[Path, dict[str, str]]) -> None:
    wav = home[0] / "hello.wav"
    t = np.arange(16000) / 16000
    write_wav(wav, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    proc = run_kitsu(home, "run", "--headless", "--input", str(wav), "--chat", "hello")  # the mic path too
    assert proc.returncode == 0, proc.stderr
    assert '"source": "voice"' in proc.stdout and '"source": "chat"' in proc.stdout, proc.stdout
