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

"""A host with more streams than the root provider's trait limit.

Against the real Placement: the reporter publishes what fits (the mdev
types on their GPUs' providers, as many whole PCI devices as fit on the
compute node provider), names what it leaves out, and the filter's
reading of Placement never accepts a stream only a device left out
accepts.

Placement itself sets no limit on the traits of one provider (no
``maxItems`` in its traits schemas, none in its database): the limit is
``[traits] max_traits_per_provider``, kept small here so the host stays
small.
"""

import logging

from nova_vfio_compat.model import devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import sync
from nova_vfio_compat.selection import decision
from nova_vfio_compat.selection import placement_reads
from tests import encodings
from tests.functional.reporter import conftest as c

HOST = c.HOST
LIMIT = 24
# Each PCI device its own stream (major i), 2 traits each: 30 streams,
# more than the limit; 12 PCI devices fit on the root.
PCI_STREAMS = 30
GPUS = 2


def _pci(index):
    return devices.Device(
        address='0000:c1:%02x.%d' % (index // 8, index % 8),
        kind=devices.KIND_PCI, document=encodings.range_document(index, 0))


def _gpu(index):
    return devices.Device(
        address='0000:%02x:00.0' % (0x20 + index),
        kind=devices.KIND_MDEV_TYPE, mdev_type='nvidia-222',
        document=encodings.range_document(100 + index, 3))


def _host(placement):
    pcis = [_pci(i) for i in range(PCI_STREAMS)]
    gpus = [_gpu(i) for i in range(GPUS)]
    c.nova_layout(placement.conn, mdev_parents=[g.address for g in gpus])
    return pcis, gpus


def _owned(names):
    return frozenset(n for n in names if traits.is_owned(n))


def _published(device):
    return publication.as_published(device).traits


def _emit(device):
    return traits.emit_trait(publication.as_published(device).streams.emits)


def test_publishes_what_fits_and_names_what_is_left_out(placement, caplog):
    conn = placement.conn
    pcis, gpus = _host(placement)
    caplog.set_level(logging.WARNING)
    reporter = sync.Reporter(conn, HOST, max_traits=LIMIT)
    result = reporter.sync(gpus + pcis)
    assert result.ok and not result.placement_failed, result.errors

    fits = LIMIT // 2
    on_root = frozenset().union(*(_published(d) for d in pcis[:fits]))
    root = c.traits_of(conn, HOST)
    assert _owned(root) == on_root
    assert len(_owned(root)) <= LIMIT
    # Nova's and the other agent's traits are untouched.
    assert root - on_root == c.NOVA_ROOT_TRAITS | {c.OTHER_AGENT_TRAIT}
    # Every GPU carries its own traits on its own provider.
    for gpu in gpus:
        name = plan.mdev_parent_provider_name(HOST, gpu.address)
        assert _owned(c.traits_of(conn, name)) == _published(gpu)
    # What is left out is named: each device and its stream.
    assert len(result.left_out) == PCI_STREAMS - fits
    for device, line in zip(pcis[fits:], result.left_out):
        assert device.name in line and _emit(device) in line
    warning = [r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert warning[0].startswith('%d device(s) left out'
                                 % (PCI_STREAMS - fits))
    assert all(d.name in warning[0] for d in pcis[fits:])

    # The next sync writes nothing and does not warn again.
    placement.app.reset()
    caplog.clear()
    again = reporter.sync(gpus + pcis)
    assert again.ok and placement.app.writes() == []
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_the_filter_never_accepts_a_stream_only_a_left_out_device_accepts(
        placement):
    conn = placement.conn
    pl = conn.placement
    pcis, gpus = _host(placement)
    assert sync.Reporter(conn, HOST, max_traits=LIMIT).sync(gpus + pcis).ok
    root = next(iter(pl.resource_providers(name=HOST))).id

    def get(url, microversion):
        response = pl.get(url, microversion=microversion)
        assert response.status_code == 200, (url, response.text)
        return response.json()

    fits = LIMIT // 2
    cases = ([(d, True) for d in pcis[:fits]] +
             [(d, False) for d in pcis[fits:]] +
             [(d, True) for d in gpus])
    emits = {_emit(d) for d, _ in cases}
    accepting = placement_reads.RequestReads(get).accepting(emits)
    for device, accepted in cases:
        # A source device elsewhere that emits this device's stream.
        source = decision.SourceDevice(
            'source-' + device.address, device.name,
            frozenset([_emit(device)]), frozenset(['VGPU']))
        streams = decision.Streams([source], accepting)
        assert (root in streams.accepting_roots) == accepted, device.name
        if not accepted:
            assert streams.host_rejections(root), device.name
