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

import hypothesis
from hypothesis import strategies as st
import pytest

from nova_vfio_compat.host.discovery import derived
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules

IDS = (0x15b3, 0x101e, 0x15b3, 0x0016)


def doc(**kwargs):
    args = dict(driver='mlx5_vfio_pci', pci_ids=IDS)
    args.update(kwargs)
    return derived.derived_document(**args)


def compatible(a, b):
    return rules.check(a, b).compatible


def test_a_pci_function():
    assert doc(driver_version='1.0') == records.parse_document({
        'device_api': 'vfio-pci', 'vendor': 'mlx5_vfio_pci',
        'version': {'major': 0, 'minor': 0},
        'vfio-pci': {'vendor': 0x15b3, 'device': 0x101e,
                     'subsystem_vendor': 0x15b3, 'subsystem_device': 0x16,
                     'driver_version': '1.0'}})


def test_an_mdev_type():
    d = doc(driver='nvidia', driver_version='550.54.14',
            mdev_type='nvidia-222')
    assert d.emits.mdev_type == 'nvidia-222'
    assert dict(d.emits.bus).get('mdev_type') == 'nvidia-222'
    assert dict(d.emits.bus).get('driver_version') == '550.54.14'


def test_only_an_identical_device_on_an_identical_driver_matches():
    base = doc(driver_version='1.0')
    assert compatible(base, doc(driver_version='1.0'))
    assert not compatible(base, doc(driver_version='1.1'))
    assert not compatible(doc(driver_version='1.1'), base)
    assert not compatible(base, doc(driver_version='1.0', driver='vfio-pci'))
    assert not compatible(base, doc(driver_version='1.0',
                                    pci_ids=IDS[:3] + (0x17,)))
    assert not compatible(doc(driver_version='1', mdev_type='a'),
                          doc(driver_version='1', mdev_type='b'))


def test_without_a_driver_version_the_kernel_release_stands_in():
    a = doc(kernel_release='6.1.0-18-amd64')
    assert dict(a.emits.bus).get('kernel_release') == '6.1.0-18-amd64'
    assert dict(a.emits.bus).get('driver_version') is None
    assert compatible(a, doc(kernel_release='6.1.0-18-amd64'))
    assert not compatible(a, doc(kernel_release='6.1.0-20-amd64'))
    # A module version, when there is one, is what counts.
    both = doc(driver_version='2', kernel_release='x')
    assert dict(both.emits.bus).get('kernel_release') is None


@pytest.mark.parametrize('kwargs,reason', [
    (dict(driver=None, driver_version='1'), 'no driver'),
    (dict(pci_ids=(), driver_version='1'), 'PCI IDs'),
    (dict(device_api=None, driver_version='1'), 'device API'),
    (dict(), 'neither the driver version nor the kernel release'),
])
def test_cannot_derive(kwargs, reason):
    with pytest.raises(derived.CannotDerive) as e:
        doc(**kwargs)
    assert reason in str(e.value)


def test_illegal_facts_are_invalid_documents():
    with pytest.raises(records.InvalidDocument):
        doc(driver_version='1\x07')


_FACTS = st.fixed_dictionaries({
    'driver': st.sampled_from(['vfio-pci', 'mlx5_vfio_pci', 'nvidia']),
    'pci_ids': st.tuples(st.sampled_from([0x15b3, 0x10de]),
                         st.sampled_from([0x101e, 0x1eb8]),
                         st.just(0x15b3), st.sampled_from([0x16, 0x17])),
    'driver_version': st.sampled_from([None, '1.0', '1.0.1', '2']),
    'kernel_release': st.sampled_from(['6.1.0-18', '6.1.0-20']),
    'mdev_type': st.sampled_from([None, 'nvidia-222', 'nvidia-230']),
})


def _effective(facts):
    # What a derived record is allowed to depend on: the kernel only
    # counts when the driver has no version of its own.
    facts = dict(facts)
    if facts['driver_version']:
        facts['kernel_release'] = None
    return facts


@hypothesis.given(_FACTS, _FACTS)
def test_derived_records_match_only_identical_facts(a, b):
    assert compatible(doc(**a), doc(**b)) is (_effective(a) == _effective(b))
