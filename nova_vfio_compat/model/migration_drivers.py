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

"""Which VFIO PCI drivers can live-migrate a device: declarative data.

Like os-traits' data modules: the table is data, and :func:`refusal` the
one rule that reads it.  A PCI device is live-migratable only where its
driver is known to implement VFIO migration (the kernel's
``VFIO_DEVICE_FEATURE_MIGRATION``): plain ``vfio-pci`` never does,
whatever a capability file or attribute says, and a variant driver is not
a migration driver by being one (``nvgrace_gpu_vfio_pci`` has none).
Where the kernel gates migration per device and does not show the state in
sysfs, the operator must say it is enabled (``[discovery]
migration_enabled``, or a device list's ``migration_enabled``).

Each entry names the first Linux release whose driver has migration and
where that is said.  Nova's own minimums for PCI live migration
(``live_migratable`` in ``[pci] device_spec``) are here too: below them
nova-compute does not start.
"""

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class MigrationDriver:
    """A VFIO variant driver that implements VFIO migration.

    ``gate`` is the per-device state that must be enabled before the
    driver offers migration, None when there is none; ``gate_in_sysfs``
    whether that state can be read from sysfs (when it cannot, the
    operator must assert it).
    """

    name: str
    since: str
    source: str
    gate: str = None
    gate_in_sysfs: bool = False


# Driver names as sysfs spells them (the module's KBUILD_MODNAME).
DRIVERS = {d.name: d for d in (
    MigrationDriver(
        'mlx5_vfio_pci', '5.18',
        'Linux drivers/vfio/pci/mlx5 (Kconfig: "This provides migration '
        'support for MLX5 devices using the VFIO framework"); NVIDIA\'s '
        'SR-IOV Live Migration guide (MLNX_OFED/DOCA) for the firmware, '
        'VF_MIGRATION_MODE and the devlink step',
        gate='devlink port function "migratable" of the VF\'s port on the '
             'PF\'s eswitch ("devlink port function set pci/<PF>/<port> '
             'migratable enable", with the VF unbound); shown by devlink, '
             'not in sysfs',
        gate_in_sysfs=False),
    MigrationDriver(
        'hisi_acc_vfio_pci', '5.19',
        'Linux drivers/vfio/pci/hisilicon/hisi_acc_vfio_pci.c (VFIO '
        'live migration of HiSilicon ACC VFs: SEC, HPRE, ZIP)'),
    MigrationDriver(
        'pds_vfio_pci', '6.6',
        'Linux drivers/vfio/pci/pds and Documentation/networking/'
        'device_drivers/ethernet/amd/pds_vfio_pci.rst (AMD/Pensando DSC '
        'VF live migration)'),
    MigrationDriver(
        'qat_vfio_pci', '6.10',
        'Linux drivers/vfio/pci/qat (Kconfig: "This provides migration '
        'support for Intel(R) QAT Virtual Function using the VFIO '
        'framework"; QAT GEN4 VFs)'),
    MigrationDriver(
        'virtio_vfio_pci', '6.11',
        'Linux drivers/vfio/pci/virtio/migrate.c (Kconfig: migration '
        'support for VIRTIO NET VFs through the PF\'s admin queue)',
        gate='the PF supports the VIRTIO admin-queue migration commands; '
             'not shown in sysfs',
        gate_in_sysfs=False),
)}

# Drivers that bind VFIO devices but implement no migration.
NO_MIGRATION = {
    'vfio-pci': 'plain vfio-pci implements no VFIO migration; only a '
                'variant driver with migration support does',
    'nvgrace_gpu_vfio_pci': 'nvgrace-gpu-vfio-pci (NVIDIA Grace Hopper GPU) '
                            'implements no VFIO migration',
}

# nova/virt/libvirt/driver.py MIN_VFIO_PCI_VARIANT_LIBVIRT_VERSION and
# MIN_VFIO_PCI_VARIANT_QEMU_VERSION: with a live_migratable device_spec,
# init_host raises InvalidConfiguration below them.
MIN_LIBVIRT_VERSION = (10, 0, 0)
MIN_QEMU_VERSION = (8, 2, 2)


def _key(driver):
    return (driver or '').replace('-', '_')


def known(driver):
    """The :class:`MigrationDriver` of ``driver``, or None."""
    return DRIVERS.get(_key(driver))


def refusal(driver, migration_enabled=False):
    """Why a PCI device bound to ``driver`` cannot live-migrate, or None.

    :param migration_enabled: the operator says the driver's per-device
        gate is enabled on the device.
    """
    if driver == 'vfio-pci' or _key(driver) in NO_MIGRATION:
        return NO_MIGRATION.get(driver) or NO_MIGRATION[_key(driver)]
    entry = known(driver)
    if entry is None:
        return ('%s is not a known VFIO migration driver (%s)' % (
            driver, ', '.join(sorted(DRIVERS))))
    if entry.gate and not entry.gate_in_sysfs and not migration_enabled:
        return ('%s migrates a device only once %s; the operator must say '
                'it is enabled ([discovery] migration_enabled)'
                % (entry.name, entry.gate))
    return None


def enabled(address, physfn, listed):
    """Does ``[discovery] migration_enabled`` (``listed``) name a device?

    By its address, its PF's address, or ``*`` for every device.
    """
    listed = {a.lower() for a in listed or ()}
    return '*' in listed or bool(
        {a.lower() for a in (address, physfn) if a} & listed)


_VERSION_RE = re.compile(r'(\d+)\.(\d+)(?:\.(\d+))?')


def parse_version(text):
    """``(major, minor, micro)`` of a version string, or None."""
    match = _VERSION_RE.search(text or '')
    if match is None:
        return None
    return tuple(int(g or 0) for g in match.groups())


def from_libvirt_int(value):
    """A libvirt integer version as a tuple.

    ``major * 1000000 + minor * 1000 + micro``, as ``getLibVersion`` and
    ``getVersion`` return it and Nova compares it.
    """
    return (value // 1000000, value // 1000 % 1000, value % 1000)


def virsh_versions(text):
    """``(libvirt, qemu)`` versions from ``virsh version`` output.

    ``Using library: libvirt X`` and ``Running hypervisor: QEMU Y``;
    either is None when missing.
    """
    libvirt = qemu = None
    for line in (text or '').splitlines():
        if line.strip().lower().startswith('using library:'):
            libvirt = parse_version(line)
        elif line.strip().lower().startswith('running hypervisor:'):
            if 'qemu' in line.lower():
                qemu = parse_version(line)
    return libvirt, qemu


def version_warning(libvirt, qemu):
    """A warning when Nova would refuse ``live_migratable``, else None.

    ``libvirt``/``qemu`` are version tuples, None when unknown (a warning
    then says what to check).
    """
    def text(version):
        return '.'.join(str(v) for v in version)
    need = ('Nova\'s PCI live migration ([pci] device_spec '
            'live_migratable) needs libvirt >= %s and QEMU >= %s: below '
            'them nova-compute does not start (InvalidConfiguration)'
            % (text(MIN_LIBVIRT_VERSION), text(MIN_QEMU_VERSION)))
    if libvirt is None or qemu is None:
        return ('%s; this host\'s versions are unknown (give --virsh-version '
                'with the output of "virsh version"), check them' % need)
    below = []
    if libvirt < MIN_LIBVIRT_VERSION:
        below.append('libvirt %s' % text(libvirt))
    if qemu < MIN_QEMU_VERSION:
        below.append('QEMU %s' % text(qemu))
    if below:
        return '%s; this host has %s' % (need, ' and '.join(below))
    return None
