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

"""What fits on the compute node provider: publication.fit_root.

For any devices and any limit: the root never carries more than the
limit, what it carries is whole PCI devices, and a PCI device left out
could not be added (maximal); an mdev type is never on the root nor left
out (it has its own provider).
"""

from hypothesis import given
from hypothesis import strategies as st

from nova_vfio_compat.cmd import devices as cmd_devices
from nova_vfio_compat.model import devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import generated_config
from tests import encodings

# A small pool, so that devices share traits (identical VFs, one accept
# block of several devices) as they do on a host: names of no stream,
# and the emit and accept names of one.
NAMES = sorted(['CUSTOM_VFC_T%d' % i for i in range(12)] + list(
    frozenset().union(*(traits.document_traits(
        encodings.range_document(1, m, m - 1)) for m in range(1, 7)))))
KINDS = (devices.KIND_PCI, devices.KIND_MDEV_TYPE)


def _device(index, kind, names):
    device = devices.Device(address='0000:%02x:00.0' % index, kind=kind)
    # The traits as compiled: publication makes these from documents;
    # the rule only reads kind and traits.
    published = publication.as_published(device)
    return published.__class__(device, traits=frozenset(names))


hosts = st.lists(
    st.tuples(st.sampled_from(KINDS),
              st.sets(st.sampled_from(NAMES), min_size=1, max_size=8)),
    max_size=24).map(lambda items: [_device(i, kind, names)
                                    for i, (kind, names) in enumerate(items)])


@given(hosts, st.integers(min_value=1, max_value=40))
def test_what_fits_is_whole_devices_maximal_and_under_the_limit(
        host, limit):
    fit = publication.fit_root(host, limit)
    assert len(fit.traits) <= limit
    assert fit.traits == frozenset().union(*(d.traits for d in fit.on_root))
    # Every PCI device is placed exactly once; no mdev type is.
    pcis = [d for d in host if d.kind == devices.KIND_PCI]
    assert sorted(map(id, fit.on_root + fit.left_out)) == sorted(
        map(id, pcis))
    # Maximal: no PCI device left out would still fit.
    for device in fit.left_out:
        assert len(fit.traits | device.traits) > limit


def test_devices_not_published_are_not_placed():
    device = devices.Device(address='0000:c1:00.0', kind=devices.KIND_PCI,
                            document=encodings.range_document(1, 0))
    published = publication.as_published(device)
    left = publication.decide([device], max_traits=1).decisions[0]
    assert left.problem is not None      # alone over the limit
    fit = publication.fit_root([left, published], 2)
    assert [d.name for d in fit.on_root] == [published.name]
    assert fit.left_out == ()


def _pci(index):
    return devices.Device(
        address='0000:c1:%02x.%d' % (index // 8, index % 8),
        kind=devices.KIND_PCI, document=encodings.range_document(index, 0))


def test_decide_leaves_out_what_does_not_fit_and_says_why():
    host = [_pci(i) for i in range(5)]
    outcome = publication.decide(host, max_traits=5)
    published = [d for d in outcome.decisions if d.published]
    left = [d for d in outcome.decisions if d.over_limit]
    assert [d.name for d in published] == [d.name for d in host[:2]]
    assert [d.name for d in left] == [d.name for d in host[2:]]
    for d in left:
        assert not d.published and not d.live_migratable
        assert d.traits == frozenset()
        assert 'do not fit on the compute node provider' in d.reason
        assert 'max_traits_per_provider' in d.reason
    # One host message names them all, with their streams.
    (message,) = outcome.messages
    assert message.startswith('3 device(s) left out')
    for d in host[2:]:
        stream = traits.emit_trait(d.document.emits)
        assert '%s (stream %s)' % (d.name, stream) in message
    # What is left is under the limit: decided again, nothing moves.
    again = publication.fit_root(outcome.decisions, 5)
    assert again.left_out == ()


def test_devices_shows_why_a_device_is_left_out():
    host = [_pci(i) for i in range(3)]
    outcome = publication.decide(host, max_traits=2)
    items = [cmd_devices.describe(d, 2) for d in outcome.decisions]
    assert items[0]['published'] and not items[0]['not_published']
    for item in items[1:]:
        assert item['published'] is False
        assert item['published_traits'] == []
        assert 'do not fit on the compute node provider' in (
            item['not_published'])


def test_nova_is_not_told_it_can_migrate_a_device_left_out():
    host = [_pci(i) for i in range(3)]
    outcome = publication.decide(host, max_traits=2)
    specs, errors = generated_config.pci_device_specs(outcome.decisions, 2)
    assert errors == []
    by_address = {s['address']: s for s in specs}
    assert by_address[host[0].address]['live_migratable'] == 'yes'
    for device in host[1:]:
        spec = by_address[device.address]
        assert 'live_migratable' not in spec and 'traits' not in spec
