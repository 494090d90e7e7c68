"""A worker thread whose failure is raised in the thread that collects its result (``Background``)."""

from __future__ import annotations

import threading


class Background:
    """Base of a class that runs its work in ``_thread`` and stores what the work raised in ``_error``:
    ``_collect`` waits for the thread and raises that error, once, in the caller's thread."""

    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def _collect(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
