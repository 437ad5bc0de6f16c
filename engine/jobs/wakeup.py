"""Wake-up across processes: a timer written by any process is seen by the scheduler processes at once.

On PostgreSQL the transaction that writes or moves a timer sends NOTIFY samflode_timers (a statement trigger on the
timers table, migration 0020), delivered when it commits. Each scheduler process keeps one connection of its own that
LISTENs on that channel and calls its wake-up (re-arm for the new next due time) on every notification. A dropped
connection is opened again, and after it the scheduler is woken once (what was written meanwhile is not missed; the
safety interval remains the last resort). SQLite has one machine and no NOTIFY: there the runtime's in-process
listeners (Runtime.timer_listeners) wake the scheduler of the process that wrote the timer, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from engine.persistence.db import psycopg_url

log = logging.getLogger(__name__)
CHANNEL = "samflode_timers"


class TimerListener:
    """LISTEN samflode_timers on a connection of its own, in a daemon thread; `on_wake` is called for each batch of
    notifications (several commits close together wake once)."""

    def __init__(self, url: str, on_wake: Callable[[], None], reconnect_seconds: float = 1.0):
        self.url = psycopg_url(url)
        self.on_wake = on_wake
        self.reconnect_seconds = reconnect_seconds
        self.coalesce_seconds = 0.005
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self.heard = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="samflode-timer-listener", daemon=True)
        self._thread.start()

    def wait_listening(self, timeout: float = 10.0) -> bool:
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if not first:
                        self._wake()  # whatever was written while the connection was down
                    first = False
                    while not self._stop.is_set():
                        if not any(True for _ in conn.notifies(timeout=0.5, stop_after=1)):
                            continue
                        # Several commits close together wake once: take what else arrived within a few ms.
                        self.heard += 1 + sum(1 for _ in conn.notifies(timeout=self.coalesce_seconds))
                        self._wake()
            except Exception:  # noqa: BLE001 - a dropped connection: listen again after a pause
                self._listening.clear()
                if self._stop.is_set():
                    break
                log.warning("timer wake-up connection lost; listening again in %.0f s", self.reconnect_seconds)
                self._stop.wait(self.reconnect_seconds)

    def _wake(self) -> None:
        try:
            self.on_wake()
        except Exception:  # noqa: BLE001 - the scheduler's own error; the listener keeps listening
            log.exception("timer wake-up failed")
