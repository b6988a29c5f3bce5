"""A single-producer/single-consumer float32 ring buffer that grows instead of blocking, for audio playback."""

from __future__ import annotations

import numpy as np

from kitsu_tui.audio.base import Audio


class RingBuffer:
    """SPSC float32 ring: the engine writes, the audio callback reads; no locks on either side.

    Positions are ever-growing counters (Python int stores are atomic under the GIL). The producer
    copies data in before it publishes the new write position; the consumer copies data out before
    it publishes the new read position. Growing swaps in a larger array as one (array, capacity)
    reference, so the reader always sees a consistent pair. clear() records a drop mark that the
    reader applies on its next read, so it takes effect within one block.
    """

    def __init__(self, capacity: int = 1 << 20, max_capacity: int = 1 << 27) -> None:
        size = max(1024, int(capacity))
        self._state: tuple[Audio, int] = (np.zeros(size, dtype=np.float32), size)
        self.max_capacity = max(size, int(max_capacity))
        self._write_pos = 0
        self._read_pos = 0
        self._drop_until = 0
        self._taken = 0
        self.overflowed = 0
        """Samples dropped because the buffer reached max_capacity."""

    @property
    def capacity(self) -> int:
        """Current capacity in samples."""
        return self._state[1]

    def _unread_start(self) -> int:
        """The first position the reader will still play (read position or a pending drop mark)."""
        return max(self._read_pos, self._drop_until)

    @property
    def available(self) -> int:
        """Samples written and not yet read or dropped."""
        return max(0, self._write_pos - self._unread_start())

    @property
    def total_read(self) -> int:
        """Samples the consumer has taken out (played) since creation."""
        return self._taken

    def write(self, samples: Audio) -> int:
        """Append samples (producer side, never blocks); returns how many were stored."""
        data = np.asarray(samples, dtype=np.float32).reshape(-1)
        if data.size == 0:
            return 0
        needed = self.available + data.size
        if needed > self.capacity:
            self._grow(needed)
            room = self.capacity - self.available
            if data.size > room:
                self.overflowed += data.size - room
                data = data[:room]
        buf, cap = self._state
        start = self._write_pos % cap
        first = min(data.size, cap - start)
        buf[start : start + first] = data[:first]
        if first < data.size:
            buf[: data.size - first] = data[first:]
        self._write_pos += data.size
        return int(data.size)

    def _grow(self, needed: int) -> None:
        """Swap in a bigger array holding the unread samples at the same positions (producer side)."""
        old_buf, old_cap = self._state
        new_cap = old_cap
        while new_cap < needed and new_cap < self.max_capacity:
            new_cap *= 2
        new_cap = min(new_cap, self.max_capacity)
        if new_cap == old_cap:
            return
        new_buf = np.zeros(new_cap, dtype=np.float32)
        start, end = self._unread_start(), self._write_pos
        for pos in range(start, end, old_cap):
            chunk_end = min(end, pos + old_cap)
            src = pos % old_cap
            length = min(chunk_end - pos, old_cap - src)
            self._copy_into(new_buf, new_cap, pos, old_buf[src : src + length])
            if length < chunk_end - pos:
                self._copy_into(new_buf, new_cap, pos + length, old_buf[: chunk_end - pos - length])
        self._state = (new_buf, new_cap)

    @staticmethod
    def _copy_into(buf: Audio, cap: int, pos: int, data: Audio) -> None:
        """Copy `data` into ring `buf` starting at absolute position `pos`, wrapping at `cap`."""
        start = pos % cap
        first = min(data.size, cap - start)
        buf[start : start + first] = data[:first]
        if first < data.size:
            buf[: data.size - first] = data[first:]

    def read_into(self, out: Audio) -> int:
        """Fill `out` with the next samples (consumer side); the rest is zeroed; returns samples taken."""
        drop = self._drop_until
        if drop > self._read_pos:
            self._read_pos = drop
        written = self._write_pos  # before the array: a grow after this still holds every sample up to `written`
        buf, cap = self._state
        count = min(int(out.shape[0]), written - self._read_pos)
        if count > 0:
            start = self._read_pos % cap
            first = min(count, cap - start)
            out[:first] = buf[start : start + first]
            if first < count:
                out[first:count] = buf[: count - first]
            self._read_pos += count
            self._taken += count
        else:
            count = 0
        out[count:] = 0.0
        return count

    def clear(self) -> int:
        """Drop everything not yet read (producer side); returns the number of samples dropped."""
        dropped = self.available
        self._drop_until = self._write_pos
        return dropped
