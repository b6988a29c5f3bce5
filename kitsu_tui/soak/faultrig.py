"""Sets a soak up for `--faults`: a real llama_cpp.server behind the fault proxy, the faulty TTS, and the
fault targets wired to the running engine."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.soak.faults import FaultInjector
from kitsu_tui.soak.faultspec import LLM_KINDS, Fault, FaultSpecError
from kitsu_tui.soak.faulttargets import (
    DbLockFault,
    DiskFullFault,
    FaultTarget,
    FaultyTts,
    Losable,
    OutputFault,
    PeerFault,
    ProxyFault,
    TtsFault,
)
from kitsu_tui.soak.llmproxy import FaultProxy
from kitsu_tui.soak.llmserver import LlamaServer, LlmServerError
from kitsu_tui.soak.tcpproxy import TcpProxy

log = logging.getLogger(__name__)

LLM_TIMEOUT_S = 15.0
"""The LLM request timeout under a fault soak: a hung server is noticed sooner than 20 s, while a busy one
(a reply queued behind a memory summary on a loaded machine) is not taken for a hung one."""
PROXY_MODES = {"llm-500": "500", "llm-hang": "hang", "llm-refuse": "refuse", "llm-cut": "cut"}


class FaultRig:
    """Owns the LLM server and the proxy (when LLM faults are asked for) and builds the injector."""

    def __init__(self, faults: list[Fault], explicit: bool, scratch: Path) -> None:
        self.faults = faults
        self.explicit = explicit
        """The spec named its kinds (an unavailable kind is an error), rather than 'default' (it is skipped)."""
        self.scratch = scratch
        self.server: LlamaServer | None = None
        self.proxy: FaultProxy | None = None
        self.peers: dict[str, TcpProxy] = {}
        """TCP proxies in front of OBS and VTube Studio, by fault kind."""
        self.unavailable: dict[str, str] = {}
        self.injector: FaultInjector | None = None

    def prepare(self, settings: Settings) -> Settings:
        """Start the LLM server and the proxies the planned faults need; returns settings that use them (blocking)."""
        settings = self._peer_proxies(settings)
        if not any(f.kind in LLM_KINDS for f in self.faults):
            return settings
        upstream = settings.llm.base_url.removesuffix("/v1").rstrip("/") if settings.llm.backend == "openai" else ""
        if not upstream:
            self.server = LlamaServer(settings.llm.model_path, settings.llm.n_ctx, settings.llm.n_threads,
                                      log_path=self.scratch / "llama-server.log")
            try:
                self.server.start()
            except LlmServerError as exc:
                self.server = None
                self._unavailable(LLM_KINDS, f"no local LLM server: {exc}")
                return settings
            upstream = self.server.url.removesuffix("/v1")
        self.proxy = FaultProxy(upstream)
        self.proxy.start()
        log.info("fault soak: LLM through the fault proxy %s -> %s", self.proxy.url, upstream)
        return settings.with_values({"llm.backend": "openai", "llm.base_url": f"{self.proxy.url}/v1",
                                     "llm.timeout_s": min(settings.llm.timeout_s, LLM_TIMEOUT_S),
                                     **({} if settings.llm.backend == "openai" else {"llm.model": "embedded"})})

    def _peer_proxies(self, settings: Settings) -> Settings:
        """Put a TcpProxy in front of OBS and VTube Studio when they are on and a fault of theirs is planned."""
        planned = {f.kind for f in self.faults}
        changes: dict[str, object] = {}
        if "obs" in planned and settings.obs.enabled:
            proxy = self.peers["obs"] = TcpProxy(settings.obs.host, settings.obs.port)
            proxy.start()
            changes |= {"obs.host": "127.0.0.1", "obs.port": proxy.port}
        if "vts" in planned and settings.vts.enabled:
            url = urlsplit(settings.vts.url)
            proxy = self.peers["vts"] = TcpProxy(url.hostname or "127.0.0.1", url.port or 8001)
            proxy.start()
            changes["vts.url"] = urlunsplit((url.scheme, f"127.0.0.1:{proxy.port}", url.path, url.query, ""))
        return settings.with_values(changes) if changes else settings

    def attach(self, engine: Engine, settings: Settings) -> FaultInjector:
        """Wrap the engine's TTS, find each fault's target, and return the injector (before the engine starts)."""
        targets: dict[str, FaultTarget] = {}
        if self.proxy is not None:
            for kind, mode in PROXY_MODES.items():
                targets[kind] = ProxyFault(self.proxy.set_mode, mode)
        faulty = FaultyTts(engine.backends.tts)
        engine.backends.tts = faulty
        targets["tts"] = TtsFault(faulty)
        output = engine.player.output
        if hasattr(output, "lose") and hasattr(output, "restore"):
            lossy: Losable = output  # type: ignore[assignment]
            targets["output"] = OutputFault(lossy)
        else:
            self._unavailable({"output"}, f"the output {output.name!r} cannot be unplugged by the soak")
        memory_path = _memory_path(settings)
        if memory_path is not None:
            targets["db-lock"] = DbLockFault(memory_path)
        else:
            self._unavailable({"db-lock"}, "memory is off")
        try:
            from kitsu_tui.telemetry.diskfault import fill_disk
        except ImportError:
            self._unavailable({"disk-full"}, "no disk fault support")
        else:
            targets["disk-full"] = DiskFullFault(Path(settings.paths.log_dir), fill_disk)
        for kind in ("obs", "vts"):
            if kind in self.peers:
                targets[kind] = PeerFault(self.peers[kind].down, self.peers[kind].up)
            else:
                self._unavailable({kind}, f"the {kind} module is off in this config (enable it with a running peer)")
        for fault in self.faults:
            if fault.kind not in targets and fault.kind not in self.unavailable:
                self._unavailable({fault.kind}, "not available in this soak")
        if self.explicit:
            missing = sorted({f.kind for f in self.faults if f.kind in self.unavailable})
            if missing:
                raise FaultSpecError(f"--faults: cannot inject {', '.join(missing)} here: "
                                     + "; ".join(f"{k}: {self.unavailable[k]}" for k in missing))
        self.injector = FaultInjector(self.faults, targets, self.unavailable)
        engine.bus.add_listener(self.injector.on_event)
        return self.injector

    def _unavailable(self, kinds: frozenset[str] | set[str], reason: str) -> None:
        for kind in kinds:
            self.unavailable.setdefault(kind, reason)

    def close(self) -> None:
        """Stop the proxies and the server (blocking, bounded)."""
        for peer in self.peers.values():
            peer.stop()
        self.peers.clear()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.server is not None:
            self.server.stop()
            self.server = None


def _memory_path(settings: Settings) -> Path | None:
    """The memory DB file, or None when memory is off."""
    if not settings.memory.enabled:
        return None
    return Path(settings.memory.path) if settings.memory.path else Path(settings.paths.data_dir) / "memory.sqlite3"
