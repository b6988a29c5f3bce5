"""The pre-air hold panel: sentences waiting for review or a broadcast delay, and the moderation counters."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from kitsu_tui.engine.events import HoldResolved, ModerationDecided, SentenceHeld
from kitsu_tui.tui.text import clean, shorten


@dataclass
class HeldRow:
    """One held sentence as the panel shows it."""

    hold_id: int
    text: str
    reason: str
    review: bool
    release_at: float | None


class HoldPanel(Static):
    """Lists held sentences oldest first (the one F7/F8 act on is marked) and counts decisions by action."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", markup=False, id=id, classes=classes)
        self.rows: dict[int, HeldRow] = {}
        self.counts: Counter[str] = Counter()
        """Moderation decisions by action (block, review) and hold outcomes (approved, dumped...)."""
        self.by_rule: Counter[str] = Counter()

    def on_mount(self) -> None:
        """Refresh countdowns twice a second."""
        self.set_interval(0.5, self._render_rows)
        self._render_rows()

    def on_held(self, event: SentenceHeld) -> None:
        """A sentence entered the hold."""
        release = None if event.release_in_s is None else time.monotonic() + event.release_in_s
        self.rows[event.hold_id] = HeldRow(event.hold_id, event.text, event.reason, event.review, release)
        self._render_rows()

    def on_resolved(self, event: HoldResolved) -> None:
        """A sentence left the hold."""
        self.rows.pop(event.hold_id, None)
        self.counts[event.action] += 1
        self._render_rows()

    def on_decision(self, event: ModerationDecided) -> None:
        """Count a moderation decision that was not a plain allow."""
        if event.action != "allow":
            self.counts[event.action] += 1
            self.by_rule[event.rule] += 1
            self._render_rows()

    def _render_rows(self) -> None:
        now = time.monotonic()
        text = Text()
        for position, row in enumerate(sorted(self.rows.values(), key=lambda r: r.hold_id)):
            marker = "▶ " if position == 0 else "  "
            if row.review:
                state = Text("REVIEW ", style="bold yellow")
            else:
                left = max(0.0, (row.release_at or now) - now)
                state = Text(f"{left:4.1f}s ", style="cyan")
            text.append(marker)
            text.append_text(state)
            text.append(shorten(clean(row.text), 60))
            text.append(f"\n    {shorten(clean(row.reason), 48)}\n", style="dim")
        if not self.rows:
            text.append("nothing held\n", style="dim")
        totals = " ".join(f"{k} {self.counts[k]}" for k in ("block", "review", "approved", "dumped") if self.counts[k])
        top = ", ".join(f"{rule} {n}" for rule, n in self.by_rule.most_common(3))
        text.append(f"{totals or 'no blocks'}" + (f" · {top}" if top else ""), style="dim")
        self.update(text)
        self.border_subtitle = f"{len(self.rows)} held" if self.rows else ""
