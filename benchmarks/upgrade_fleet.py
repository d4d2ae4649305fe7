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

"""The simulated fleet of the rolling-upgrade benchmark: hosts, servers.

Every host has ``GPUS_PER_HOST`` mdev-capable GPUs of one GPU family
(``VGPUS_PER_GPU`` vGPUs each, of the one mdev type Nova is configured to
use on the host) and one SR-IOV NIC of one NIC family (a PF with
``VFS_PER_HOST`` VFs bound to the ``mlx5_vfio_pci`` variant driver).  A
server holds a vGPU, a VF, or one of each on the same host.  Every device
runs a driver (GPU) or firmware (NIC) branch described by a capability
document built with :func:`nova_vfio_compat.model.records.loads`; a branch
accepts older minors of its major (forward minor compatibility).  The
upgrade takes every host to its families' targets:

* ``nvidia-t4``: 1.m -> 1.5; hosts use mdev type ``nvidia-222`` or
  ``nvidia-223`` (one per host), kept by the upgrade;
* ``gvt-i915``: 1.m -> 1.4, the new driver renames the mdev type
  (``i915-GVTg_V5_4`` -> ``i915-GVTg_V6_4``) though the document's stream
  is unchanged;
* ``nvidia-a10``: 1.m -> 2.0, a major break under the same type name;
* ``mlx5-cx6dx`` VFs: firmware 28.m -> 28.43, each firmware accepting
  the four minors before its own (a window, like the bundled
  ``mlx5-vf-fw28.43`` sample);
* ``mlx5-cx7`` VFs: firmware 28.m -> 32.0, a major break.  Its VFs have
  the same PCI vendor/product IDs as the ConnectX-6 Dx ones (15b3:101e,
  only the subsystem IDs differ), as real ConnectX VFs do.
"""

import collections
import dataclasses
import random
import uuid as uuid_lib

from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records

GPUS_PER_HOST = 2
VGPUS_PER_GPU = 8
VFS_PER_HOST = 8
PF_ADDRESS = '0000:3b:00.0'
# What a server holds.
VGPU, VF, BOTH = 'vGPU', 'VF', 'vGPU+VF'
# Of every ten servers: six a vGPU, three a VF, one both.
KIND_CYCLE = (VGPU, VF, VGPU, VGPU, VF, BOTH, VGPU, VF, VGPU, VGPU)


@dataclasses.dataclass(frozen=True)
class GpuFamily:
    """An mdev-capable GPU: PCI ids, mdev types, driver branches.

    ``types``: the mdev types hosts are configured with (the first on
    most hosts); ``initial``: the minors of major 1 hosts start on;
    ``target``: the (major, minor) every host is upgraded to;
    ``renamed``: the type names the target driver gives the old ones.
    """

    name: str
    vendor: str
    pci: tuple
    types: tuple
    initial: tuple
    target: tuple
    renamed: tuple = ()

    def target_type(self, mdev_type):
        return dict(self.renamed).get(mdev_type, mdev_type)


@dataclasses.dataclass(frozen=True)
class NicFamily:
    """An SR-IOV NIC whose VFs migrate: PCI ids and firmware branches.

    ``initial``: the (major, minor) hosts start on; ``target`` the one
    every host is upgraded to; a firmware accepts the ``window`` minors
    before its own.
    """

    name: str
    pci: tuple
    initial: tuple
    target: tuple
    window: int = 4


GPU_FAMILIES = (
    GpuFamily('nvidia-t4', 'nvidia', (0x10de, 0x1eb8, 0x10de, 0x12a2),
              ('nvidia-222', 'nvidia-223'), (2, 3, 4), (1, 5)),
    GpuFamily('gvt-i915', 'i915', (0x8086, 0x591d, 0x8086, 0x0001),
              ('i915-GVTg_V5_4',), (2, 3), (1, 4),
              (('i915-GVTg_V5_4', 'i915-GVTg_V6_4'),)),
    GpuFamily('nvidia-a10', 'nvidia', (0x10de, 0x2236, 0x10de, 0x1482),
              ('nvidia-558',), (0, 1, 2), (2, 0)),
)
NIC_FAMILIES = (
    NicFamily('mlx5-cx6dx', (0x15b3, 0x101e, 0x15b3, 0x0016),
              ((28, 39), (28, 40), (28, 41), (28, 42)), (28, 43)),
    NicFamily('mlx5-cx7', (0x15b3, 0x101e, 0x15b3, 0x0021),
              ((28, 40), (28, 41), (28, 42)), (32, 0)),
)
VF_DRIVER = 'mlx5_vfio_pci'

_GPU_DOCUMENT = """device_api: vfio-pci
vendor: %(vendor)s
version: {major: %(major)d, minor: %(minor)d, minor_min: 0}
vfio-pci: {vendor: 0x%(v)04x, device: 0x%(d)04x,
           subsystem_vendor: 0x%(sv)04x, subsystem_device: 0x%(sd)04x}
mdev_type: %(mdev_type)s
"""

_NIC_DOCUMENT = """self:
  device_api: vfio-pci
  vendor: %(driver)s
  version: {major: %(major)d, minor: %(minor)d}
  vfio-pci: {vendor: 0x%(v)04x, device: 0x%(d)04x,
             subsystem_vendor: 0x%(sv)04x, subsystem_device: 0x%(sd)04x}
compatible:
  - device_api: vfio-pci
    vendor: %(driver)s
    version: {major: %(major)d, minor: %(minor)d, minor_min: %(low)d}
    vfio-pci: {vendor: 0x%(v)04x, device: 0x%(d)04x,
               subsystem_vendor: 0x%(sv)04x, subsystem_device: 0x%(sd)04x}
"""

_documents = {}


def document(family, major, minor, mdev_type):
    """A GPU driver branch's capability document (cached: shared)."""
    key = (family.name, major, minor, mdev_type)
    if key not in _documents:
        v, d, sv, sd = family.pci
        _documents[key] = records.loads(_GPU_DOCUMENT % {
            'vendor': family.vendor, 'major': major, 'minor': minor,
            'v': v, 'd': d, 'sv': sv, 'sd': sd, 'mdev_type': mdev_type},
            'upgrade benchmark %s %d.%d' % (family.name, major, minor))
    return _documents[key]


def nic_document(family, major, minor):
    """A NIC firmware's capability document for its VFs (cached)."""
    key = (family.name, major, minor)
    if key not in _documents:
        v, d, sv, sd = family.pci
        _documents[key] = records.loads(_NIC_DOCUMENT % {
            'driver': VF_DRIVER, 'major': major, 'minor': minor,
            'low': max(0, minor - family.window),
            'v': v, 'd': d, 'sv': sv, 'sd': sd},
            'upgrade benchmark %s %d.%d' % (family.name, major, minor))
    return _documents[key]


def parent_address(index):
    return '0000:%02x:00.0' % (0x81 + index)


def vf_address(index):
    device, function = divmod(index + 2, 8)
    return '0000:3b:%02x.%d' % (device, function)


@dataclasses.dataclass
class Host:
    name: str
    family: GpuFamily
    # The GPU driver branch: (major, minor, mdev type name).
    branch: tuple
    nic: NicFamily
    # The NIC firmware: (major, minor).
    firmware: tuple
    # [provider uuid of each GPU]; filled in when published.
    gpus: list
    pf: str = None
    upgraded: bool = False

    @property
    def document(self):
        return document(self.family, *self.branch)

    @property
    def nic_document(self):
        return nic_document(self.nic, *self.firmware)

    @property
    def signature(self):
        """What decides compatibility: the same for hosts alike."""
        return (self.family.name, self.branch, self.nic.name, self.firmware)

    def upgrade(self):
        major, minor = self.family.target
        self.branch = (major, minor, self.family.target_type(self.branch[2]))
        self.firmware = self.nic.target
        self.upgraded = True

    def devices(self):
        """The devices as discovery reports them."""
        gpus = [nvc_devices.Device(
            address=parent_address(i), kind=nvc_devices.KIND_MDEV_TYPE,
            mdev_type=self.branch[2], document=self.document,
            provenance=nvc_devices.SOURCE_FILE + ':%s.yaml' % self.family.name)
            for i in range(GPUS_PER_HOST)]
        vfs = [nvc_devices.Device(
            address=vf_address(i), kind=nvc_devices.KIND_PCI,
            driver=VF_DRIVER, document=self.nic_document,
            provenance=nvc_devices.SOURCE_FILE + ':%s.yaml' % self.nic.name,
            physfn=PF_ADDRESS, pci_ids=self.nic.pci,
            # mlx5: the operator made each VF's function "migratable".
            migration_enabled=True)
            for i in range(VFS_PER_HOST)]
        return gpus + vfs

    def nova_mdev_config(self):
        """The host's ``[devices] enabled_mdev_types``, as Nova reads it."""
        mdev_type = self.branch[2]
        return device_config.MdevConfig(
            enabled_types=(mdev_type,), device_addresses={mdev_type: tuple(
                parent_address(i) for i in range(GPUS_PER_HOST))})


@dataclasses.dataclass
class Server:
    name: str
    host: str
    # The GPU index of its vGPU, None when it holds none.
    gpu: int
    vf: bool = False

    @property
    def consumer(self):
        """Its Placement consumer (instance) uuid, stable by name."""
        return str(uuid_lib.uuid5(uuid_lib.NAMESPACE_URL, self.name))

    @property
    def kind(self):
        if self.gpu is None:
            return VF
        return BOTH if self.vf else VGPU


@dataclasses.dataclass
class Fleet:
    """The hosts, the servers and who uses which vGPU and VF.

    ``disabled``: the names of the hosts out of scheduling (their
    ``nova-compute`` service disabled), no destination of any migration.
    """

    hosts: dict
    servers: list
    disabled: set = dataclasses.field(default_factory=set)

    def copy(self):
        hosts = {n: dataclasses.replace(h, gpus=list(h.gpus))
                 for n, h in self.hosts.items()}
        servers = [dataclasses.replace(s) for s in self.servers]
        return Fleet(hosts, servers, set(self.disabled))

    def used(self):
        """``{(host, gpu index): vGPUs used, (host, VF): VFs used}``."""
        used = collections.Counter()
        for s in self.servers:
            if s.gpu is not None:
                used[(s.host, s.gpu)] += 1
            if s.vf:
                used[(s.host, VF)] += 1
        return used

    def by_host(self):
        out = collections.defaultdict(list)
        for s in self.servers:
            out[s.host].append(s)
        return out

    def fingerprint(self):
        """What the strategies must all start from."""
        return (tuple((h.name, h.signature)
                      for h in self.hosts.values()),
                tuple((s.name, s.host, s.gpu, s.vf) for s in self.servers))


def build_fleet(hosts, servers, seed=0):
    """``hosts`` hosts and ``servers`` servers, deterministic in ``seed``."""
    rnd = random.Random(seed)
    by_name = {}
    for i in range(1, hosts + 1):
        # Cycled, so that even a small fleet has every family; the major
        # breaks are the rarer ones.
        family = GPU_FAMILIES[(0, 1, 0, 2, 1)[i % 5]]
        nic = NIC_FAMILIES[(0, 1, 0)[i % 3]]
        # One t4 host in four is configured with the second type.
        mdev_type = family.types[1 if len(family.types) > 1 and
                                 i % 4 == 3 else 0]
        by_name['host%05d' % i] = Host(
            'host%05d' % i, family, (1, rnd.choice(family.initial),
                                     mdev_type),
            nic, rnd.choice(nic.initial), [])
    free = collections.Counter()
    for name in by_name:
        for g in range(GPUS_PER_HOST):
            free[(name, g)] = VGPUS_PER_GPU
        free[(name, VF)] = VFS_PER_HOST
    names = sorted(by_name)
    placed = []
    for i in range(1, servers + 1):
        kind = KIND_CYCLE[i % len(KIND_CYCLE)]
        fitting = [(h, g) for h in names for g in (
            range(GPUS_PER_HOST) if kind != VF else (None,))
            if (g is None or free[(h, g)]) and
            (kind == VGPU or free[(h, VF)])]
        if not fitting:
            raise ValueError('%d servers do not fit %d hosts' % (
                servers, hosts))
        host, gpu = rnd.choice(fitting)
        if gpu is not None:
            free[(host, gpu)] -= 1
        if kind != VGPU:
            free[(host, VF)] -= 1
        placed.append(Server('server%06d' % i, host, gpu, kind != VGPU))
    placed.sort(key=lambda s: (s.host, s.name))
    return Fleet(by_name, placed)


def kinds(fleet):
    """``{what a server holds: how many}``."""
    return collections.Counter(s.kind for s in fleet.servers)
