"""The control API's access token: from the environment, else a 0600 file created once; never logged."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from kitsu_tui.config.settings import ApiSettings

DEFAULT_DATA_DIR = Path("data")
"""Where the token file goes when no data directory is given (paths.data_dir's default)."""


def token_path(settings: ApiSettings, data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    """The token file: [api] token_file, else <data_dir>/api.token."""
    return settings.resolved_token_file(data_dir)


def _from_env(settings: ApiSettings) -> str | None:
    """The token in the environment variable named by token_env, if set and not blank."""
    value = os.environ.get(settings.token_env, "").strip() if settings.token_env else ""
    return value or None


def _from_file(path: Path) -> str | None:
    """The token stored in `path` (None when the file is absent, unreadable or empty)."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value or None


def read_token(settings: ApiSettings, data_dir: Path = DEFAULT_DATA_DIR) -> str | None:
    """The token a client should send: the environment variable, else the token file; None when neither has one."""
    return _from_env(settings) or _from_file(token_path(settings, data_dir))


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically with mode 0600 (a temp file beside it, fsynced, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def load_or_create_token(settings: ApiSettings, data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """The server's token: the environment variable wins, else the token file, else a new one written there (0600).

    An existing file readable by others is narrowed to 0600. Raises OSError when a new file cannot be written.
    """
    token = _from_env(settings)
    if token is not None:
        return token
    path = token_path(settings, data_dir)
    token = _from_file(path)
    if token is not None:
        with contextlib.suppress(OSError):
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)
        return token
    token = secrets.token_urlsafe(32)
    _write_private(path, token + "\n")
    return token
