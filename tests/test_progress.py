"""Progress bars of Dask jobs: forwarded from the worker as events, drawn by the client (probtok.progress)."""

import io
import time

import pytest
from rich.console import Console
from rich.progress import Progress

from probtok.progress import TOPIC, ProgressBoard, client_progress, make_progress, run_forwarded, track

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    # threads, not processes: the jobs below share this process's Event objects, and start in a second
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as lc, \
            distributed.Client(lc) as c:
        yield c


def _wait(predicate, timeout=20.0):
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            return False
        time.sleep(0.05)
    return True


def _count(n: int) -> int:
    return sum(1 for _ in track(range(n), "steps"))


def test_a_workers_bar_reaches_the_scheduler_as_few_events(client):
    assert client.submit(run_forwarded, "job A", _count, 2000, pure=False).result() == 2000
    def events():
        return [e[1] for e in client.get_events(TOPIC)]

    assert _wait(lambda: any(m["closed"] for m in events()))  # events reach the scheduler after the result
    events = events()
    assert {m["job"] for m in events} == {"job A"}
    assert {m["description"] for m in events} == {"steps"}
    assert events[0]["completed"] == 0 and events[0]["total"] == 2000
    assert [m["completed"] for m in events if not m["closed"]][-1] == 2000  # the final state is never dropped
    assert events[-1]["closed"]
    assert len(events) < 20  # 2000 steps in well under the 0.5 s interval times 20: throttled, not one per step


def test_outside_a_worker_bars_are_drawn_here():
    assert isinstance(make_progress(), Progress)
    assert run_forwarded("job", _count, 3) == 3


def test_the_client_draws_a_running_jobs_bar_and_removes_it_when_done(client):
    go = distributed.Event("probtok-test-go", client=client)

    def job():
        with make_progress() as prog:
            task = prog.add_task("runs", total=6, info="")
            prog.update(task, completed=2, info="run 25")
            go.wait(timeout=60)  # the test looks at the client's bar meanwhile
            prog.update(task, completed=6)
        return "done"

    shown = Progress(console=Console(file=io.StringIO()))
    with client_progress(client, progress=shown) as board:
        fut = client.submit(run_forwarded, "adapted K4 s0 forecasts", job, pure=False)
        assert _wait(lambda: board.open_bars() == ["adapted K4 s0 forecasts: runs"])
        # the update came within the throttle interval of the bar's start: it follows, though the job now waits
        assert _wait(lambda: [(t.completed, t.total, t.fields["info"]) for t in shown.tasks] == [(2, 6, "run 25")])
        go.set()
        assert fut.result() == "done"
        assert _wait(lambda: board.open_bars() == [])


def test_board_applies_events_in_order():
    shown = Progress(console=Console(file=io.StringIO()))
    board = ProgressBoard(shown)
    base = {"job": "fit m1", "bar": "x-0", "description": "SVI", "info": "", "total": 10.0, "closed": False}
    board.apply({**base, "completed": 0.0})
    board.apply({**base, "completed": 7.0, "info": "-ELBO/frame 3.2"})
    assert board.open_bars() == ["fit m1: SVI"]
    assert (shown.tasks[0].completed, shown.tasks[0].fields["info"]) == (7.0, "-ELBO/frame 3.2")
    board.apply({**base, "bar": "y-0", "description": "forecast", "completed": 1.0})
    assert board.open_bars() == ["fit m1: SVI", "fit m1: forecast"]
    board.apply({**base, "completed": 10.0, "closed": True})
    assert board.open_bars() == ["fit m1: forecast"]
