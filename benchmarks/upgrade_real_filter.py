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

"""The project's strategy: the real filter over a real Placement.

* :class:`Project`: the real :class:`VFIOCompatFilter` (through Nova's
  ``filter_all``) over what the real reporter code published in a real
  Placement: the mdev parents' and compute nodes' traits by
  ``Reporter.sync`` of the devices ``publication.decide`` publishes under
  the host's Nova mdev configuration, the PF providers' traits and
  resource class by Nova's own PCI-in-Placement translation of the ``[pci]
  device_spec`` the reporter generates (``generated_config.pci_device_specs``).
  A host is republished when it is upgraded.
* :class:`IgnoresAcceptTraits`: the project's filter made to pass every
  host whatever the accept traits say, a deliberately broken strategy the
  invariants must catch.

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
answer); the moves of a wave are written to Placement at the end of the
wave, ``ALLOCATIONS_PER_POST`` a ``POST /allocations`` (a server moved
in a wave is not read again before then: its new host is outside the
wave).

VFs are scheduled in either of Nova's PCI modes (``[pci]
report_in_placement`` is on in both: without it no provider says which
stream a VF emits, and the filter cannot check VFs at all):

* ``pci_in_placement=True`` (``[filter_scheduler] pci_in_placement``):
  the conductor turns the flavor's PCI request into a Placement request
  group, the allocation candidates name the PF provider, and Nova claims
  a VF of the provider Placement allocated; the filter prunes the
  candidates.
* ``pci_in_placement=False`` (Nova's default): the request spec carries
  the flavor's PCI request and no group for it, the candidates hold no
  VF, and Nova claims any VF of a matching pool of the host.  Each host
  state has Nova's own ``PciDeviceStats`` (:meth:`Project.pci_pools`):
  the pools nova-compute builds from its free VFs under the host's
  ``[pci] device_spec``, each given its PF's provider, as the scheduler
  gets them from the compute node; the filter decides the VFs from them.
"""

import collections
import uuid as uuid_lib

from nova.compute import pci_placement_translator as nova_pci
from nova import objects
from nova.objects import fields as nova_fields
from nova.pci import stats as pci_stats
from nova.pci import whitelist
from nova.scheduler.client import report
from nova.scheduler import host_manager
import os_traits
from oslo_serialization import jsonutils

from benchmarks import scenarios
from benchmarks import upgrade_fleet as fleet_lib
from nova_vfio_compat.model import publication
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.placement import sessions as placement_sessions
from nova_vfio_compat.reporter import generated_config
from nova_vfio_compat.reporter import plan as nvc_plan
from nova_vfio_compat.reporter import sync
from nova_vfio_compat.scheduler import vfio_compat_filter

PROVIDERS_MICROVERSION = '1.20'
ALLOCATIONS_PER_POST = 100
# Nova's [filter_scheduler] pci_in_placement: on, then off (its default).
PCI_MODES = (True, False)
# The flavor's [pci] alias for a VF: Nova's PCI request, by vendor and
# product (the simulation's "any host with a free VF of the same PCI
# vendor/product"), live-migratable.
VF_ALIAS = 'mlx5-vf'


def pci_mode(pci_in_placement):
    """The mode's name, as the tables say it."""
    return '[filter_scheduler] pci_in_placement = %s' % (
        'true' if pci_in_placement else 'false')


def pf_provider_name(host_name):
    """The name Nova gives the PF's provider (PCI in Placement)."""
    return '%s_%s' % (host_name, fleet_lib.PF_ADDRESS.upper())


class _Ignoring(vfio_compat_filter.VFIOCompatFilter):
    """The filter, reading all it reads, then passing every host."""

    def check_request(self, spec_obj, hosts=None):
        check = super().check_request(spec_obj, hosts=hosts)
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
        body = placement_reader.Reader.over_responses(
            lambda u, v: client.get(u, version=v),
            placement_sessions.CLIENT_ERRORS)(url, version)
        if self.cache and '/allocations' not in url:
            self._answers[key] = body
        return body


class Project:
    """The real filter, over what the real reporter put in Placement."""

    name = 'nova-vfio-compat'
    retries = False
    filter_class = vfio_compat_filter.VFIOCompatFilter

    def __init__(self, placement, cache=True, pci_in_placement=True):
        self.placement = placement
        self._pl = placement.sdk.placement
        self.pci_in_placement = pci_in_placement
        self.roots = {}
        self.reads = WaveReads(cache)
        self.writes = 0
        self._moved = {}
        self._states = {}
        self._owner = None
        self.rc = {}
        # Nova's PCI side of each host: its [pci] device_spec entries (as
        # JSON), its VFs (PciDevice objects), how many are in use, and
        # the hosts whose scheduler pools are out of date.
        self.device_specs = {}
        self._vfs = {}
        self._vfs_used = collections.Counter()
        self._vf_host = {}
        self._stale_pools = set()
        self._whitelists = {}

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
            if host.name not in self.roots:
                self.publish_host(host)
        self.place(fleet)

    def publish_host(self, host):
        """Create ``host``'s providers as nova-compute does; sync it."""
        root = self._post('/resource_providers', {'name': host.name})
        self.roots[host.name] = root['uuid']
        host.gpus = []
        for i in range(fleet_lib.GPUS_PER_HOST):
            gpu = self._post('/resource_providers', {
                'name': nvc_plan.mdev_parent_provider_name(
                    host.name, fleet_lib.parent_address(i)),
                'parent_provider_uuid': root['uuid']})
            self._put('/resource_providers/%s/inventories' % gpu['uuid'],
                      {'inventories': {'VGPU': {
                          'total': fleet_lib.VGPUS_PER_GPU}},
                       'resource_provider_generation':
                           gpu['generation']}, '1.6')
            host.gpus.append(gpu['uuid'])
        # Nova's PCI provider of the PF (the VFs are counted on it).
        pf = self._post('/resource_providers', {
            'name': pf_provider_name(host.name),
            'parent_provider_uuid': root['uuid']})
        host.pf = pf['uuid']
        self.sync(host)
        self.states(host)

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
        specs, errors = generated_config.pci_device_specs(published)
        if errors or len({(s['resource_class'], s.get('traits'))
                          for s in specs}) != 1:
            raise RuntimeError('the VFs of %s have no one device_spec: %s'
                               % (host.name, errors or specs))
        self.device_specs[host.name] = tuple(jsonutils.dumps(s)
                                             for s in specs)
        self._stale_pools.add(host.name)
        self._translate_pf(host, specs[0])

    def adopt_vfs(self, host, exemplar):
        """``host``'s VFs are published as ``exemplar``'s (a copy)."""
        self.rc[host.name] = self.rc[exemplar.name]
        self.device_specs[host.name] = self.device_specs[exemplar.name]
        self._stale_pools.add(host.name)

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
                {'inventories': {rc: {'total': fleet_lib.VFS_PER_HOST}},
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
        """Nova's HostState of ``host`` (one per host, reused).

        With ``pci_in_placement`` off, its ``pci_stats`` are the host's
        pools as they are now (:meth:`pci_pools`).
        """
        state = self._states.get(host.name)
        if state is None:
            state = host_manager.HostState(host.name, host.name, 'cell1')
            state.uuid = self.roots[host.name]
            self._states[host.name] = state
        if not self.pci_in_placement and host.name in self._stale_pools:
            state.pci_stats = self.pci_pools(host)
            self._stale_pools.discard(host.name)
        return state

    def pci_pools(self, host):
        """Nova's PCI pools of ``host``, as the scheduler gets them.

        What nova-compute builds: a ``PciDeviceStats`` of its free VFs
        under its ``[pci] device_spec``, each pool given the provider of
        its devices (``[pci] report_in_placement``), reported as the
        compute node's ``pci_device_pools``, from which the scheduler's
        HostState makes its own ``PciDeviceStats``.
        """
        specs = self.device_specs[host.name]
        dev_filter = self._whitelists.get(specs)
        if dev_filter is None:
            dev_filter = self._whitelists[specs] = whitelist.Whitelist(
                list(specs))
        compute = pci_stats.PciDeviceStats(None, dev_filter=dev_filter)
        vfs = self.vf_devices(host)
        for dev in vfs[:len(vfs) - self._vfs_used[host.name]]:
            compute.add_device(dev)
        compute.populate_pools_metadata_from_assigned_devices()
        return pci_stats.PciDeviceStats(None,
                                        stats=compute.to_device_pools_obj())

    def vf_devices(self, host):
        """The host's VFs as nova-compute records them (PciDevice)."""
        vfs = self._vfs.get(host.name)
        if vfs is None:
            vendor, product = ('%04x' % i for i in host.nic.pci[:2])
            vfs = self._vfs[host.name] = [objects.PciDevice(
                compute_node_id=1, address=fleet_lib.vf_address(i),
                parent_addr=fleet_lib.PF_ADDRESS, vendor_id=vendor,
                product_id=product,
                dev_type=nova_fields.PciDeviceType.SRIOV_VF,
                status=nova_fields.PciDeviceStatus.AVAILABLE,
                dev_id='pci_%s' % fleet_lib.vf_address(i).replace(
                    ':', '_').replace('.', '_'),
                label='label_%s_%s' % (vendor, product), numa_node=None,
                extra_info={'rp_uuid': host.pf})
                for i in range(fleet_lib.VFS_PER_HOST)]
        return vfs

    def _allocation(self, fleet, server):
        host = fleet.hosts[server.host]
        out = {}
        if server.gpu is not None:
            out[host.gpus[server.gpu]] = {'resources': {'VGPU': 1}}
        if server.vf:
            out[host.pf] = {'resources': {self.rc[host.name]: 1}}
        return out

    def place(self, fleet):
        """The servers' allocations, ``ALLOCATIONS_PER_POST`` a request.

        (One request for 10,000 servers, or even 500 on a machine that
        gives the process a tenth of a core, takes Placement longer than
        the connection's deadline.)
        """
        project, user = str(uuid_lib.uuid4()), str(uuid_lib.uuid4())
        for start in range(0, len(fleet.servers), ALLOCATIONS_PER_POST):
            body = {server.consumer: {
                'allocations': self._allocation(fleet, server),
                'project_id': project, 'user_id': user,
                'consumer_generation': None}
                for server in fleet.servers[
                    start:start + ALLOCATIONS_PER_POST]}
            self.writes += 1
            resp = self._pl.post('/allocations', json=body,
                                 microversion='1.28')
            if resp.status_code != 204:
                raise RuntimeError('cannot allocate the servers: %s %s'
                                   % (resp.status_code, resp.text))
        self._owner = (project, user)
        self._vf_host = {s.name: s.host for s in fleet.servers if s.vf}
        self._vfs_used = collections.Counter(self._vf_host.values())
        self._stale_pools.update(fleet.hosts)

    def moved(self, fleet, server):
        """Note the server's new allocation; written by :meth:`flush`.

        Its VF is on the new host's PF provider in either mode (with
        ``pci_in_placement`` off, nova-compute heals the PCI allocation).
        """
        self._moved[server.consumer] = {
            'allocations': self._allocation(fleet, server),
            'project_id': self._owner[0], 'user_id': self._owner[1]}
        if server.vf:
            before = self._vf_host[server.name]
            self._vf_host[server.name] = server.host
            self._vfs_used[before] -= 1
            self._vfs_used[server.host] += 1
            self._stale_pools.update((before, server.host))

    def flush(self):
        """The wave's moves (before any is read again).

        ``ALLOCATIONS_PER_POST`` a request, as :meth:`place`.
        """
        moved = list(self._moved.items())
        for start in range(0, len(moved), ALLOCATIONS_PER_POST):
            self.writes += 1
            resp = self._pl.post(
                '/allocations',
                json=dict(moved[start:start + ALLOCATIONS_PER_POST]),
                microversion='1.27')
            if resp.status_code != 204:
                raise RuntimeError('cannot move the allocations: %s %s'
                                   % (resp.status_code, resp.text))
        self._moved = {}

    def choose(self, fleet, server, options):
        kept = self.passing(fleet, server, options)
        return kept[0] if kept else None

    def passing(self, fleet, server, options):
        """The ``options`` the filter passes for ``server``, in order.

        A host's candidates are its options (one per GPU with a free
        vGPU, or the PF); the filter passes the host or not and prunes
        its candidates.  The first option kept is the first candidate of
        the first host passed: what Nova's scheduler would claim.
        """
        source = fleet.hosts[server.host]
        # The conductor moves the server's allocation to the migration
        # consumer before it calls the scheduler; the filter reads that
        # consumer's allocations.  Here the server's own consumer holds
        # them (same answer, two Placement writes fewer per migration).
        migration = vfio_compat_filter.LiveMigration(
            server.consumer, source.name, self.roots[source.name])
        states = []
        candidates = {}
        option_of = {}
        for option in options:
            host, gpu = option
            if host not in candidates:
                candidates[host] = []
                states.append(self.states(fleet.hosts[host]))
            candidate = self.candidate(fleet, server, option)
            candidates[host].append(candidate)
            option_of[id(candidate)] = option
        for state in states:
            state.allocation_candidates = candidates[state.host]
        flt = self.filter_class(live_migration=lambda spec: migration,
                                placement_get=self.get)
        passed = flt.filter_all(states, self.request_spec(source, server))
        return [option_of[id(c)] for state in passed
                for c in state.allocation_candidates]

    def candidate(self, fleet, server, option):
        """Placement's allocation candidate for ``option`` (host, GPU).

        The vGPU's GPU; the VF's PF provider only with
        ``pci_in_placement`` (without it the query has no PCI group).
        """
        host, gpu = option
        dest = fleet.hosts[host]
        allocations = {}
        if gpu is not None:
            allocations[dest.gpus[gpu]] = {'resources': {'VGPU': 1}}
        if server.vf and self.pci_in_placement:
            allocations[dest.pf] = {'resources': {self.rc[host]: 1}}
        return {'allocations': allocations,
                'mappings': {'': [self.roots[host]] + list(allocations)}}

    def request_spec(self, source, server):
        """The live migration's RequestSpec, as the conductor sends it.

        With ``pci_in_placement`` off, a server with a VF has its
        flavor's PCI request (Nova's alias translation) and no Placement
        group for it: the filter then checks the host's pools.
        """
        spec = scenarios.request_spec(source.name)
        if server.vf and not self.pci_in_placement:
            vendor, product = ('%04x' % i for i in source.nic.pci[:2])
            spec.pci_requests = objects.InstancePCIRequests(requests=[
                objects.InstancePCIRequest(
                    count=1, alias_name=VF_ALIAS,
                    request_id=str(uuid_lib.uuid5(uuid_lib.NAMESPACE_URL,
                                                  server.name)),
                    spec=[{'vendor_id': vendor, 'product_id': product,
                           'dev_type': nova_fields.PciDeviceType.SRIOV_VF,
                           'live_migratable': 'true'}])])
        return spec

    def get(self, url, version):
        """The filter's ``placement_get``."""
        return self.reads.get(url, version)


class IgnoresAcceptTraits(Project):
    """Broken on purpose: the filter passes every host it is shown."""

    name = 'broken: filter ignoring accept traits'
    filter_class = _Ignoring


def with_placement(placement, work):
    """Run ``work()`` with Nova's report client pointed at ``placement``."""
    with scenarios.nova_report_client(placement):
        return work()
