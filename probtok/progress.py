"""One progress-bar style for every long stage (rich.progress), also for jobs on Dask workers.

Bars go to stderr and disappear from logs when stderr is not a terminal
(rich handles that), so scripted runs stay readable.

A job on a Dask worker (the benchmark's fits and forecasts) has no terminal of
its own: inside :func:`forward_to_client` every bar that :func:`make_progress`
makes is sent to the client as Dask events (topic :data:`TOPIC`), and
:func:`client_progress` draws them there, one line per running job's bar.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import threading
import time
import uuid

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.console import Console

_console = Console(stderr=True)

TOPIC = "probtok-progress"  # Dask event topic of forwarded bars
# the label of the Dask job whose bars are forwarded (None: draw here); a context variable, so a job's setting
# ends with the job, whatever else its worker runs
_forward_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("probtok_forward_job", default=None)


def make_progress(transient: bool = False):
    """A rich Progress with description, bar, n/N, elapsed, remaining and a free-text field ``info``; inside
    :func:`forward_to_client`, a stand-in with the same methods that sends each bar to the Dask client."""
    job = _forward_job.get()
    if job is not None:
        return ForwardedProgress(job)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=_console,
        transient=transient,
    )


def track(iterable, description: str, total: int | None = None):
    """Iterate with a progress bar."""
    with make_progress() as prog:
        task = prog.add_task(description, total=total if total is not None else len(iterable), info="")
        for item in iterable:
            yield item
            prog.advance(task)


@contextlib.contextmanager
def forward_to_client(job: str):
    """Within this block, bars made by :func:`make_progress` are sent to the Dask client as events labelled
    ``job``, when this runs in a Dask worker; elsewhere (no worker) they are drawn here as usual."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):  # not in a Dask worker
        yield
        return
    token = _forward_job.set(job)
    try:
        yield
    finally:
        _forward_job.reset(token)


class ForwardedProgress:
    """The part of :class:`rich.progress.Progress` probtok uses (add_task, update, advance, start/stop, a
    context manager), sent as events {job, bar, description, completed, total, info, closed} to the Dask
    scheduler, where the client's :func:`client_progress` picks them up. A bar's state is sent when it is
    added, at most every ``interval`` seconds while it moves (a held-back state follows ``interval`` later, so
    a bar that then stalls still shows its last step), when it completes and when the progress stops: a fast
    loop (an SVI step a few milliseconds long) does not flood the scheduler."""

    def __init__(self, job: str, interval: float = 0.5):
        from distributed import get_worker

        self._worker = get_worker()
        self.job, self.interval = job, float(interval)
        self._id = uuid.uuid4().hex[:8]
        self._ids = itertools.count()
        self._tasks: dict[int, dict] = {}
        self._sent: dict[int, float] = {}
        self._pending: set[int] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()  # the timer's thread sends too

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            self.remove_task(task)

    def add_task(self, description: str, total: float | None = 100.0, completed: float = 0, **fields) -> int:
        task = next(self._ids)
        self._tasks[task] = {"description": str(description), "total": total, "completed": completed,
                             "info": str(fields.get("info", ""))}
        self._send(task, force=True)
        return task

    def update(self, task: int, *, total=None, completed=None, advance=None, description=None, **fields) -> None:
        t = self._tasks[task]
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = completed
        if advance is not None:
            t["completed"] += advance
        if description is not None:
            t["description"] = str(description)
        if "info" in fields:
            t["info"] = str(fields["info"])
        self._send(task, force=t["total"] is not None and t["completed"] >= t["total"])

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def remove_task(self, task: int) -> None:
        self._send(task, force=True, closed=True)
        with self._lock:
            del self._tasks[task]

    def _send(self, task: int, force: bool, closed: bool = False) -> None:
        with self._lock:
            if task not in self._tasks:  # removed while the timer's flush was on its way
                return
            now = time.monotonic()
            wait = self.interval - (now - self._sent.get(task, -float("inf")))
            if not force and wait > 0:
                self._pending.add(task)
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._pending.discard(task)
            self._sent[task] = now
            t = dict(self._tasks[task])
        self._worker.log_event(TOPIC, {"job": self.job, "bar": f"{self._id}-{task}", "closed": closed,
                                       "description": t["description"], "info": t["info"],
                                       "total": None if t["total"] is None else float(t["total"]),
                                       "completed": float(t["completed"])})

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            todo = [task for task in self._pending if task in self._tasks]
        for task in todo:
            self._send(task, force=True)


class ProgressBoard:
    """The client side: applies forwarded bar events (:class:`ForwardedProgress`) to a local rich Progress,
    one line "job: description" per open bar, removed when the bar closes."""

    def __init__(self, progress):
        self.progress = progress
        self._tasks: dict[str, int] = {}

    def apply(self, msg: dict) -> None:
        bar = msg["bar"]
        if msg.get("closed"):
            if bar in self._tasks:
                self.progress.remove_task(self._tasks.pop(bar))
            return
        description = f"{msg['job']}: {msg['description']}"
        if bar not in self._tasks:
            self._tasks[bar] = self.progress.add_task(description, total=msg["total"], completed=msg["completed"],
                                                      info=msg["info"])
        else:
            self.progress.update(self._tasks[bar], description=description, total=msg["total"],
                                 completed=msg["completed"], info=msg["info"])

    def open_bars(self) -> list[str]:
        """Descriptions of the bars now shown."""
        shown = set(self._tasks.values())
        return [t.description for t in self.progress.tasks if t.id in shown]


@contextlib.contextmanager
def client_progress(client, progress=None, closing_wait_s: float = 2.0):
    """Draw the bars of the jobs running on ``client``'s workers (inside :func:`forward_to_client`) on this
    process's stderr, while the block runs; yields the :class:`ProgressBoard`. ``progress``: the rich Progress
    to draw on (default :func:`make_progress`); ``closing_wait_s``: how long the end of the block waits for
    the bars still open to close [s]."""
    board = ProgressBoard(progress if progress is not None else make_progress())
    with board.progress:
        client.subscribe_topic(TOPIC, lambda event: board.apply(event[1]))
        try:
            yield board
            # a job's last events reach the client after its result: let finished bars close before the display
            # stops, so that it does not end on a stale line
            t0 = time.monotonic()
            while board.open_bars() and time.monotonic() - t0 < closing_wait_s:
                time.sleep(0.05)
        finally:
            client.unsubscribe_topic(TOPIC)


def run_forwarded(job: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with its bars forwarded to the Dask client under the label ``job`` (a function
    to submit to Dask in place of ``fn``)."""
    with forward_to_client(job):
        return fn(*args, **kwargs)
