# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The service loop in-process against the real Placement: when it syncs."""

import logging
import threading
import time

from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd


class Signal:
    """A change signal the test sets (the service's ``signal`` argument).

    In production it is discovery's udev monitor (tests/udev run that).
    """

    def __init__(self):
        self._event = threading.Event()

    def set(self):
        self._event.set()

    def wait(self, timeout):
        fired = self._event.wait(timeout)
        if fired:
            self._event.clear()
        return fired


class Running:
    def __init__(self, svc):
        self.svc = svc
        self.thread = threading.Thread(target=svc.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.svc

    def __exit__(self, *exc):
        self.svc.stop()
        self.thread.join(5)
        assert not self.thread.is_alive(), 'stop() did not end the loop'


def _owned(conn, name):
    return frozenset(n for n in c.traits_of(conn, name)
                     if traits.is_owned(n))


def test_syncs_at_start_and_on_a_debounced_change(placement):
    c.nova_layout(placement.conn, mdev_parents=[rd.GVT_PARENT])
    devices = [rd.gvt()]
    signal = Signal()
    svc = service.Service(sync.Reporter(placement.conn, c.HOST),
                          lambda: list(devices), signal=signal,
                          resync_interval=3600, debounce=0.3)
    with Running(svc):
        c.wait(lambda: svc.syncs == 1)
        assert _owned(placement.conn, c.HOST) == rd.root_traits(rd.gvt())
        # a burst of events (a VF created, a driver bound...) while the
        # devices change: one sync after it settles
        devices.append(rd.vf())
        for _ in range(5):
            signal.set()
            time.sleep(0.05)
        c.wait(lambda: svc.syncs == 2)
        time.sleep(0.5)
        assert svc.syncs == 2
    assert _owned(placement.conn, c.HOST) == rd.root_traits(
        rd.gvt(), rd.vf())


def test_resyncs_periodically_without_writing(placement):
    c.nova_layout(placement.conn, mdev_parents=[rd.GVT_PARENT])
    results = []
    svc = service.Service(sync.Reporter(placement.conn, c.HOST),
                          lambda: [rd.gvt()], resync_interval=0.1,
                          on_result=results.append)
    with Running(svc):
        c.wait(lambda: len(results) >= 4)
    assert results[0].writes > 0
    assert [r.writes for r in results[1:]] == [0] * (len(results) - 1)


def test_periodic_resync_repairs_a_trait_someone_removed(placement):
    conn = placement.conn
    c.nova_layout(conn, mdev_parents=[rd.GVT_PARENT])
    svc = service.Service(sync.Reporter(conn, c.HOST), lambda: [rd.gvt()],
                          resync_interval=0.1)
    with Running(svc):
        c.wait(lambda: svc.syncs >= 1)
        # The GPU's provider: the root carries none of its traits.
        gpu = plan.mdev_parent_provider_name(c.HOST, rd.GVT_PARENT)
        rp = next(iter(conn.placement.resource_providers(name=gpu)))
        cur = conn.placement.get_resource_provider_trait(rp.id)
        assert _owned(conn, gpu) == rd.published_traits(rd.gvt())
        conn.placement.set_resource_provider_trait(
            cur, traits=[t for t in cur.traits if not traits.is_owned(t)])
        c.wait(lambda: _owned(conn, gpu) == rd.published_traits(rd.gvt()))


def test_a_failing_device_source_is_retried(placement):
    c.nova_layout(placement.conn)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OSError('udev went away')
        return [rd.vf()]

    svc = service.Service(sync.Reporter(placement.conn, c.HOST), flaky,
                          resync_interval=3600, max_backoff=1)
    with Running(svc):
        c.wait(lambda: svc.syncs == 1)
    assert len(calls) == 2
    assert svc.last_result.ok


def test_backoff_doubles_up_to_the_cap_while_placement_fails():
    # Placement refusing connections: a real closed port, no mock.
    conn = c.sdk('http://127.0.0.1:9')
    results = []
    svc = service.Service(sync.Reporter(conn, c.HOST), lambda: [rd.gvt()],
                          resync_interval=3600, max_backoff=4,
                          on_result=results.append)
    waits = []
    real_wait = svc._wait_for_change

    def compressed_wait(timeout):
        # record the wait the loop chose, but do not spend it
        waits.append(timeout)
        return real_wait(0.01)

    svc._wait_for_change = compressed_wait
    with Running(svc):
        c.wait(lambda: len(results) >= 5)
    assert all(r.placement_failed for r in results[:5])
    # Each wait is drawn from the upper half of its ceiling (jitter).
    for wait, ceiling in zip(waits[:5], [1.0, 2.0, 4.0, 4.0, 4.0]):
        assert ceiling / 2 <= wait <= ceiling


def test_backoff_is_spread_so_reporters_do_not_retry_in_lockstep():
    # A thousand reporters that failed together, at each step of the
    # backoff: their waits cover the upper half of the ceiling evenly.
    for failures, ceiling in [(1, 1.0), (3, 4.0), (9, 60.0), (40, 60.0)]:
        waits = [service.backoff_wait(failures, 60.0) for _ in range(1000)]
        assert min(waits) >= ceiling / 2 and max(waits) <= ceiling
        spread = max(waits) - min(waits)
        assert spread > 0.45 * ceiling
        # No two reporters in lockstep: a quarter of the range holds about
        # a quarter of them, never all.
        low = sum(1 for w in waits if w < ceiling * 5 / 8)
        assert 150 < low < 350
        assert len(set(waits)) > 990


def test_retries_soon_while_nova_has_not_created_the_providers(placement):
    results = []
    svc = service.Service(sync.Reporter(placement.conn, c.HOST),
                          lambda: [rd.gvt()], resync_interval=3600,
                          max_backoff=0.2, on_result=results.append,
                          check_interval=0.2)
    with Running(svc):
        c.wait(lambda: len(results) >= 1)
        assert results[0].missing == [c.HOST]
        # nova-compute starts and registers the host, then the mdev parent
        root = placement.conn.placement.create_resource_provider(name=c.HOST)
        c.wait(lambda: results[-1].absent == [
            c.HOST + '_pci_0000_00_02_0'])
        assert results[-1].ok and svc.failure is None
        placement.conn.placement.create_resource_provider(
            name=c.HOST + '_pci_0000_00_02_0', parent_provider_uuid=root.id)
        # The next check lists the tree and publishes it.
        c.wait(lambda: results[-1].ok and not results[-1].absent)
    assert _owned(placement.conn, c.HOST + '_pci_0000_00_02_0') == (
        rd.published_traits(rd.gvt()))


def test_an_unexpected_error_in_a_sync_is_survived_and_retried(placement):
    # A bug in the sync (no real part raises this on purpose): the service
    # logs it, backs off and syncs again instead of ending.
    c.nova_layout(placement.conn, mdev_parents=[rd.GVT_PARENT])
    reporter = sync.Reporter(placement.conn, c.HOST)
    real_sync = reporter.sync
    calls = []

    def buggy_once(devices):
        calls.append(1)
        if len(calls) == 1:
            raise AttributeError("'str' object has no attribute 'pop'")
        return real_sync(devices)

    reporter.sync = buggy_once
    svc = service.Service(reporter, lambda: [rd.gvt()],
                          resync_interval=3600, max_backoff=1)
    with Running(svc):
        c.wait(lambda: svc.syncs == 1)
    assert len(calls) == 2
    assert svc.last_result.ok and svc.failure is None
    assert _owned(placement.conn, c.HOST) == rd.root_traits(rd.gvt())


def test_a_gpu_nova_gives_no_provider_is_no_retry_loop(placement, caplog):
    # Nova creates no provider for a GPU without capacity for its type
    # (max_instances reached, no room): the root is there, the GPU's
    # provider never comes.  One INFO line, no backoff, no rediscovery.
    caplog.set_level(logging.INFO)
    c.nova_layout(placement.conn)
    discoveries = []

    def devices():
        discoveries.append(1)
        return [rd.gvt()]

    svc = service.Service(sync.Reporter(placement.conn, c.HOST), devices,
                          resync_interval=3600, max_backoff=0.05,
                          check_interval=0.05)
    with Running(svc):
        c.wait(lambda: svc.checks >= 5)
    assert svc.failure is None and svc.last_result.ok
    assert len(discoveries) == 1
    assert svc.last_result.absent == [c.HOST + '_pci_0000_00_02_0']
    mentions = [r for r in caplog.records
                if c.HOST + '_pci_0000_00_02_0' in r.getMessage()]
    assert [r.levelname for r in mentions] == ['INFO']
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
