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

"""The reporter service fed by real udev discovery and its hotplug monitor,
publishing to the real Placement."""

import threading
import time

from nova_vfio_compat.host import discovery
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync
from tests.functional.reporter import conftest as c
from tests.functional.reporter.conftest import placement  # noqa: F401
from tests import reporter_devices as rd

GVT_PARENT = '0000:00:02.0'
PLAIN_VF = '/sys/devices/pci0000:5d/0000:5d:02.0/0000:5e:00.3'


def _owned(conn, name):
    return frozenset(n for n in c.traits_of(conn, name)
                     if traits.is_owned(n))


def _union(devices, kind=None):
    out = frozenset()
    for d in devices:
        if d.document is not None and kind in (None, d.kind):
            out |= rd.published_traits(d)
    return out


def _root(devices):
    """The compute node provider's: the PCI devices' traits only."""
    return _union(devices, kind='pci')


def test_hotplug_reaches_placement(bed, conf, placement):  # noqa: F811
    bed.load('intel-gvtg', 'mlx5-sriov')
    bed.module_version('mlx5_vfio_pci', '6.1.0-test')
    conn = placement.conn
    c.nova_layout(conn, mdev_parents=[GVT_PARENT])
    gvt_rp = plan.mdev_parent_provider_name(c.HOST, GVT_PARENT)

    # What the service uses in production: discovery and its monitor.
    source, change_signal = published_devices.device_source(conf)
    before = discovery.discover(conf)
    assert len(before) == 5     # three GVT-g types, two VFs
    # umockdev sends a device's remove event before it removes the device
    # (it reads the event's properties from sysfs), where the kernel
    # removes it first: without a quiet second after the event, a busy
    # machine could discover the device still there, and nothing would
    # come to discover it again.
    svc = service.Service(sync.Reporter(conn, c.HOST), source,
                          signal=change_signal, resync_interval=3600,
                          debounce=1)
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    try:
        assert c.wait(lambda: svc.syncs >= 1)
        assert svc.last_result.ok, svc.last_result.errors
        assert _owned(conn, c.HOST) == _root(before)
        assert _owned(conn, gvt_rp) == _union(
            before, kind='mdev_type')

        # The plain vfio-pci VF goes away.
        bed.testbed.uevent(PLAIN_VF, 'remove')
        bed.testbed.remove_device(PLAIN_VF)
        after = discovery.discover(conf)
        assert len(after) == 4
        assert _union(after) != _union(before)
        assert c.wait(lambda: svc.syncs >= 2 and
                      _owned(conn, c.HOST) == _root(after))
        assert _owned(conn, gvt_rp) == _union(after, kind='mdev_type')
        root = c.traits_of(conn, c.HOST)
        assert c.NOVA_ROOT_TRAITS | {c.OTHER_AGENT_TRAIT} <= root
    finally:
        svc.stop()
        thread.join(5)
        change_signal.close()
    assert not thread.is_alive()


class _Recorded:
    """A change signal that logs what each wait() was asked and answered."""

    def __init__(self, signal, log):
        self.signal = signal
        self.log = log

    def wait(self, timeout):
        changed = self.signal.wait(timeout)
        self.log.append(('changed' if changed else 'quiet', timeout,
                         time.monotonic()))
        return changed


def test_a_hotplug_burst_is_one_publish_after_one_debounce(
        bed, conf, placement):  # noqa: F811
    bed.load('intel-gvtg', 'mlx5-sriov')
    bed.module_version('mlx5_vfio_pci', '6.1.0-test')
    conn = placement.conn
    c.nova_layout(conn, mdev_parents=[GVT_PARENT])
    # Long enough that the three events of the burst cannot be a debounce
    # apart even on a loaded machine.
    debounce = 1.0
    log = []
    source, change_signal = published_devices.device_source(conf)

    def discover():
        log.append(('discover', None, time.monotonic()))
        return source()

    svc = service.Service(sync.Reporter(conn, c.HOST), discover,
                          signal=_Recorded(change_signal, log),
                          resync_interval=3600, debounce=debounce)
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    try:
        assert c.wait(lambda: svc.syncs >= 1)
        bed.testbed.uevent(PLAIN_VF, 'unbind')
        bed.testbed.uevent(PLAIN_VF, 'change')
        before_last_event = time.monotonic()
        bed.testbed.uevent(PLAIN_VF, 'remove')
        bed.testbed.remove_device(PLAIN_VF)
        after = discovery.discover(conf)
        assert c.wait(lambda: svc.syncs >= 2 and
                      _owned(conn, c.HOST) == _root(after))
        # Idle again: a quiet wait after the second discovery.
        assert c.wait(lambda: [e[0] for e in log].count('discover') == 2 and
                      log[-1][0] == 'quiet' and
                      log.index(log[-1]) > _last(log, 'discover'))
    finally:
        svc.stop()
        thread.join(5)
        change_signal.close()
    assert not thread.is_alive()
    # One publish for the burst.
    assert svc.syncs == 2
    second = _last(log, 'discover')
    changes = [i for i, e in enumerate(log[:second]) if e[0] == 'changed']
    assert changes, log
    # The sync waited for the burst to be quiet for one debounce...
    assert log[second][2] >= before_last_event + debounce
    # ...and no longer: after the last change the service asked the
    # signal for at most one debounce of quiet (the monitor adds no wait
    # of its own: test_hotplug).
    quiet = log[changes[-1] + 1:second]
    assert all(e[0] == 'quiet' for e in quiet)
    assert sum(e[1] for e in quiet) <= debounce + 1e-6


def _last(log, kind):
    return max(i for i, e in enumerate(log) if e[0] == kind)
