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

"""The table of VFIO migration drivers, its gate and Nova's minimums."""

import importlib.metadata
import re

from hypothesis import given
from hypothesis import strategies as st
from nova.virt.libvirt import driver as nova_libvirt
import pytest

from nova_vfio_compat.model import migration_drivers as md


def test_every_entry_says_since_when_and_where():
    for name, entry in md.DRIVERS.items():
        assert name == entry.name and re.match(r'^\d+\.\d+$', entry.since)
        assert entry.source.startswith(('Linux ', 'NVIDIA'))
        assert entry.gate is None or not entry.gate_in_sysfs


def test_the_minimums_are_novas():
    # Nova has them from 2025.1 (nova 31) on, the release that
    # live-migrates PCI devices; the oldest-versions job runs 2024.1's.
    if not hasattr(nova_libvirt, 'MIN_VFIO_PCI_VARIANT_LIBVIRT_VERSION'):
        pytest.skip('nova %s does not live-migrate PCI devices'
                    % importlib.metadata.version('nova'))
    assert md.MIN_LIBVIRT_VERSION == \
        nova_libvirt.MIN_VFIO_PCI_VARIANT_LIBVIRT_VERSION
    assert md.MIN_QEMU_VERSION == \
        nova_libvirt.MIN_VFIO_PCI_VARIANT_QEMU_VERSION


@pytest.mark.parametrize('driver', ['vfio-pci', 'nvgrace-gpu-vfio-pci',
                                    'nvgrace_gpu_vfio_pci'])
def test_drivers_without_migration_never_migrate(driver):
    assert md.refusal(driver, migration_enabled=True)


@given(st.text(min_size=1, max_size=30))
def test_only_table_drivers_migrate(driver):
    refused = md.refusal(driver, migration_enabled=True)
    assert (refused is None) == (md.known(driver) is not None)


def test_a_gate_outside_sysfs_needs_the_operator():
    assert 'migratable' in md.refusal('mlx5_vfio_pci')
    assert md.refusal('mlx5_vfio_pci', migration_enabled=True) is None
    assert md.refusal('qat_vfio_pci') is None


def test_migration_enabled_names_a_vf_its_pf_or_all():
    assert md.enabled('0000:81:00.2', '0000:81:00.0', ['0000:81:00.0'])
    assert md.enabled('0000:81:00.2', None, ['0000:81:00.2'])
    assert md.enabled('0000:81:00.2', None, ['*'])
    assert not md.enabled('0000:81:00.2', '0000:81:00.0', ['0000:82:00.0'])
    assert not md.enabled('0000:81:00.2', None, [])


VIRSH = """Compiled against library: libvirt 10.0.0
Using library: libvirt 9.0.0
Using API: QEMU 9.0.0
Running hypervisor: QEMU 8.2.1
"""


def test_virsh_version_is_read():
    assert md.virsh_versions(VIRSH) == ((9, 0, 0), (8, 2, 1))
    assert md.virsh_versions('') == (None, None)


@pytest.mark.parametrize('libvirt, qemu, named', [
    ((9, 0, 0), (8, 2, 1), ['libvirt 9.0.0', 'QEMU 8.2.1']),
    ((10, 0, 0), (8, 2, 1), ['QEMU 8.2.1']),
    ((10, 0, 0), (8, 2, 2), None),
    ((11, 1, 0), (9, 0, 0), None),
    (None, (9, 0, 0), ['unknown']),
])
def test_the_warning_names_what_is_below(libvirt, qemu, named):
    warning = md.version_warning(libvirt, qemu)
    if named is None:
        assert warning is None
    else:
        assert '10.0.0' in warning and '8.2.2' in warning
        assert all(n in warning for n in named)


def test_libvirt_integers_as_nova_reads_them():
    assert md.from_libvirt_int(10000000) == (10, 0, 0)
    assert md.from_libvirt_int(8002002) == (8, 2, 2)
