"""Records committed in groups: at hundreds of replies a second, one locked append per reply is its own
limit, so replies that land close together share one append (one write of whole lines, under the log's
lock, like any other append: never torn, never interleaved).

The crash guarantee stays that of one append per reply, give or take `max_delay`: a record waits at most
`max_delay` seconds (a timer on the running event loop) or until `max_records` are waiting, so a kill -9
loses only replies that landed in the last `max_delay` seconds, together with the calls still in flight;
a rerun judges them again. Without a running event loop (a local judge) every record is committed at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable


class GroupCommit:
    def __init__(self, save: Callable[[list], object], max_delay: float = 0.05, max_records: int = 256):
        self.save, self.max_delay, self.max_records = save, max_delay, max_records
        self.pending: list = []
        self.timer: asyncio.TimerHandle | None = None
        self.error: Exception | None = None  # a failed timed commit, raised to the caller at its next add

    def add(self, records: Iterable) -> None:
        if self.error is not None:
            raise self.error
        self.pending.extend(records)
        if len(self.pending) >= self.max_records:
            self.flush()
            return
        if self.timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self.timer = loop.call_later(self.max_delay, self._timed_flush)

    def _timed_flush(self) -> None:
        """A commit run by the event loop, which would only log its error: keep it for the caller."""
        self.timer = None
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001  (any failure to save must reach the command, not the loop's log)
            self.error = exc

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            records, self.pending = self.pending, []
            self.save(records)

    def __enter__(self) -> GroupCommit:
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
        if self.error is not None:
            raise self.error
