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

"""The reporter against the real Placement, next to Nova's providers."""

import dataclasses
import logging

from openstack import connection

from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import sync
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

HOST = c.HOST
GVT_RP = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
VGPU_RP = plan.mdev_parent_provider_name(HOST, rd.VGPU_PARENT)
PCI_RP = '%s_%s' % (HOST, rd.VF.upper())


def _traits(*devices):
    out = frozenset()
    for d in devices:
        out |= rd.published_traits(d)
    return out


def _owned(names):
    return frozenset(n for n in names if traits.is_owned(n))


def _layout(placement):
    c.nova_layout(placement.conn, mdev_parents=[rd.GVT_PARENT,
                                                rd.VGPU_PARENT],
                  pci=[rd.VF])
    placement.app.reset()


def _assert_foreign_untouched(conn):
    assert c.traits_of(conn, HOST) - _owned(c.traits_of(conn, HOST)) == (
        c.NOVA_ROOT_TRAITS | {c.OTHER_AGENT_TRAIT})
    for name in (GVT_RP, VGPU_RP):
        assert c.traits_of(conn, name) - _owned(
            c.traits_of(conn, name)) == c.NOVA_MDEV_TRAITS
    assert c.traits_of(conn, PCI_RP) == c.NOVA_PCI_TRAITS


def test_first_sync_publishes_then_second_makes_no_writes(placement):
    _layout(placement)
    conn = placement.conn
    devices = [rd.gvt(), rd.vgpu(), rd.vf()]
    reporter = sync.Reporter(conn, HOST)

    result = reporter.sync(devices)

    assert result.ok, result.errors
    assert _owned(c.traits_of(conn, HOST)) == rd.root_traits(*devices)
    assert _owned(c.traits_of(conn, GVT_RP)) == _traits(devices[0])
    assert _owned(c.traits_of(conn, VGPU_RP)) == _traits(devices[1])
    _assert_foreign_untouched(conn)
    rcs = {rc.name for rc in conn.placement.resource_classes()}
    assert {traits.resource_class(publication.stream_document(d).emits)
            for d in devices} <= rcs
    # the count the reporter keeps is the count Placement served
    assert result.writes == len(placement.app.writes())
    assert set(result.changes) == {HOST, GVT_RP, VGPU_RP}
    assert result.changes[HOST].added == rd.root_traits(*devices)

    placement.app.reset()
    again = sync.Reporter(conn, HOST).sync(devices)
    assert again.ok, again.errors
    assert placement.app.writes() == []
    assert again.writes == 0 and again.changes == {}
    assert placement.app.requests, 'the second sync did read Placement'


def test_driver_upgrade_replaces_exactly_the_stale_traits(placement):
    _layout(placement)
    conn = placement.conn
    old = [rd.gvt(), rd.vgpu(), rd.vf()]
    reporter = sync.Reporter(conn, HOST)
    assert reporter.sync(old).ok
    # the vGPU manager and the VF firmware are upgraded
    new = [rd.gvt(), rd.vgpu(sample='nvidia-t4-grid17.4-222.json'),
           rd.vf(sample='mlx5-vf-fw28.43.yaml')]

    result = reporter.sync(new)

    assert result.ok, result.errors
    assert _owned(c.traits_of(conn, HOST)) == rd.root_traits(*new)
    assert _owned(c.traits_of(conn, VGPU_RP)) == _traits(new[1])
    assert _owned(c.traits_of(conn, GVT_RP)) == _traits(new[0])
    assert GVT_RP not in result.changes     # unchanged device: no write
    change = result.changes[VGPU_RP]
    assert change.removed == _traits(old[1]) - _traits(new[1])
    assert change.added == _traits(new[1]) - _traits(old[1])
    assert result.changes[HOST].removed == (
        rd.root_traits(*old) - rd.root_traits(*new))
    _assert_foreign_untouched(conn)


def test_removed_device_traits_disappear(placement):
    _layout(placement)
    conn = placement.conn
    reporter = sync.Reporter(conn, HOST)
    assert reporter.sync([rd.gvt(), rd.vgpu(), rd.vf()]).ok

    result = reporter.sync([rd.gvt()])

    assert result.ok, result.errors
    assert _owned(c.traits_of(conn, HOST)) == rd.root_traits(rd.gvt())
    assert _owned(c.traits_of(conn, VGPU_RP)) == frozenset()
    assert _owned(c.traits_of(conn, GVT_RP)) == _traits(rd.gvt())
    _assert_foreign_untouched(conn)

    assert reporter.sync([]).ok
    for name in (HOST, GVT_RP, VGPU_RP):
        assert _owned(c.traits_of(conn, name)) == frozenset()
    _assert_foreign_untouched(conn)


def test_broken_device_is_reported_and_others_published(placement):
    _layout(placement)
    conn = placement.conn
    bad = rd.broken()
    result = sync.Reporter(conn, HOST).sync([bad, rd.gvt()])
    assert not result.ok
    assert [e for e in result.errors if bad.address in e]
    assert _owned(c.traits_of(conn, GVT_RP)) == _traits(rd.gvt())
    assert _owned(c.traits_of(conn, HOST)) == rd.root_traits(rd.gvt())


def test_concurrent_writer_causes_409_and_both_writes_survive(placement):
    _layout(placement)
    conn = placement.conn
    other = c.sdk(placement.endpoint)      # a second, independent client
    landed = []

    def nova_writes_meanwhile(name):
        # nova-compute's periodic update lands between our read and our
        # write of this provider, bumping its generation.
        if name == GVT_RP and not landed:
            other.placement.create_trait('CUSTOM_NOVA_LATE')
            cur = other.placement.get_resource_provider_trait(
                next(iter(other.placement.resource_providers(
                    name=GVT_RP))).id)
            other.placement.set_resource_provider_trait(
                cur, traits=sorted(set(cur.traits) | {'CUSTOM_NOVA_LATE'}))
            landed.append(name)

    reporter = sync.Reporter(conn, HOST, before_write=nova_writes_meanwhile)
    result = reporter.sync([rd.gvt()])

    assert landed == [GVT_RP]
    assert result.ok, result.errors
    conflicts = [r for r in placement.app.requests
                 if r[0] == 'PUT' and r[1].endswith('/traits')]
    # the other writer's, ours with the generation we read (409), ours
    # again after re-reading
    gvt_id = next(iter(conn.placement.resource_providers(name=GVT_RP))).id
    assert [r[2] for r in conflicts if gvt_id in r[1]] == [200, 409, 200]
    got = c.traits_of(conn, GVT_RP)
    assert 'CUSTOM_NOVA_LATE' in got
    assert _owned(got) == _traits(rd.gvt())
    assert c.NOVA_MDEV_TRAITS <= got


def test_gives_up_after_the_retries_and_says_so(placement, caplog):
    _layout(placement)
    caplog.set_level(logging.INFO, logger=sync.__name__)
    other = c.sdk(placement.endpoint)

    bumps = []

    def always_bump(name):
        bumps.append(name)
        trait = 'CUSTOM_OTHER_%d' % len(bumps)
        other.placement.create_trait(trait)
        rp = next(iter(other.placement.resource_providers(name=name)))
        cur = other.placement.get_resource_provider_trait(rp.id)
        other.placement.set_resource_provider_trait(
            cur, traits=sorted(set(cur.traits) | {trait}))

    # A VF, so that the root has traits to write (a GPU's are on its own
    # provider only).
    result = sync.Reporter(placement.conn, HOST, conflict_retries=2,
                           before_write=always_bump).sync(
                               [rd.gvt(), rd.vf()])
    requests = list(placement.app.requests)
    assert not result.ok
    assert any('generation conflicts' in e and HOST in e
               for e in result.errors)
    # three tries on the root (first + 2 retries), each lost to the other
    # writer, and the same on the mdev parent
    assert bumps == [HOST] * 3 + [GVT_RP] * 3
    assert _owned(c.traits_of(placement.conn, HOST)) == frozenset()
    assert {'CUSTOM_OTHER_1', 'CUSTOM_OTHER_2', 'CUSTOM_OTHER_3'} <= (
        c.traits_of(placement.conn, HOST))
    # Each retry is counted out of the retries there are ("retry 2 of 2",
    # never "attempt 3 of 2"), and the last conflict is not re-read for a
    # write that will not come.
    retries = [r.getMessage() for r in caplog.records
               if 'changed while' in r.getMessage()]
    assert [m.rpartition('; ')[2] for m in retries] == [
        're-reading, retry 1 of 2', 're-reading, retry 2 of 2'] * 2
    root = next(iter(placement.conn.placement.resource_providers(
        name=HOST))).id
    on_root = [r for r in requests if r[1].endswith('/%s/traits' % root)]
    assert on_root[-1][:1] + on_root[-1][2:] == ['PUT', 409]


def test_missing_mdev_parent_is_skipped_and_published_later(placement):
    conn = placement.conn
    root = c.nova_layout(conn, mdev_parents=[rd.GVT_PARENT])
    reporter = sync.Reporter(conn, HOST)
    devices = [rd.gvt(), rd.vgpu()]
    placement.app.reset()

    result = reporter.sync(devices)

    # Nova gives a GPU without capacity for its type no provider: expected,
    # not a failure to retry.
    assert result.absent == [VGPU_RP]
    assert result.missing == [] and result.ok, result.errors
    assert _owned(c.traits_of(conn, GVT_RP)) == _traits(rd.gvt())
    assert _owned(c.traits_of(conn, HOST)) == rd.root_traits(*devices)
    # the reporter created no provider: Nova owns them
    assert not [r for r in placement.app.writes()
                if r[0] == 'POST' and r[1].endswith('/resource_providers')]
    assert len(list(conn.placement.resource_providers())) == 2

    conn.placement.create_resource_provider(name=VGPU_RP,
                                            parent_provider_uuid=root.id)
    result = reporter.sync(devices)
    assert result.ok, result.errors
    assert _owned(c.traits_of(conn, VGPU_RP)) == _traits(rd.vgpu())


def test_missing_root_is_an_error_and_nothing_is_written(placement):
    result = sync.Reporter(placement.conn, HOST).sync([rd.gvt()])
    assert result.missing == [HOST]
    assert any(HOST in e for e in result.errors)
    assert placement.app.writes() == []


def test_dry_run_reports_the_plan_and_writes_nothing(placement):
    _layout(placement)
    devices = [rd.gvt(), rd.vf()]
    result = sync.Reporter(placement.conn, HOST, dry_run=True).sync(devices)
    assert placement.app.writes() == []
    assert result.writes == 0
    assert result.changes[HOST].added == rd.root_traits(*devices)
    assert result.changes[GVT_RP].added == _traits(rd.gvt())
    assert set(result.created_traits) == _traits(*devices)
    assert _owned(c.traits_of(placement.conn, HOST)) == frozenset()


def test_existing_traits_and_classes_are_not_recreated(placement):
    _layout(placement)
    conn = placement.conn
    devices = [rd.gvt()]
    for name in _traits(*devices):
        conn.placement.create_trait(name)
    placement.app.reset()
    result = sync.Reporter(conn, HOST).sync(devices)
    assert result.created_traits == []
    assert not [w for w in placement.app.writes()
                if w[1].startswith('/traits/')]
    assert len(result.created_resource_classes) == 1


def test_placement_errors_are_reported_not_raised(placement):
    _layout(placement)
    # noauth2 gives a non-admin user 403 on everything: a real Placement
    # error answer.
    conn = connection.Connection(
        auth_type='admin_token',
        auth={'endpoint': placement.endpoint, 'token': 'someone:proj'})
    result = sync.Reporter(conn, HOST).sync([rd.gvt()])
    assert result.placement_failed and not result.ok
    assert any('403' in e for e in result.errors)
    assert placement.app.writes() == []
    assert _owned(c.traits_of(placement.conn, HOST)) == frozenset()


def test_a_virtual_mdev_parent_gets_its_traits_on_novas_provider(placement):
    # Nova names a virtual parent's provider after its libvirt name
    # (mtty_mtty), with no "pci_" in it.
    conn = placement.conn
    root = c.nova_layout(conn)
    name = '%s_mtty_mtty' % HOST
    conn.placement.create_resource_provider(name=name,
                                            parent_provider_uuid=root.id)
    device = dataclasses.replace(rd.gvt(), address='mtty_mtty')

    result = sync.Reporter(conn, HOST).sync([device])

    assert result.ok and result.absent == [], result.errors
    assert _owned(c.traits_of(conn, name)) == _traits(device)


def test_the_mdev_type_is_published_and_a_stale_one_removed(placement):
    _layout(placement)
    conn = placement.conn
    reporter = sync.Reporter(conn, HOST)
    gvt, vgpu = rd.gvt(), rd.vgpu()
    assert reporter.sync([gvt, vgpu, rd.vf()]).ok
    # Each GPU's provider names its type, exactly, as Placement holds it.
    assert traits.mdev_types(c.traits_of(conn, GVT_RP)) == {gvt.mdev_type}
    assert traits.mdev_types(c.traits_of(conn, VGPU_RP)) == {
        'nvidia-222'}
    # Not on the root: nothing reads a type there.
    assert traits.mdev_type_trait('nvidia-222') not in c.traits_of(
        conn, HOST)
    # A type trait the reporter no longer plans (the GPU's type before,
    # an older reporter's) is stale; a name of someone else's is not.
    stale = traits.mdev_type_trait('nvidia-230')
    foreign = 'CUSTOM_NVIDIA_230'
    rp = next(iter(conn.placement.resource_providers(name=VGPU_RP)))
    c.set_traits(conn, rp, c.traits_of(conn, VGPU_RP) | {stale, foreign})

    result = reporter.sync([gvt, vgpu, rd.vf()])

    assert result.ok, result.errors
    assert result.changes[VGPU_RP].removed == {stale}
    assert result.changes[VGPU_RP].added == frozenset()
    assert stale not in c.traits_of(conn, VGPU_RP)
    assert foreign in c.traits_of(conn, VGPU_RP)
    assert traits.mdev_types(c.traits_of(conn, VGPU_RP)) == {'nvidia-222'}
    assert _owned(c.traits_of(conn, VGPU_RP)) == _traits(vgpu)
