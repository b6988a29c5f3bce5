"""The control API on the real embedded models: a chat line POSTed in, a spoken reply seen on the event stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeVad
from kitsu_tui.control.codec import decode_event
from kitsu_tui.engine.events import PlaybackFinished, TurnCompleted

from .conftest import api_settings, build_engine, close_show, open_show

if TYPE_CHECKING:
    from kitsu_tui.backends.llm_llama import LlamaLlm
    from kitsu_tui.backends.tts_piper import PiperTts

pytestmark = pytest.mark.models


async def test_chat_over_the_api_is_answered_out_loud(real_llm: LlamaLlm, real_tts: PiperTts, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITSU_API_TOKEN", raising=False)
    settings = api_settings(tmp_path)
    engine = build_engine(settings, Backends(vad=FakeVad(), asr=FakeAsr(), llm=real_llm, tts=real_tts))
    show = await open_show(settings, engine)
    try:
        async with show.http.ws_connect(show.url + "/stream", headers=show.auth) as ws:
            status, reply = await show.post("/chat", {"text": "Hi Kitsu, what is your favorite food?",
                                                      "author": "viewer"})
            assert status == 200 and reply["accepted"] is True, reply
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(180):
                while not seen or seen[-1]["kind"] != "TurnCompleted" or seen[-1]["turn_id"] != reply["turn"]:
                    seen.append(json.loads((await ws.receive()).data))
        played = [e for e in map(decode_event, seen) if isinstance(e, PlaybackFinished) and e.played_text]
        assert played, [m["kind"] for m in seen]
        completed = decode_event(seen[-1])
        assert isinstance(completed, TurnCompleted)
        record = completed.record
        assert record["spoken"].strip() and not record["error"] and record["origin"] == "api"
        assert record["latency_ms"]["first_audio"] > 0
        _, status_doc = await show.get("/status")
        assert status_doc["last_spoken"] == record["spoken"]
    finally:
        await close_show(show)
