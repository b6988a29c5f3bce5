"""`kitsu soak --max-turns 5` with the real embedded models: the summary's numbers add up to its turns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[2]
KITSU = str(Path(sys.executable).with_name("kitsu"))


def test_soak_five_real_turns(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("memory.sqlite3*", "*token*"))
    config = tmp_path / "kitsu.toml"
    config.write_text(f'[paths]\ndata_dir = "{data}"\n[telemetry]\ninterval_s = 0.5\n')
    env = {**os.environ, "KITSU_CONFIG_FILE": str(config), "KITSU_LOG_ROOT": str(tmp_path / "logs")}
    out = tmp_path / "summary.json"
    proc = subprocess.run([KITSU, "soak", "--max-turns", "5", "--seed", "11", "--output", str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert "turns 5/5" in proc.stderr and proc.stdout == ""
    summary = json.loads(out.read_text())
    turns = summary["turns"]
    assert summary["turns_attempted"] == 5 and len(turns) == 5 and summary["stopped_by"] == "max turns"
    assert all(t["source"] == "chat" and t["input"]["kind"] == "chat" for t in turns)
    assert all(t["reply"] and not t["error"] for t in turns if not t.get("rejected"))
    for stage, stats in summary["aggregates"].items():  # recompute every aggregate from the turn records
        values = [t["latency_ms"][stage] for t in turns if stage in t["latency_ms"]]
        assert stats["count"] == len(values), stage
        if values:
            assert stats["mean"] == pytest.approx(np.mean(values), abs=0.051), stage
            assert stats["p50"] == pytest.approx(np.percentile(values, 50), abs=0.051), stage
            assert stats["p95"] == pytest.approx(np.percentile(values, 95), abs=0.051), stage
            assert stats["max"] == pytest.approx(max(values), abs=0.051), stage
    assert summary["aggregates"]["first_audio"]["count"] >= 4 and summary["aggregates"]["endpointing"]["count"] == 0
    errors = summary["errors"]
    assert errors["total"] == sum(errors["by_kind"].values()) == 0
    rss = summary["rss_mb"]
    assert 0 < rss["start"] < rss["peak"] and rss["end"] <= rss["peak"]
    assert rss["peak"] > 200  # all four models were loaded
    assert summary["modules"]["llm"]["state"] == "on" and "telemetry" in summary["modules"]
