"""`kitsu soak`, `kitsu devices` and `kitsu run --headless` never import Textual (only the console does).

Each command runs in a fresh interpreter through the real CLI entry point, on fake backends (no models),
with an import hook that notes who imported Textual first; the import contract in pyproject.toml checks the
static imports, this checks what a real run loads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

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

import runpy

sys.argv[0] = FAKE_KITSU  # the real CLI on fake models (tests/fake_kitsu.py)
code = 0
try:
    runpy.run_path(FAKE_KITSU, run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
loaded = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "kitsu_tui.tui")))
print(f"TEXTUAL-CHECK loaded={loaded}", file=sys.stderr)
if first_import:
    print("TEXTUAL-FIRST-IMPORT\n" + first_import[0], file=sys.stderr)
sys.exit(code)
'''


def run_kitsu(kitsu_home: tuple[Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    """`kitsu ARGS` on fake backends in a fresh interpreter; fails the test if Textual was imported."""
    cwd, env = kitsu_home
    driver = DRIVER.replace("FAKE_KITSU", repr(str(ROOT / "tests" / "fake_kitsu.py")))
    proc = subprocess.run([sys.executable, "-c", driver, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert "TEXTUAL-CHECK loaded=[]" in proc.stderr, f"kitsu {' '.join(args)} imported Textual:\n{proc.stderr}"
    return proc


def test_soak_never_imports_textual(kitsu_home: tuple[Path, dict[str, str]]) -> None:
    out = kitsu_home[0] / "summary.json"
    proc = run_kitsu(kitsu_home, "soak", "--max-turns", "2", "--seed", "3", "--turn-timeout", "20", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.exists(), proc.stderr


def test_devices_never_imports_textual(kitsu_home: tuple[Path, dict[str, str]]) -> None:
    proc = run_kitsu(kitsu_home, "devices", "--json")
    assert proc.returncode in (0, 1), proc.stderr  # 1: no audio devices on this machine, said in one line
    assert "Traceback" not in proc.stderr


def test_headless_run_never_imports_textual(kitsu_home: tuple[Path, dict[str, str]]) -> None:
    wav = kitsu_home[0] / "hello.wav"
    t = np.arange(16000) / 16000
    write_wav(wav, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    proc = run_kitsu(kitsu_home, "run", "--headless", "--input", str(wav), "--chat", "hello")  # the mic path too
    assert proc.returncode == 0, proc.stderr
    assert '"source": "voice"' in proc.stdout and '"source": "chat"' in proc.stdout, proc.stdout
