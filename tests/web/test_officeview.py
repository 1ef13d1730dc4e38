"""The office view: built once, rebuilt only when the store changed, one rebuild at a time.

The concurrency tests gate the loader with events (no sleeps, no timing): a
rebuild is held open while other requests arrive, and what they get is
checked. The page tests run the app over a real store (no simulator).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import ADMIN_PASSWORD, login  # type: ignore[import-not-found]
from starlette.testclient import TestClient

from fleetcheck.i18n import T
from fleetcheck.store import RunNotFound, RunSummary, Store
from fleetcheck.web.app import create_app
from fleetcheck.web.auth import Credentials, hash_password
from fleetcheck.web.fleet import Fleet, FleetSettings
from fleetcheck.web.officeview import (
    OfficeView,
    OfficeViews,
    ViewUnavailable,
    load_view,
    read_marker,
)
from fleetcheck.web.views import PAGE_SIZE, HostFilter, page_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))
from report_factory import T0, big_run  # type: ignore[import-not-found]

JOIN_S = 10  # bounds every join; the gated loaders never need it


def _summary(run_id: str) -> RunSummary:
    return RunSummary(run_id=run_id, started=T0, finished=T0, policies=[], inventory=None, hosts_total=1,
                      hosts_probed=1, hosts_compliant=1, hosts_failed=0, findings_fail=0, findings_error=0)


@dataclass
class FakeStore:
    """A marker that tests move by hand, and a loader that can be held open."""

    marker: tuple[RunSummary, ...] = (_summary("r1"),)
    loads: list[str] = field(default_factory=list)
    gate: threading.Event | None = None  # the loader waits for it when set
    entered: threading.Event = field(default_factory=threading.Event)
    fail_once: BaseException | None = None

    hold_read: threading.Event | None = None  # the next marker read waits for it after reading
    read_taken: threading.Event = field(default_factory=threading.Event)

    def read(self, _: Any) -> tuple[RunSummary, ...]:
        value = self.marker
        hold, self.hold_read = self.hold_read, None
        if hold is not None:
            self.read_taken.set()
            assert hold.wait(JOIN_S)
        return value

    def load(self, _: Any, marker: tuple[RunSummary, ...]) -> OfficeView:
        self.loads.append(marker[0].run_id)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(JOIN_S)
        if self.fail_once is not None:
            error, self.fail_once = self.fail_once, None
            raise error
        return OfficeView(marker=marker, runs=marker)


def _views(fake: FakeStore) -> OfficeViews:
    return OfficeViews(fake, marker=fake.read, loader=fake.load,  # type: ignore[arg-type]
                       fresh_s=JOIN_S, wait_s=JOIN_S)


def _in_thread(call: Callable[[], OfficeView]) -> tuple[threading.Thread, list[OfficeView]]:
    got: list[OfficeView] = []
    thread = threading.Thread(target=lambda: got.append(call()), daemon=True)
    thread.start()
    return thread, got


def test_the_view_is_rebuilt_only_when_the_marker_changes() -> None:
    fake = FakeStore()
    views = _views(fake)
    first = views.current()
    assert views.current() is first and views.current() is first
    assert fake.loads == ["r1"] and views.rebuilds == 1
    fake.marker = (_summary("r2"), *fake.marker)
    second = views.current()
    assert second is not first and second.marker[0].run_id == "r2"
    assert fake.loads == ["r1", "r2"] and views.current() is second


def test_many_first_requests_wait_for_one_build() -> None:
    fake = FakeStore(gate=threading.Event())
    views = _views(fake)
    started = [_in_thread(views.current) for _ in range(8)]
    assert fake.entered.wait(JOIN_S)
    fake.gate.set()  # type: ignore[union-attr]
    for thread, _ in started:
        thread.join(JOIN_S)
    got = [g[0] for _, g in started]
    assert len(got) == 8 and all(v is got[0] for v in got)
    assert fake.loads == ["r1"] and views.rebuilds == 1


def test_requests_during_a_rebuild_get_the_previous_view_at_once() -> None:
    fake = FakeStore()
    views = _views(fake)
    old = views.current()
    fake.marker = (_summary("r2"), *fake.marker)
    fake.gate, fake.entered = threading.Event(), threading.Event()
    builder, built = _in_thread(views.current)
    assert fake.entered.wait(JOIN_S)  # the rebuild of r2 is running and held open
    readers = [_in_thread(views.current) for _ in range(5)]
    for thread, _ in readers:
        thread.join(JOIN_S)
        assert not thread.is_alive(), "a reader waited for the rebuild although a previous view existed"
    assert all(g == [old] for _, g in readers)
    fake.gate.set()
    builder.join(JOIN_S)
    assert built[0].marker[0].run_id == "r2" and fake.loads == ["r1", "r2"]
    assert views.current() is built[0]


def test_a_request_newer_than_the_rebuild_in_progress_waits_and_rebuilds_again() -> None:
    fake = FakeStore()
    views = _views(fake)
    views.current()
    fake.marker = (_summary("r2"), *fake.marker)
    fake.gate, fake.entered = threading.Event(), threading.Event()
    builder, _ = _in_thread(views.current)
    assert fake.entered.wait(JOIN_S)
    fake.marker = (_summary("r3"), *fake.marker)  # recorded while r2's view is being built
    late, got = _in_thread(views.current)
    fake.gate.set()
    builder.join(JOIN_S)
    late.join(JOIN_S)
    assert got[0].marker[0].run_id == "r3", "the newest state was hidden behind an older rebuild"
    assert fake.loads == ["r1", "r2", "r3"]


def test_the_request_that_finds_a_change_waits_a_bounded_time_then_gets_the_previous_view() -> None:
    fake = FakeStore()
    views = OfficeViews(fake, marker=fake.read, loader=fake.load,  # type: ignore[arg-type]
                        fresh_s=0.05, wait_s=JOIN_S)
    old = views.current()
    fake.marker = (_summary("r2"), *fake.marker)
    fake.gate, fake.entered = threading.Event(), threading.Event()
    assert views.lookup() == (old, False)  # the rebuild is held open: not up to date, but an answer
    assert views.rebuilding and views.lookup() == (old, False) and fake.loads == ["r1", "r2"]
    fake.gate.set()
    assert views.wait_idle(JOIN_S)
    new, fresh = views.lookup()
    assert fresh and new.marker[0].run_id == "r2" and fake.loads == ["r1", "r2"]


def test_a_request_with_an_outdated_marker_never_brings_an_older_state_back() -> None:
    fake = FakeStore()
    views = _views(fake)
    views.current()
    fake.marker = (_summary("r2"), *fake.marker)
    hold = fake.hold_read = threading.Event()
    slow_reader, got = _in_thread(views.current)  # reads r2, then is held before it looks at the views
    assert fake.read_taken.wait(JOIN_S)
    fake.marker = (_summary("r3"), *fake.marker)
    assert views.current().marker[0].run_id == "r3"  # somebody else builds r3 meanwhile
    hold.set()
    slow_reader.join(JOIN_S)
    assert got[0].marker[0].run_id == "r3" and views.peek().marker[0].run_id == "r3"  # type: ignore[union-attr]
    assert fake.loads == ["r1", "r3"], "the outdated marker was built and published over a newer view"


def test_a_failed_rebuild_is_not_published_and_the_next_request_retries() -> None:
    fake = FakeStore(fail_once=OSError("disk"))
    views = _views(fake)
    with pytest.raises(OSError):
        views.current()
    assert views.peek() is None
    assert views.current().marker[0].run_id == "r1" and fake.loads == ["r1", "r1"]


def test_a_run_pruned_during_the_rebuild_builds_what_the_store_holds_now() -> None:
    fake = FakeStore(fail_once=RunNotFound(T("已删除", "pruned")))
    views = _views(fake)
    assert views.current().marker[0].run_id == "r1" and fake.loads == ["r1", "r1"]


def test_no_view_in_time_is_an_internal_error_never_a_stale_none() -> None:
    fake = FakeStore(gate=threading.Event())
    views = OfficeViews(fake, marker=fake.read, loader=fake.load, wait_s=0.01)  # type: ignore[arg-type]
    views.refresh()  # the first build starts in its own thread and is held open
    assert fake.entered.wait(JOIN_S)
    with pytest.raises(ViewUnavailable):
        views.current()
    fake.gate.set()  # type: ignore[union-attr]
    assert views.wait_idle(JOIN_S) and views.current().marker[0].run_id == "r1"


def test_page_of_clamps_and_links_keep_the_filter() -> None:
    rows = list(range(450))
    assert page_of(rows, None).rows == rows[:PAGE_SIZE]  # type: ignore[arg-type]
    last = page_of(rows, "3")  # type: ignore[arg-type]
    assert (last.number, last.pages, last.total, len(last.rows)) == (3, 3, 450, 50) and not last.has_next
    for junk in ("0", "-4", "x", "99999999999999999999"):
        assert page_of(rows, junk).number in (1, 3)  # type: ignore[arg-type]
    assert page_of([], "7").pages == 1
    assert HostFilter(status="failing", q="a&b").query(2) == "status=failing&q=a%26b&page=2"
    assert HostFilter().query(1) == ""


# ---------------------------------------------------------------------------------------------- the app
@pytest.fixture()
def big_store(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store.open(url) as store:
        store.record_run(big_run(450, 15), certificates=())
    yield url


def _client(url: str) -> tuple[TestClient, Fleet]:
    fleet = Fleet(FleetSettings(db_url=url))
    app = create_app(fleet, Credentials(users={"admin": hash_password(ADMIN_PASSWORD)}))
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    return client, fleet


def test_pages_read_one_view_until_a_new_run_is_recorded(big_store: str) -> None:
    client, fleet = _client(big_store)
    with client:
        dash = client.app.state.dashboard  # type: ignore[attr-defined]
        login(client)
        for path in ("/", "/history", "/certificates", "/?status=failing", "/?lang=en"):
            assert client.get(path).status_code == 200
        assert dash.views.rebuilds == 1, "the pages rebuilt the report per request"
        with Store.open(big_store) as store:
            newer = big_run(3, 3, run_id="run-after").model_copy(update={"started": T0 + timedelta(days=9)})
            store.record_run(newer, certificates=())
        page = client.get("/")
        assert dash.views.rebuilds == 2 and 'id="run-id">run-after<' in page.text
        assert "run-after" in client.get("/history").text
        assert read_marker(fleet.store) == dash.views.peek().marker
    fleet.close()


def test_the_overview_pages_a_large_host_table(big_store: str) -> None:
    client, fleet = _client(big_store)
    with client:
        login(client)
        first = client.get("/").text
        assert first.count('class="host-row"') == PAGE_SIZE and 'id="f-shown">450<' in first
        assert 'id="page-next" href="/?page=2"' in first and 'id="page-prev"' not in first
        last = client.get("/", params={"page": "3"}).text
        assert last.count('class="host-row"') == 450 - 2 * PAGE_SIZE and 'id="page-next"' not in last
        assert 'id="page-count">3<' in last
        one = client.get("/", params={"q": "pc-00001", "page": "5"}).text
        assert 'id="pages"' not in one and 'id="f-shown">1<' in one and 'data-host="pc-00001"' in one
        failing = client.get("/", params={"status": "failing"}).text
        assert 'id="pages"' not in failing or 'href="/?status=failing&amp;page=2"' in failing
        certs = client.get("/certificates").text
        assert certs.count("<tr class=") == PAGE_SIZE and 'id="page-next" href="/certificates?page=2"' in certs
        assert client.get("/certificates", params={"page": "2"}).text.count("<tr class=") > 0
    fleet.close()


def test_while_a_rebuild_runs_the_page_shows_the_previous_view_and_says_it_is_updating(big_store: str) -> None:
    client, fleet = _client(big_store)
    gate = threading.Event()

    def gated(store: Store, marker: Any) -> OfficeView:
        if marker[0] == "run-after":
            assert gate.wait(JOIN_S)
        return load_view(store, marker)

    with client:
        dash = client.app.state.dashboard  # type: ignore[attr-defined]
        dash.views = OfficeViews(fleet.store, loader=gated, fresh_s=0.0)
        login(client)
        assert 'id="view-updating"' not in client.get("/").text
        with Store.open(big_store) as store:
            store.record_run(big_run(3, 3, run_id="run-after").model_copy(update={"started": T0 + timedelta(days=9)}), certificates=())
        during = client.get("/").text
        assert 'id="view-updating"' in during and 'id="run-id">bench<' in during
        gate.set()
        assert dash.views.wait_idle(JOIN_S)
        after = client.get("/").text
        assert 'id="view-updating"' not in after and 'id="run-id">run-after<' in after
    fleet.close()


def test_the_marker_follows_runs_not_audit_entries(big_store: str) -> None:
    from fleetcheck.store.audit import AuditLog

    with Store.open(big_store) as store:
        before = read_marker(store)
        AuditLog(store).append("alice", "pc-00001", "applied", result="ok")
        assert read_marker(store) == before, "an audit entry would rebuild the whole office view"
        store.record_run(big_run(3, 3, run_id="bench"), certificates=())  # the same run id recorded again, other hosts
        again = read_marker(store)
        assert again != before
        store.prune(keep_runs=0)
        assert read_marker(store) == again  # the latest run is always kept: nothing deleted
        view = load_view(store, again)
        assert view.runs[0].run_id == "bench" and len(view.report("zh").hosts) == 3  # type: ignore[union-attr]


def test_a_large_view_freezes_the_heap_and_a_small_one_unfreezes_it() -> None:
    import gc

    from fleetcheck.web.officeview import settle_heap

    try:
        settle_heap(large=True)
        assert gc.get_freeze_count() > 0 and gc.isenabled()
        settle_heap(large=False)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_the_rebuild_pauses_collections_and_restores_them() -> None:
    import gc

    seen: list[bool] = []

    def loader(store: Any, marker: Any) -> OfficeView:
        seen.append(gc.isenabled())
        raise OSError("disk")

    views = OfficeViews(None, marker=lambda s: ("r1",), loader=loader)  # type: ignore[arg-type]
    with pytest.raises(OSError):
        views.current()
    assert seen == [False] and gc.isenabled(), "the collector stayed off after a failed rebuild"
