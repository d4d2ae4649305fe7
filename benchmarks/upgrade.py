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

"""A rolling driver upgrade across a simulated fleet, three strategies.

The fleet: every host has ``GPUS_PER_HOST`` mdev-capable GPUs of one GPU
family (``VGPUS_PER_GPU`` vGPUs each, of the one mdev type Nova is
configured to use on the host) and one SR-IOV NIC of one NIC family (a PF
with ``VFS_PER_HOST`` VFs bound to the ``mlx5_vfio_pci`` variant driver).
A server holds a vGPU, a VF, or one of each on the same host.  Every
device runs a driver (GPU) or firmware (NIC) branch described by a
capability document built with :func:`nova_vfio_compat.records.loads`;
a branch accepts older minors of its major (forward minor
compatibility).  The upgrade takes every host to its families' targets:

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

The ground truth of whether a migration works (:func:`compatible`) is
Nova's: ``rules.check`` of the source device's document against the
destination's, for each device the server holds, and for a vGPU also the
same mdev type (Nova's libvirt driver creates the destination mdev of the
source's type only; ``check_can_live_migrate_destination`` refuses a type
the destination does not use).

Hosts are upgraded in waves: every server of a host in the wave is
live-migrated to a host outside the wave first; a host with a server left
on it (stranded) is not upgraded.  For each migration the destinations
with the free devices the server needs come in one order, the same for
every strategy (a seeded shuffle per wave and server), as Nova's
allocation candidates would: any GPU with a free vGPU, any host with a
free VF of the same PCI vendor/product (Nova's PCI request).  A strategy
picks a destination or refuses; a pick the ground truth refuses is a
migration failed at the destination, retried on the next host up to
``MAX_ATTEMPTS`` times.

Strategies:

* :class:`NovaNative`: what Nova checks itself: a vGPU goes to a GPU with
  the same mdev type name; a VF to a VF that is ``live_migratable`` with
  the same PCI vendor/product (every VF here is);
* :class:`TryAndSee`: any destination with the free devices;
* :class:`Project`: the real :class:`VFIOCompatFilter` (through Nova's
  ``filter_all``) over what the real reporter code published in a real
  Placement (the in-process fixture of :mod:`benchmarks.placement`): the
  mdev parents' and compute nodes' traits by ``Reporter.sync`` of the
  devices ``publication.decide`` publishes under the host's Nova mdev
  configuration, the PF providers' traits and resource class by Nova's own
  PCI-in-Placement translation of the ``[pci] device_spec`` the reporter
  generates (``nova_config.pci_device_specs``).  A host is republished
  when it is upgraded.
* :class:`IgnoresAcceptTraits`: the project's filter made to pass every
  host whatever the accept traits say, a deliberately broken strategy the
  invariants must catch.
* :class:`RulesOracle`: the first destination the ground truth accepts;
  what the project's strategy must match, and a fast stand-in to compare
  upgrade orders with.

The filter is told which live migration is scheduled through its
``live_migration`` argument (no Nova database); its Placement reads go
through its ``placement_get`` argument, a :class:`WaveReads`: Nova's
report client with a cache of the reads that do not depend on
allocations (trait sets, provider trees, the providers accepting a
stream), emptied whenever the reporter or the PF translation writes
traits (a host's upgrade).  The filter's decision code is unchanged; only
repeated identical reads within a wave are answered from memory.  The
server's own consumer holds the allocation the filter reads (the
conductor would have moved it to the migration's consumer: the same
answer); the moves of a wave are written to Placement in one
``POST /allocations`` at the end of the wave (a server moved in a wave is
not read again before then: its new host is outside the wave).
"""

import collections
import dataclasses
import random
import time
import uuid as uuid_lib

from nova.compute import pci_placement_translator as nova_pci
from nova.scheduler.client import report
from nova.scheduler import host_manager
import os_traits

from benchmarks import scenarios
from nova_vfio_compat import devices as nvc_devices
from nova_vfio_compat import nova_devices
from nova_vfio_compat import placement_get
from nova_vfio_compat import placement_http
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning import order as nvc_order
from nova_vfio_compat import publication
from nova_vfio_compat import records
from nova_vfio_compat.reporter import nova_config
from nova_vfio_compat.reporter import plan as nvc_plan
from nova_vfio_compat.reporter import sync
from nova_vfio_compat import rules
from nova_vfio_compat.scheduler import vfio_compat_filter
from nova_vfio_compat import traits as nvc_traits

GPUS_PER_HOST = 2
VGPUS_PER_GPU = 8
VFS_PER_HOST = 8
MAX_ATTEMPTS = 3
PROVIDERS_MICROVERSION = '1.20'
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
# Backwards compatible name: the GPU families.
FAMILIES = GPU_FAMILIES
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
        return nova_devices.MdevConfig(
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
    """The hosts, the servers and who uses which vGPU and VF."""

    hosts: dict
    servers: list

    def copy(self):
        hosts = {n: dataclasses.replace(h, gpus=list(h.gpus))
                 for n, h in self.hosts.items()}
        servers = [dataclasses.replace(s) for s in self.servers]
        return Fleet(hosts, servers)

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


# The ground truth -----------------------------------------------------------

_verdicts = {}


def _rules(source, dest):
    key = (id(source), id(dest))
    if key not in _verdicts:
        _verdicts[key] = rules.check(source, dest).compatible
    return _verdicts[key]


def gpu_compatible(source, dest):
    """Can a vGPU of host ``source`` live-migrate onto host ``dest``?

    The rules, and Nova's: the same mdev type.
    """
    return (source.branch[2] == dest.branch[2] and
            _rules(source.document, dest.document))


def vf_compatible(source, dest):
    """Can a VF of host ``source`` live-migrate onto a VF of ``dest``?

    The rules, and Nova's PCI request: the same vendor/product IDs.
    """
    return (source.nic.pci[:2] == dest.nic.pci[:2] and
            _rules(source.nic_document, dest.nic_document))


def failing_devices(fleet, server, host):
    """The device kinds of ``server`` that cannot move to ``host``."""
    source, dest = fleet.hosts[server.host], fleet.hosts[host]
    out = []
    if server.gpu is not None and not gpu_compatible(source, dest):
        out.append(VGPU)
    if server.vf and not vf_compatible(source, dest):
        out.append(VF)
    return out


def compatible(fleet, server, host):
    return not failing_devices(fleet, server, host)


# Strategies ---------------------------------------------------------------

class NovaNative:
    """Nova today: the same mdev type name, or the same VF IDs.

    A VF goes to a ``live_migratable`` VF with the same PCI
    vendor/product.
    """

    name = 'Nova-native (same mdev type / live_migratable)'
    retries = True

    def choose(self, fleet, server, options):
        source = fleet.hosts[server.host]
        for host, gpu in options:
            dest = fleet.hosts[host]
            if server.gpu is not None and dest.branch[2] != source.branch[2]:
                continue
            if server.vf and dest.nic.pci[:2] != source.nic.pci[:2]:
                continue
            return host, gpu
        return None


class TryAndSee:
    """Any destination with the free devices; the migration says."""

    name = 'try and see'
    retries = True

    def choose(self, fleet, server, options):
        return options[0] if options else None


class RulesOracle:
    """The first destination the ground truth accepts."""

    name = 'rules (oracle)'
    retries = False

    def choose(self, fleet, server, options):
        for host, gpu in options:
            if compatible(fleet, server, host):
                return host, gpu
        return None


class _Ignoring(vfio_compat_filter.VFIOCompatFilter):
    """The filter, reading all it reads, then passing every host."""

    def check_request(self, spec_obj):
        check = super().check_request(spec_obj)
        return vfio_compat_filter.RequestCheck(check.instance_uuid)


class WaveReads:
    """The filter's ``placement_get``: Nova's report client, cached.

    Answers that do not depend on allocations (a provider's traits, a
    tree's providers, which trait names exist, which providers carry
    accept traits) are kept until :meth:`clear`; ``/allocations/...`` is
    always read.  ``cache=False`` reads everything, for the test that the
    cache changes no decision.  ``asked`` counts the reads the filter
    made, ``calls`` those that reached Placement.
    """

    def __init__(self, cache=True):
        self.cache = cache
        self._answers = {}
        self.asked = 0
        self.calls = 0

    def clear(self):
        self._answers.clear()

    def get(self, url, version):
        self.asked += 1
        key = (url, version)
        if self.cache and key in self._answers:
            return self._answers[key]
        self.calls += 1
        client = report.report_client_singleton()
        body = placement_get.Reader.over_responses(
            lambda u, v: client.get(u, version=v),
            placement_http.CLIENT_ERRORS)(url, version)
        if self.cache and not url.startswith('/allocations/'):
            self._answers[key] = body
        return body


class Project:
    """The real filter, over what the real reporter put in Placement."""

    name = 'nova-vfio-compat'
    retries = False
    filter_class = vfio_compat_filter.VFIOCompatFilter

    def __init__(self, placement, cache=True):
        self.placement = placement
        self._pl = placement.sdk.placement
        self.roots = {}
        self.reads = WaveReads(cache)
        self.writes = 0
        self._moved = {}
        self._states = {}
        self._owner = None
        self.rc = {}

    @property
    def calls(self):
        return self.reads.calls

    def _post(self, url, body):
        self.writes += 1
        return scenarios.post(self._pl, url, body, PROVIDERS_MICROVERSION)

    def _put(self, url, body, version):
        self.writes += 1
        return scenarios.put(self._pl, url, body, version)

    def publish(self, fleet):
        """Lay the fleet out as nova-compute does; run the reporter."""
        for host in fleet.hosts.values():
            if host.name in self.roots:
                continue
            root = self._post('/resource_providers', {'name': host.name})
            self.roots[host.name] = root['uuid']
            host.gpus = []
            for i in range(GPUS_PER_HOST):
                gpu = self._post('/resource_providers', {
                    'name': nvc_plan.mdev_parent_provider_name(
                        host.name, parent_address(i)),
                    'parent_provider_uuid': root['uuid']})
                self._put('/resource_providers/%s/inventories' % gpu['uuid'],
                          {'inventories': {'VGPU': {
                              'total': VGPUS_PER_GPU}},
                           'resource_provider_generation':
                               gpu['generation']}, '1.6')
                host.gpus.append(gpu['uuid'])
            # Nova's PCI provider of the PF (the VFs are counted on it).
            pf = self._post('/resource_providers', {
                'name': '%s_%s' % (host.name, PF_ADDRESS.upper()),
                'parent_provider_uuid': root['uuid']})
            host.pf = pf['uuid']
            self.sync(host)
            self.states(host)
        self.place(fleet)

    def sync(self, host):
        """What the reporter and nova-compute publish for ``host``."""
        self.reads.clear()
        outcome = publication.decide(
            host.devices(), mdev_config=host.nova_mdev_config())
        published = outcome.published
        result = sync.Reporter(self.placement.sdk, host.name).sync(published)
        if not result.ok:
            raise RuntimeError('reporter failed on %s: %s'
                               % (host.name, result.errors))
        specs, errors = nova_config.pci_device_specs(published)
        if errors or len({(s['resource_class'], s.get('traits'))
                          for s in specs}) != 1:
            raise RuntimeError('the VFs of %s have no one device_spec: %s'
                               % (host.name, errors or specs))
        self._translate_pf(host, specs[0])

    def _translate_pf(self, host, spec):
        """Nova's PCI-in-Placement view of the PF from its device_spec."""
        v, d = host.nic.pci[:2]
        rc = nova_pci.get_resource_class(
            spec['resource_class'], '%04x' % v, '%04x' % d)
        # What nova's _get_traits_for_dev() makes of the tags, through
        # its public get_traits(): the benchmarks use public names only.
        traits = nova_pci.get_traits(spec.get('traits', ''))
        traits.add(os_traits.COMPUTE_MANAGED_PCI_DEVICE)
        if spec.get('live_migratable') == 'yes':
            traits.add(os_traits.HW_PCI_LIVE_MIGRATABLE)
        traits = sorted(traits)
        current = self._pl.get('/resource_providers/%s' % host.pf,
                               microversion='1.14').json()
        generation = current['generation']
        if self.rc.get(host.name) != rc:
            # Only ever on an empty host (the upgraded ones are).
            generation = self._put(
                '/resource_providers/%s/inventories' % host.pf,
                {'inventories': {rc: {'total': VFS_PER_HOST}},
                 'resource_provider_generation': generation},
                '1.6')['resource_provider_generation']
            self.rc[host.name] = rc
        self._put('/resource_providers/%s/traits' % host.pf,
                  {'traits': traits,
                   'resource_provider_generation': generation}, '1.6')

    def upgraded(self, hosts):
        for host in hosts:
            self.sync(host)

    def states(self, host):
        """Nova's HostState of ``host`` (one per host, reused)."""
        state = self._states.get(host.name)
        if state is None:
            state = host_manager.HostState(host.name, host.name, 'cell1')
            state.uuid = self.roots[host.name]
            self._states[host.name] = state
        return state

    def _allocation(self, fleet, server):
        host = fleet.hosts[server.host]
        out = {}
        if server.gpu is not None:
            out[host.gpus[server.gpu]] = {'resources': {'VGPU': 1}}
        if server.vf:
            out[host.pf] = {'resources': {self.rc[host.name]: 1}}
        return out

    def place(self, fleet):
        """The servers' allocations, in one request."""
        project, user = str(uuid_lib.uuid4()), str(uuid_lib.uuid4())
        body = {server.consumer: {
            'allocations': self._allocation(fleet, server),
            'project_id': project, 'user_id': user,
            'consumer_generation': None} for server in fleet.servers}
        self.writes += 1
        resp = self._pl.post('/allocations', json=body, microversion='1.28')
        if resp.status_code != 204:
            raise RuntimeError('cannot allocate the servers: %s %s'
                               % (resp.status_code, resp.text))
        self._owner = (project, user)

    def moved(self, fleet, server):
        """Note the server's new allocation; written by :meth:`flush`."""
        self._moved[server.consumer] = {
            'allocations': self._allocation(fleet, server),
            'project_id': self._owner[0], 'user_id': self._owner[1]}

    def flush(self):
        """The wave's moves, in one request (before any is read again)."""
        if not self._moved:
            return
        self.writes += 1
        resp = self._pl.post('/allocations', json=self._moved,
                             microversion='1.27')
        if resp.status_code != 204:
            raise RuntimeError('cannot move the allocations: %s %s'
                               % (resp.status_code, resp.text))
        self._moved = {}

    def choose(self, fleet, server, options):
        source = fleet.hosts[server.host]
        # The conductor moves the server's allocation to the migration
        # consumer before it calls the scheduler; the filter reads that
        # consumer's allocations.  Here the server's own consumer holds
        # them (same answer, two Placement writes fewer per migration).
        migration = vfio_compat_filter.LiveMigration(
            server.consumer, source.name, self.roots[source.name])
        states = []
        candidates = {}
        for host, gpu in options:
            dest = fleet.hosts[host]
            if host not in candidates:
                candidates[host] = []
                states.append(self.states(dest))
            allocations = {}
            if gpu is not None:
                allocations[dest.gpus[gpu]] = {'resources': {'VGPU': 1}}
            if server.vf:
                allocations[dest.pf] = {
                    'resources': {self.rc[host]: 1}}
            candidates[host].append({
                'allocations': allocations,
                'mappings': {'': [self.roots[host]] + list(allocations)}})
        for state in states:
            state.allocation_candidates = candidates[state.host]
        flt = self.filter_class(live_migration=lambda spec: migration,
                                placement_get=self.reads.get)
        passed = list(flt.filter_all(states, scenarios.request_spec(
            source.name)))
        if not passed:
            return None
        state = passed[0]
        chosen = state.allocation_candidates[0]['allocations']
        dest = fleet.hosts[state.host]
        gpu = next((dest.gpus.index(p) for p in chosen if p in dest.gpus),
                   None)
        return state.host, gpu


class IgnoresAcceptTraits(Project):
    """Broken on purpose: the filter passes every host it is shown."""

    name = 'broken: filter ignoring accept traits'
    filter_class = _Ignoring


# The simulation -------------------------------------------------------------

@dataclasses.dataclass
class Result:
    strategy: str
    fingerprint: tuple
    sequence: list = dataclasses.field(default_factory=list)
    migrations: int = 0
    failed: int = 0
    # Failed migrations by the device that failed them: vGPU, VF.
    failed_by_device: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    needlessly_refused: int = 0
    stranded: int = 0
    hosts_not_upgraded: int = 0
    placement_calls: int = 0
    # The project's: the reads the filter asked for (before the wave
    # cache), and the harness's writes (publishing, moves, upgrades).
    placement_reads_asked: int = 0
    placement_writes: int = 0
    seconds: float = 0.0
    wall_seconds: float = 0.0
    failed_per_wave: list = dataclasses.field(default_factory=list)
    # (server, source host, destination host) the rules refused.
    refused_by_rules: list = dataclasses.field(default_factory=list)
    # (server, destination host or None) per decision, in order.
    decisions: list = dataclasses.field(default_factory=list)


def _options(fleet, used, wave, server, rnd):
    """Destinations with the free devices ``server`` needs, Nova's order.

    ``(host, gpu index)``, the index None for a server with no vGPU.
    """
    hosts = [h for h in fleet.hosts if h not in wave]
    rnd.shuffle(hosts)
    if server.vf:
        hosts = [h for h in hosts if used[(h, VF)] < VFS_PER_HOST]
    if server.gpu is None:
        return [(h, None) for h in hosts]
    return [(h, g) for h in hosts for g in range(GPUS_PER_HOST)
            if used[(h, g)] < VGPUS_PER_GPU]


def naive_waves(fleet, wave_size):
    """Hosts in name order, ``wave_size`` at a time."""
    names = sorted(fleet.hosts)
    return [names[i:i + wave_size] for i in range(0, len(names), wave_size)]


def run(fleet, strategy, waves, seed=0):
    """Upgrade ``fleet`` (a copy of it) wave by wave with ``strategy``.

    ``waves``: a list of host-name lists, or a function of the fleet (as
    upgraded so far) that returns the next wave, or None when done.
    """
    started = time.perf_counter()
    fleet = fleet.copy()
    result = Result(strategy.name, fleet.fingerprint())
    if isinstance(strategy, Project):
        strategy.publish(fleet)
    used = fleet.used()
    index = 0
    while True:
        if callable(waves):
            wave = waves(fleet)
        else:
            wave = waves[index] if index < len(waves) else None
        if not wave:
            break
        index += 1
        result.sequence.append(tuple(wave))
        wave_set = frozenset(wave)
        failed_before = result.failed
        on_host = fleet.by_host()
        for name in wave:
            for server in on_host.get(name, ()):
                result.migrations += 1
                rnd = random.Random('%s/%d/%s' % (seed, index, server.name))
                options = _options(fleet, used, wave_set, server, rnd)
                if not _migrate(fleet, used, server, options, strategy,
                                result):
                    result.stranded += 1
                    if any(compatible(fleet, server, h) for h, _ in options):
                        result.needlessly_refused += 1
        if hasattr(strategy, 'flush'):
            strategy.flush()
        on_host = fleet.by_host()
        upgraded = []
        for name in wave:
            if on_host.get(name):
                result.hosts_not_upgraded += 1
                continue
            fleet.hosts[name].upgrade()
            upgraded.append(fleet.hosts[name])
        if hasattr(strategy, 'upgraded'):
            strategy.upgraded(upgraded)
        result.failed_per_wave.append(result.failed - failed_before)
    if isinstance(strategy, Project):
        result.placement_calls = strategy.reads.calls
        result.placement_reads_asked = strategy.reads.asked
        result.placement_writes = strategy.writes
    result.wall_seconds = time.perf_counter() - started
    return result


def _migrate(fleet, used, server, options, strategy, result):
    """Try to move ``server``; True when it moved."""
    options = list(options)
    for _attempt in range(MAX_ATTEMPTS):
        started = time.perf_counter()
        choice = strategy.choose(fleet, server, options)
        result.seconds += time.perf_counter() - started
        result.decisions.append((server.name, choice and choice[0]))
        if choice is None:
            return False
        host, gpu = choice
        failing = failing_devices(fleet, server, host)
        if failing:
            result.failed += 1
            result.failed_by_device.update(failing)
            result.refused_by_rules.append(
                (server.name, server.host, host))
            if not strategy.retries:
                return False
            options = [o for o in options if o[0] != host]
            continue
        if server.gpu is not None:
            used[(server.host, server.gpu)] -= 1
            used[(host, gpu)] += 1
        if server.vf:
            used[(server.host, VF)] -= 1
            used[(host, VF)] += 1
        server.host, server.gpu = host, gpu
        if hasattr(strategy, 'moved'):
            strategy.moved(fleet, server)
        return True
    return False


# The pre-flight's order -----------------------------------------------------

_traits_cache = {}


def _device_traits(host):
    """``{device: traits}`` as the reporter publishes them, by branch.

    The planning commands read these from Placement; here they are
    computed by the same code (cached per branch: hosts alike share them).
    """
    key = host.signature
    if key not in _traits_cache:
        published = publication.decide(
            host.devices(), mdev_config=host.nova_mdev_config()).published
        gpu = next(d for d in published
                   if d.kind == nvc_devices.KIND_MDEV_TYPE)
        vf = next(d for d in published if d.kind == nvc_devices.KIND_PCI)
        _traits_cache[key] = {VGPU: gpu.traits, VF: vf.traits}
    return _traits_cache[key]


def _assumed(host):
    """The host as its upgrade will leave it (``--assume``)."""
    after = dataclasses.replace(host)
    after.upgrade()
    return after


def order_view(fleet):
    """The pre-flight's input, from the fleet as it is now.

    The providers of every host as published, as assumed after their
    upgrade, and what each server holds.

    :returns: ``(providers, assumed, servers)`` for
        :func:`nova_vfio_compat.planning.order.upgrade_order`.
    """
    providers, assumed = [], {}
    for host in fleet.hosts.values():
        now = _device_traits(host)
        after = _device_traits(_assumed(host)) if not host.upgraded else now
        for kind in (VGPU, VF):
            uuid = '%s/%s' % (host.name, kind)
            providers.append(compatibility.Provider(uuid, uuid, host.name,
                                                    now[kind]))
            if not host.upgraded:
                assumed[uuid] = after[kind]
    servers = collections.defaultdict(list)
    for s in fleet.servers:
        servers[s.host].append(tuple(
            '%s/%s' % (s.host, kind) for kind in (VGPU, VF)
            if (kind == VGPU and s.gpu is not None) or (kind == VF and
                                                        s.vf)))
    return providers, assumed, dict(servers)


def preflight_waves(wave_size):
    """The next wave as the project's pre-flight orders it.

    :func:`nova_vfio_compat.planning.order.upgrade_order` over the trait
    sets the reporter publishes now and the traits each host not upgraded
    yet will publish after its upgrade (``--assume``), among the hosts not
    tried yet; :func:`nova_vfio_compat.planning.order.spread_wave` takes
    ``wave_size`` of them, the kinds of hosts mixed.
    """
    tried = set()

    def next_wave(fleet):
        left = [h for h in fleet.hosts
                if not fleet.hosts[h].upgraded and h not in tried]
        if not left:
            return None
        providers, assumed, servers = order_view(fleet)
        ranked = nvc_order.upgrade_order(providers, assumed, servers,
                                         candidates=left)
        wave = nvc_order.spread_wave(providers, ranked, wave_size)
        tried.update(wave)
        return wave
    return next_wave


def drain_waves(wave_size):
    """The previous pre-flight order, kept to compare with.

    Among the hosts not upgraded yet, the ones whose servers all have a
    destination in :func:`nova_vfio_compat.planning.drain.plan` (the rest
    of the wave excluded) go first, in name order; then the others.
    """
    tried = set()

    def next_wave(fleet):
        left = [h for h in sorted(fleet.hosts)
                if not fleet.hosts[h].upgraded and h not in tried]
        if not left:
            return None
        used = fleet.used()
        on_host = fleet.by_host()
        wave = []
        for name in left:
            if len(wave) == wave_size:
                break
            if _drain_plan_complete(fleet, used, on_host, name, wave):
                wave.append(name)
        for name in left:
            if len(wave) == wave_size:
                break
            if name not in wave:
                wave.append(name)
        tried.update(wave)
        return wave
    return next_wave


def _drain_plan_complete(fleet, used, on_host, name, wave):
    """Do all the servers of ``name`` have a destination in a drain plan?

    The rest of the wave is excluded, the capacity is that free now.  A
    host's vGPUs are counted as one pool (a server may take either
    GPU); hosts alike are tested for compatibility once.
    """
    host = fleet.hosts[name]
    servers = on_host.get(name, ())
    if not servers:
        return True
    excluded = set(wave) | {name}
    mine = _device_traits(host)
    streams = {kind: nvc_traits.emitted(mine[kind]) for kind in (VGPU, VF)}
    accepts = {}
    free = {}
    for other in fleet.hosts.values():
        if other.name in excluded:
            continue
        free[('%s/%s' % (other.name, VGPU), VGPU)] = sum(
            VGPUS_PER_GPU - used[(other.name, g)]
            for g in range(GPUS_PER_HOST))
        free[('%s/%s' % (other.name, VF), VF)] = (
            VFS_PER_HOST - used[(other.name, VF)])
        if other.signature not in accepts:
            theirs = _device_traits(other)
            accepts[other.signature] = {
                kind: compatibility.accepts(theirs[kind], streams[kind])
                for kind in (VGPU, VF)}
    plan_servers, options = [], {}
    for s in servers:
        kinds = [k for k, held in ((VGPU, s.gpu is not None), (VF, s.vf))
                 if held]
        server = nvc_drain.Server(s.name, tuple(
            nvc_drain.Device('%s/%s' % (name, k), None, ((k, 1),),
                             streams[k]) for k in kinds))
        plan_servers.append(server)
        options[s.name] = [
            nvc_drain.Option(other.name, tuple(
                '%s/%s' % (other.name, k) for k in kinds))
            for other in fleet.hosts.values()
            if other.name not in excluded and all(
                accepts[other.signature][k] for k in kinds) and all(
                free[('%s/%s' % (other.name, k), k)] > 0 for k in kinds)]
    return nvc_drain.plan(plan_servers, options, free).complete


def with_placement(placement, work):
    """Run ``work()`` with Nova's report client pointed at ``placement``."""
    previous = report.PLACEMENTCLIENT
    report.PLACEMENTCLIENT = report.SchedulerReportClient(
        adapter=placement.nova_adapter())
    try:
        return work()
    finally:
        report.PLACEMENTCLIENT = previous


# Running and checking -------------------------------------------------------

SMALL = {'hosts': 20, 'servers': 150, 'wave_size': 2}
# Where CI checks the pre-flight order against host-name order (with the
# rules as the strategy: seconds).
ORDER_CHECK = {'hosts': 200, 'servers': 2000, 'wave_size': 10}
# The previous order's drain plans grow with the square of the fleet.
DRAIN_ORDER_MAX_HOSTS = 300
DEFAULT = {'hosts': 1000, 'servers': 10000, 'wave_size': 50}


class InvariantError(AssertionError):
    """The simulation's results break a claim it rests on."""


def run_strategy(make, fleet, waves, seed=0, **kwargs):
    """Run one strategy class on ``fleet``.

    The project's strategies get a Placement of their own.
    """
    if not issubclass(make, Project):
        return run(fleet, make(), waves, seed)
    from nova_vfio_compat.demo import local_placement
    placement = local_placement.in_process()
    try:
        return with_placement(placement, lambda: run(
            fleet, make(placement, **kwargs), waves, seed))
    finally:
        placement.close()


def simulate(hosts, servers, wave_size, seed=0,
             strategies=(NovaNative, TryAndSee, Project)):
    """The fleet and one :class:`Result` per strategy, naive order."""
    fleet = build_fleet(hosts, servers, seed)
    waves = naive_waves(fleet, wave_size)
    return fleet, [run_strategy(make, fleet, waves, seed)
                   for make in strategies]


def preflight_order(fleet, wave_size, seed=0, strategy=Project):
    """A strategy with the waves the pre-flight orders."""
    return run_strategy(strategy, fleet, preflight_waves(wave_size), seed)


def kinds(fleet):
    """``{what a server holds: how many}``."""
    return collections.Counter(s.kind for s in fleet.servers)


def check_invariants(fleet, results, project=(Project,), oracle=None):
    """Raise :class:`InvariantError` unless the claims hold.

    Every strategy started from ``fleet`` and saw the same waves; a
    strategy of a class in ``project`` (the one that claims to be the
    project's) failed no migration and refused none needlessly, and, when
    ``oracle`` (a :class:`RulesOracle` result on the same waves) is
    given, chose the same destination for every migration.
    """
    problems = []
    expected = fleet.fingerprint()
    sequences = {r.strategy: tuple(r.sequence) for r in results}
    for r in results:
        if r.fingerprint != expected:
            problems.append('%s did not start from the same fleet'
                            % r.strategy)
    if len(set(sequences.values())) > 1:
        problems.append('the strategies saw different waves: %s'
                        % ', '.join(sorted(sequences)))
    for r in results:
        if r.strategy not in {p.name for p in project}:
            continue
        if r.failed:
            problems.append('%s sent %d migration(s) the rules refuse, '
                            'e.g. %s' % (r.strategy, r.failed,
                                         r.refused_by_rules[:3]))
        if r.needlessly_refused:
            problems.append('%s refused %d possible migration(s)'
                            % (r.strategy, r.needlessly_refused))
        if oracle is not None and r.decisions != oracle.decisions:
            differ = [(a, b) for a, b in zip(r.decisions, oracle.decisions)
                      if a != b]
            problems.append('%s chose other destinations than the rules, '
                            'e.g. %s' % (r.strategy, differ[:3]))
    if problems:
        raise InvariantError('; '.join(problems))


def check_order(naive, preflight):
    """Raise :class:`InvariantError` if the pre-flight order is worse.

    Worse: more servers stranded, or more hosts left not upgraded, than
    the naive order with the same strategy.
    """
    if (preflight.stranded > naive.stranded or
            preflight.hosts_not_upgraded > naive.hosts_not_upgraded):
        raise InvariantError(
            'the pre-flight order strands %d server(s) and leaves %d '
            'host(s) not upgraded; host-name order %d and %d' % (
                preflight.stranded, preflight.hosts_not_upgraded,
                naive.stranded, naive.hosts_not_upgraded))


def plot(results, path):
    """Failed migrations per wave, one line per strategy, as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3.5), dpi=100)
    for r in results:
        axes.plot(range(1, len(r.failed_per_wave) + 1), r.failed_per_wave,
                  marker='o', markersize=3, label=r.strategy)
    axes.set_xlabel('wave')
    axes.set_ylabel('migrations failed at the destination')
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    # No timestamp in the file, so a regenerated image only changes when
    # the figures do.
    figure.savefig(path, metadata={'Software': None})
    pyplot.close(figure)
