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

"""``--assume`` (pure): the project's traits replaced, nothing else."""

import pytest

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits
from nova_vfio_compat.planning import assume

FOREIGN = frozenset(['OWNER_NOVA', 'CUSTOM_OTHER_AGENT'])
I915 = records.loads(
    'device_api: vfio-pci\nvendor: i915\nversion: {major: 1, minor: 2}\n'
    'vfio-pci: {vendor: 0x8086, device: 0x591d, subsystem_vendor: 0x8086,'
    ' subsystem_device: 0x0003}\n', 'i915.yaml')


def _host(*docs):
    return {'p%d' % i: ('gpu%d' % i, traits.document_traits(d) | FOREIGN)
            for i, d in enumerate(docs)}


def test_replaces_the_owned_traits_of_the_family_only():
    new = records.loads(bench_fleet.document_text(2, 0), 'new.yaml')
    hosts = {'h1': _host(bench_fleet.document(1, 2), I915)}
    result = assume.apply([assume.Assumption('h1', new)], hosts)
    assert set(result) == {'p0'}
    # Typed as the reporter publishes a GPU of the document's type.
    typed, _ = publication.typed_document(new, new.emits.mdev_type)
    assert result['p0'] == traits.document_traits(typed) | FOREIGN | {
        traits.mdev_type_trait(new.emits.mdev_type)}
    assert result['p0'] != traits.document_traits(new) | FOREIGN


def test_a_host_without_the_family_is_an_error_naming_both():
    hosts = {'h1': _host(I915)}
    new = bench_fleet.document(1, 3)
    with pytest.raises(assume.AssumptionError) as e:
        assume.apply([assume.Assumption('h1', new)], hosts)
    message = str(e.value)
    assert '--assume h1=%s' % new.source in message
    assert 'NVIDIA_10DE_1EB8' in message and 'I915_8086_591D' in message


def test_two_assumptions_for_one_device_are_an_error():
    hosts = {'h1': _host(bench_fleet.document(1, 2))}
    both = [assume.Assumption('h1', bench_fleet.document(1, 3)),
            assume.Assumption('h1', bench_fleet.document(1, 4))]
    with pytest.raises(assume.AssumptionError, match='both apply'):
        assume.apply(both, hosts)


def test_over_the_trait_limit_is_an_error():
    hosts = {'h1': _host(bench_fleet.document(1, 2))}
    wide = bench_fleet.document(1, 50)
    with pytest.raises(assume.AssumptionError, match='limit'):
        assume.apply([assume.Assumption('h1', wide)], hosts, max_traits=3)


def test_a_vgpu_document_that_names_no_type_of_its_own_is_refused():
    # Its accept record creates nvidia-222, its own record names no type:
    # the type the reporter would type it with is not known.
    untyped = records.loads(
        'self:\n  device_api: vfio-pci\n  vendor: nvidia\n'
        '  version: {major: 1, minor: 2}\n'
        '  vfio-pci: {vendor: 0x10de, device: 0x1eb8, subsystem_vendor: '
        '0x10de, subsystem_device: 0x12a2}\n'
        'compatible:\n  - device_api: vfio-pci\n    vendor: nvidia\n'
        '    version: {major: 1, minor: 2}\n'
        '    vfio-pci: {vendor: 0x10de, device: 0x1eb8, subsystem_vendor: '
        '0x10de, subsystem_device: 0x12a2}\n    mdev_type: nvidia-222\n',
        'untyped.yaml')
    hosts = {'h1': _host(bench_fleet.document(1, 2))}
    with pytest.raises(assume.AssumptionError) as e:
        assume.apply([assume.Assumption('h1', untyped)], hosts)
    assert '--assume h1=untyped.yaml' in str(e.value)
    assert 'names no mdev type' in str(e.value)
