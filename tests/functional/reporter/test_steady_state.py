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


"""The reporter's steady state against the real Placement: what a sync
with nothing to change costs, what it notices, and the move from
encoding 1 to encoding 2."""

import threading
import time

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync
from tests import encodings
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

HOST = c.HOST
GPUS = ['0000:%02x:00.0' % (0x20 + i) for i in range(8)]
VFS = ['0000:c1:%02x.%d' % (i // 8, i % 8) for i in range(32)]


def _host_of_64_devices(conn):
    """32 mdev types on 8 GPU providers and 32 PCI VFs, as Nova lays out."""
    c.nova_layout(conn, mdev_parents=GPUS)
    devices = []
    for i in range(32):
        devices.append(nvc_devices.Device(
            address=GPUS[i // 4], kind=nvc_devices.KIND_MDEV_TYPE,
            driver='nvidia', mdev_type='nvidia-%d' % (222 + i % 4),
            document=rd.doc('nvidia-t4-grid17.5-222.yaml')))
    for address in VFS:
        devices.append(rd.vf(address=address))
    return devices


def _owned(conn, name):
    return frozenset(n for n in c.traits_of(conn, name)
                     if traits.is_owned(n))


def _reads(placement):
    return [r for r in placement.app.requests if r[0] == 'GET']


def test_a_sync_with_nothing_to_change_is_one_listing(placement):
    conn = placement.conn
    devices = _host_of_64_devices(conn)
    reporter = sync.Reporter(conn, HOST)
    assert reporter.sync(devices).ok
    placement.app.reset()

    result = reporter.sync(devices)

    assert result.ok and result.writes == 0, result.errors
    assert len(placement.app.requests) <= 2, placement.app.requests
    assert [r[1].rsplit('/', 1)[-1] for r in placement.app.requests] == [
        'resource_providers']

    # Nova writes to one GPU provider (its generation moves): that one
    # provider is read again, and nothing is written.
    pl = conn.placement
    gpu = next(iter(pl.resource_providers(
        name=plan.mdev_parent_provider_name(HOST, GPUS[3]))))
    c.set_traits(conn, gpu, c.traits_of(conn, gpu.name) | {'CUSTOM_NOVA_X'})
    placement.app.reset()
    result = reporter.sync(devices)
    assert result.ok and result.writes == 0
    assert [r[1] for r in placement.app.requests][1:] == [
        '/resource_providers/%s/traits' % gpu.id]
    assert 'CUSTOM_NOVA_X' in c.traits_of(conn, gpu.name)


def test_someone_removing_owned_traits_is_noticed_by_the_listing(placement):
    conn = placement.conn
    devices = [rd.gvt()]
    c.nova_layout(conn, mdev_parents=[rd.GVT_PARENT])
    reporter = sync.Reporter(conn, HOST)
    assert reporter.sync(devices).ok
    # The GPU's provider: the root carries none of its traits.
    gpu = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
    rp = next(iter(conn.placement.resource_providers(name=gpu)))
    assert _owned(conn, gpu) == rd.published_traits(rd.gvt())
    c.set_traits(conn, rp, c.traits_of(conn, gpu) - _owned(conn, gpu))
    result = reporter.sync(devices)
    assert result.ok and result.writes == 1
    assert _owned(conn, gpu) == rd.published_traits(rd.gvt())


def _recreate(conn, name):
    """What Nova does on an mdev type change: delete, create again."""
    pl = conn.placement
    old = next(iter(pl.resource_providers(name=name)))
    pl.delete_resource_provider(old.id)
    new = pl.create_resource_provider(
        name=name, parent_provider_uuid=old.root_provider_id)
    c.set_traits(conn, new, c.NOVA_MDEV_TRAITS)
    assert new.id != old.id
    return new


def test_a_recreated_provider_gets_its_traits_back_within_the_check(
        placement):
    conn = placement.conn
    c.nova_layout(conn, mdev_parents=[rd.GVT_PARENT])
    name = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
    want = rd.published_traits(rd.gvt())
    discovered = []

    def source():
        discovered.append(1)
        return [rd.gvt()]

    svc = service.Service(sync.Reporter(conn, HOST), source,
                          resync_interval=3600, check_interval=0.3)
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    try:
        c.wait(lambda: svc.syncs >= 1 and _owned(conn, name) == want)
        # Checks run, cheaply: one listing each, no discovery.
        c.wait(lambda: svc.checks >= 2)
        placement.app.reset()
        c.wait(lambda: svc.checks >= 4)
        assert all(r[0] == 'GET' for r in placement.app.requests)
        assert len(discovered) == 1

        _recreate(conn, name)
        assert _owned(conn, name) == frozenset()
        start = time.monotonic()
        c.wait(lambda: _owned(conn, name) == want, timeout=5)
        # Within the check interval, plus a sync and this test's polling.
        assert time.monotonic() - start < 3
        assert len(discovered) == 1
    finally:
        svc.stop()
        thread.join(5)
    assert c.traits_of(conn, name) >= c.NOVA_MDEV_TRAITS


def test_without_checks_a_recreated_provider_waits_for_the_resync(
        placement):
    conn = placement.conn
    c.nova_layout(conn, mdev_parents=[rd.GVT_PARENT])
    name = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
    svc = service.Service(sync.Reporter(conn, HOST), lambda: [rd.gvt()],
                          resync_interval=3600, check_interval=0)
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    try:
        c.wait(lambda: svc.syncs >= 1 and _owned(conn, name))
        _recreate(conn, name)
        time.sleep(1.5)
        assert _owned(conn, name) == frozenset()
        assert svc.syncs == 1
    finally:
        svc.stop()
        thread.join(5)


def test_first_sync_replaces_encoding_1_traits_with_encoding_2(placement):
    """A host upgraded from a reporter of encoding 1."""
    conn = placement.conn
    c.nova_layout(conn, mdev_parents=[rd.GVT_PARENT])
    name = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
    doc = publication.stream_document(rd.gvt())
    v1 = encodings.v1_traits(doc)
    for provider in (HOST, name):
        rp = next(iter(conn.placement.resource_providers(name=provider)))
        c.set_traits(conn, rp, c.traits_of(conn, provider) | v1)
    assert any(n.startswith(traits.V1_ACCEPT_PREFIX)
               for n in c.traits_of(conn, name))

    result = sync.Reporter(conn, HOST).sync([rd.gvt()])

    assert result.ok, result.errors
    for provider, published in ((HOST, rd.root_traits(rd.gvt())),
                                (name, rd.published_traits(rd.gvt()))):
        assert _owned(conn, provider) == published
        assert not any(n.startswith(traits.V1_ACCEPT_PREFIX)
                       for n in c.traits_of(conn, provider))
    assert c.traits_of(conn, HOST) >= c.NOVA_ROOT_TRAITS | {
        c.OTHER_AGENT_TRAIT}
    assert result.changes[name].removed == frozenset(v1) - {
        traits.emit_trait(doc.emits)}
