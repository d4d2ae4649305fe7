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

The fleet: hosts with ``GPUS_PER_HOST`` mdev-capable GPUs of one device
family each, ``VGPUS_PER_GPU`` vGPUs per GPU, servers holding one vGPU.
Every family has a driver branch per host (its capability document, built
with :func:`nova_vfio_compat.records.loads`): a minor version that accepts
every older minor of its major (forward minor compatibility).  The
upgrade takes every host of a family to that family's target branch:

* ``nvidia-t4``: 1.m -> 1.5, the same mdev type name (minor upgrade);
* ``gvt-i915``: 1.m -> 1.4, the new driver renames the mdev type though
  the migration stream is unchanged (Nova-native refuses what works);
* ``nvidia-a10``: 1.m -> 2.0, a major break under the same mdev type name
  (Nova-native sends what fails).

Hosts are upgraded in waves: every server of a host in the wave is
live-migrated to a host outside the wave first; a host with a server left
on it (stranded) is not upgraded.  For each migration the hosts with a
free vGPU come in one order, the same for every strategy (a seeded shuffle
per wave and server), as Nova's allocation candidates would.  A strategy
picks a destination GPU or refuses; :func:`rules.check` of the server's
document against the destination's is the ground truth: a pick the rules
refuse is a migration failed at the destination, retried on the next host
up to ``MAX_ATTEMPTS`` times.

Strategies:

* :class:`NovaNative`: the same mdev type name (what Nova does for vGPUs);
* :class:`TryAndSee`: any GPU with a free vGPU;
* :class:`Project`: the real :class:`VFIOCompatFilter` (through Nova's
  ``filter_all``) over the traits the real reporter published in a real
  Placement (the in-process fixture of :mod:`benchmarks.placement`); the
  reporter republishes a host when it is upgraded.
* :class:`IgnoresAcceptTraits`: the project's filter made to pass every
  host whatever the accept traits say, a deliberately broken strategy the
  invariants must catch.

The filter is told which live migration is scheduled through its
``live_migration`` argument (no Nova database); the server's own
consumer holds the allocation the filter reads (the conductor would have
moved it to the migration's consumer: the same answer).

VFs are not simulated: the reporter publishes a PCI device's traits on
the compute node provider, so a per-VF choice is not the filter's to make.
"""

import collections
import dataclasses
import random
import time
import uuid as uuid_lib

from nova.scheduler.client import report

from benchmarks import scenarios
from nova_vfio_compat import devices as nvc_devices
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat import records
from nova_vfio_compat.reporter import plan as nvc_plan
from nova_vfio_compat.reporter import sync
from nova_vfio_compat import rules
from nova_vfio_compat.scheduler import vfio_compat_filter
from nova_vfio_compat import traits as nvc_traits

GPUS_PER_HOST = 2
VGPUS_PER_GPU = 8
MAX_ATTEMPTS = 3
PROVIDERS_MICROVERSION = '1.20'


@dataclasses.dataclass(frozen=True)
class Family:
    """A device family: its PCI ids, mdev type names and driver branches.

    ``initial``: the minors of major 1 hosts start on; ``target``: the
    (major, minor, mdev type) every host is upgraded to.
    """

    name: str
    vendor: str
    pci: tuple
    mdev_type: str
    initial: tuple
    target: tuple


FAMILIES = (
    Family('nvidia-t4', 'nvidia', (0x10de, 0x1eb8, 0x10de, 0x12a2),
           'nvidia-222', (1, 2, 3, 4), (1, 5, 'nvidia-222')),
    Family('gvt-i915', 'i915', (0x8086, 0x591d, 0x8086, 0x0001),
           'i915-GVTg_V5_4', (1, 2, 3), (1, 4, 'i915-GVTg_V6_4')),
    Family('nvidia-a10', 'nvidia', (0x10de, 0x2236, 0x10de, 0x1482),
           'nvidia-558', (0, 1, 2), (2, 0, 'nvidia-558')),
)

_DOCUMENT = """device_api: vfio-pci
vendor: %(vendor)s
version: {major: %(major)d, minor: %(minor)d, minor_min: 0}
vfio-pci: {vendor: 0x%(v)04x, device: 0x%(d)04x,
           subsystem_vendor: 0x%(sv)04x, subsystem_device: 0x%(sd)04x}
mdev_type: %(mdev_type)s
"""

_documents = {}


def document(family, major, minor, mdev_type):
    """A driver branch's capability document (cached: they are shared)."""
    key = (family.name, major, minor, mdev_type)
    if key not in _documents:
        v, d, sv, sd = family.pci
        _documents[key] = records.loads(_DOCUMENT % {
            'vendor': family.vendor, 'major': major, 'minor': minor,
            'v': v, 'd': d, 'sv': sv, 'sd': sd, 'mdev_type': mdev_type},
            'upgrade benchmark %s %d.%d' % (family.name, major, minor))
    return _documents[key]


def parent_address(index):
    return '0000:%02x:00.0' % (0x81 + index)


@dataclasses.dataclass
class Host:
    name: str
    family: Family
    # The driver branch: (major, minor, mdev type name).
    branch: tuple
    # [provider uuid of each GPU]; filled in when published.
    gpus: list
    upgraded: bool = False

    @property
    def document(self):
        return document(self.family, *self.branch)

    def devices(self):
        return [nvc_devices.Device(address=parent_address(i),
                                   kind=nvc_devices.KIND_MDEV_TYPE,
                                   mdev_type=self.branch[2],
                                   document=self.document,
                                   provenance=nvc_devices.SOURCE_FILE)
                for i in range(GPUS_PER_HOST)]


@dataclasses.dataclass
class Server:
    name: str
    host: str
    gpu: int

    @property
    def consumer(self):
        """Its Placement consumer (instance) uuid, stable by name."""
        return str(uuid_lib.uuid5(uuid_lib.NAMESPACE_URL, self.name))


@dataclasses.dataclass
class Fleet:
    """The hosts, the servers and who uses which vGPU."""

    hosts: dict
    servers: list

    def copy(self):
        hosts = {n: dataclasses.replace(h, gpus=list(h.gpus))
                 for n, h in self.hosts.items()}
        servers = [dataclasses.replace(s) for s in self.servers]
        return Fleet(hosts, servers)

    def used(self):
        used = collections.Counter()
        for s in self.servers:
            used[(s.host, s.gpu)] += 1
        return used

    def fingerprint(self):
        """What the strategies must all start from."""
        return (tuple((h.name, h.family.name, h.branch)
                      for h in self.hosts.values()),
                tuple((s.name, s.host, s.gpu) for s in self.servers))


def build_fleet(hosts, servers, seed=0):
    """``hosts`` hosts and ``servers`` servers, deterministic in ``seed``."""
    rnd = random.Random(seed)
    by_name = {}
    for i in range(1, hosts + 1):
        # Cycled, so that even a small fleet has every family; the major
        # break (the last family) is the rarer one.
        family = FAMILIES[(0, 1, 0, 2, 1)[i % 5]]
        major = 1
        minor = rnd.choice(family.initial)
        by_name['host%05d' % i] = Host(
            'host%05d' % i, family, (major, minor, family.mdev_type), [])
    slots = [(h, g) for h in by_name for g in range(GPUS_PER_HOST)
             for _ in range(VGPUS_PER_GPU)]
    if servers > len(slots):
        raise ValueError('%d servers do not fit %d vGPUs'
                         % (servers, len(slots)))
    rnd.shuffle(slots)
    placed = [Server('server%06d' % i, h, g)
              for i, (h, g) in enumerate(sorted(slots[:servers]), 1)]
    return Fleet(by_name, placed)


# Strategies ---------------------------------------------------------------

class NovaNative:
    """Nova today: a vGPU goes to a GPU with the same mdev type name."""

    name = 'Nova-native (same mdev type)'
    retries = True

    def choose(self, fleet, server, options):
        source = fleet.hosts[server.host].branch[2]
        for host, gpu in options:
            if fleet.hosts[host].branch[2] == source:
                return host, gpu
        return None


class TryAndSee:
    """Any GPU with a free vGPU; the migration says if it was wrong."""

    name = 'try and see'
    retries = True

    def choose(self, fleet, server, options):
        return options[0] if options else None


class _Ignoring(vfio_compat_filter.VFIOCompatFilter):
    """The filter, reading all it reads, then passing every host."""

    def check_request(self, spec_obj):
        check = super().check_request(spec_obj)
        return vfio_compat_filter.RequestCheck(check.instance_uuid)


class Project:
    """The real filter, over what the real reporter put in Placement."""

    name = 'nova-vfio-compat'
    retries = False
    filter_class = vfio_compat_filter.VFIOCompatFilter

    def __init__(self, placement):
        self.placement = placement
        self._pl = placement.sdk.placement
        self.roots = {}
        self.calls = 0

    def _post(self, url, body):
        return scenarios.post(self._pl, url, body, PROVIDERS_MICROVERSION)

    def _put(self, url, body, version):
        scenarios.put(self._pl, url, body, version)

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
            self.sync(host)
        self.place(fleet)

    def sync(self, host):
        result = sync.Reporter(self.placement.sdk, host.name).sync(
            host.devices())
        if not result.ok:
            raise RuntimeError('reporter failed on %s: %s'
                               % (host.name, result.errors))

    def place(self, fleet):
        """The servers' allocations, in one request."""
        project, user = str(uuid_lib.uuid4()), str(uuid_lib.uuid4())
        body = {server.consumer: {
            'allocations': {fleet.hosts[server.host].gpus[server.gpu]: {
                'resources': {'VGPU': 1}}},
            'project_id': project, 'user_id': user,
            'consumer_generation': None} for server in fleet.servers}
        resp = self._pl.post('/allocations', json=body, microversion='1.28')
        if resp.status_code != 204:
            raise RuntimeError('cannot allocate the servers: %s %s'
                               % (resp.status_code, resp.text))
        self._owner = (project, user)

    def moved(self, fleet, server):
        """Move the server's allocation as the migration would."""
        self._put('/allocations/%s' % server.consumer, {
            'allocations': {fleet.hosts[server.host].gpus[server.gpu]: {
                'resources': {'VGPU': 1}}},
            'project_id': self._owner[0], 'user_id': self._owner[1]},
            '1.12')

    def choose(self, fleet, server, options):
        source = fleet.hosts[server.host]
        # The conductor moves the server's allocation to the migration
        # consumer before it calls the scheduler; the filter reads that
        # consumer's allocations.  Here the server's own consumer holds
        # them (same answer, two Placement writes fewer per migration).
        migration = vfio_compat_filter.LiveMigration(
            server.consumer, source.name, self.roots[source.name])
        order = []
        candidates = collections.defaultdict(list)
        for host, gpu in options:
            uuid = self.roots[host]
            if uuid not in candidates:
                order.append(host)
            candidates[uuid].append(scenarios.gpu_candidate(
                uuid, fleet.hosts[host].gpus[gpu]))
        states, _reset = scenarios.host_states(
            [_Named(h, self.roots[h]) for h in order], candidates)
        flt = self.filter_class(live_migration=lambda spec: migration)
        self.placement.app.reset()
        passed = list(flt.filter_all(states, scenarios.request_spec(
            source.name)))
        self.calls += self.placement.app.total
        if not passed:
            return None
        state = passed[0]
        chosen = next(iter(state.allocation_candidates[0]['allocations']))
        return state.host, fleet.hosts[state.host].gpus.index(chosen)


class IgnoresAcceptTraits(Project):
    """Broken on purpose: the filter passes every host it is shown."""

    name = 'broken: filter ignoring accept traits'
    filter_class = _Ignoring


@dataclasses.dataclass
class _Named:
    name: str
    uuid: str


# The simulation -------------------------------------------------------------

@dataclasses.dataclass
class Result:
    strategy: str
    fingerprint: tuple
    sequence: list = dataclasses.field(default_factory=list)
    migrations: int = 0
    failed: int = 0
    needlessly_refused: int = 0
    stranded: int = 0
    hosts_not_upgraded: int = 0
    placement_calls: int = 0
    seconds: float = 0.0
    failed_per_wave: list = dataclasses.field(default_factory=list)
    # (server, source document, destination document) the rules refused.
    refused_by_rules: list = dataclasses.field(default_factory=list)


def _options(fleet, used, wave, rnd):
    """(host, gpu) with a free vGPU outside the wave, in Nova's order."""
    hosts = [h for h in fleet.hosts if h not in wave]
    rnd.shuffle(hosts)
    return [(h, g) for h in hosts for g in range(GPUS_PER_HOST)
            if used[(h, g)] < VGPUS_PER_GPU]


def _compatible(fleet, server, host, gpu):
    return rules.check(fleet.hosts[server.host].document,
                       fleet.hosts[host].document).compatible


def naive_waves(fleet, wave_size):
    """Hosts in name order, ``wave_size`` at a time."""
    names = sorted(fleet.hosts)
    return [names[i:i + wave_size] for i in range(0, len(names), wave_size)]


def run(fleet, strategy, waves, seed=0):
    """Upgrade ``fleet`` (a copy of it) wave by wave with ``strategy``.

    ``waves``: a list of host-name lists, or a function of the fleet (as
    upgraded so far) that returns the next wave, or None when done.
    """
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
        for name in wave:
            for server in [s for s in fleet.servers if s.host == name]:
                result.migrations += 1
                rnd = random.Random('%s/%d/%s' % (seed, index, server.name))
                options = _options(fleet, used, wave_set, rnd)
                if not _migrate(fleet, used, server, options, strategy,
                                result):
                    result.stranded += 1
                    if any(_compatible(fleet, server, h, g)
                           for h, g in options):
                        result.needlessly_refused += 1
        for name in wave:
            host = fleet.hosts[name]
            if any(s.host == name for s in fleet.servers):
                result.hosts_not_upgraded += 1
                continue
            host.branch = host.family.target
            host.upgraded = True
            if isinstance(strategy, Project):
                strategy.sync(host)
        result.failed_per_wave.append(result.failed - failed_before)
    result.placement_calls = getattr(strategy, 'calls', 0)
    return result


def _migrate(fleet, used, server, options, strategy, result):
    """Try to move ``server``; True when it moved."""
    options = list(options)
    for _attempt in range(MAX_ATTEMPTS):
        started = time.perf_counter()
        choice = strategy.choose(fleet, server, options)
        result.seconds += time.perf_counter() - started
        if choice is None:
            return False
        host, gpu = choice
        if not _compatible(fleet, server, host, gpu):
            result.failed += 1
            result.refused_by_rules.append(
                (server.name, server.host, host))
            if not strategy.retries:
                return False
            options = [o for o in options if o[0] != host]
            continue
        used[(server.host, server.gpu)] -= 1
        used[(host, gpu)] += 1
        server.host, server.gpu = host, gpu
        if hasattr(strategy, 'moved'):
            strategy.moved(fleet, server)
        return True
    return False


def preflight_waves(wave_size):
    """The next wave as the project's drain pre-flight would order it.

    Among the hosts not upgraded yet, the ones whose servers all have a
    destination in :func:`nova_vfio_compat.planning.drain.plan` (over the
    trait sets the reporter publishes, the capacity free now, the rest of
    the wave excluded) go first, in name order; then the others.  A host
    whose plan strands a server is only taken when no other host is left.
    """
    def next_wave(fleet):
        if not hasattr(next_wave, 'tried'):
            next_wave.tried = set()
        left = [h for h in sorted(fleet.hosts)
                if not fleet.hosts[h].upgraded and h not in next_wave.tried]
        if not left:
            return None
        used = fleet.used()
        wave = []
        for name in left:
            if len(wave) == wave_size:
                break
            if _drain_plan_complete(fleet, used, name, wave):
                wave.append(name)
        for name in left:
            if len(wave) == wave_size:
                break
            if name not in wave:
                wave.append(name)
        next_wave.tried.update(wave)
        return wave
    return next_wave


_traits_cache = {}


def _traits(host):
    key = (host.family.name, host.branch)
    if key not in _traits_cache:
        _traits_cache[key] = frozenset(
            nvc_traits.document_traits(host.document))
    return _traits_cache[key]


def _drain_plan_complete(fleet, used, name, wave):
    host = fleet.hosts[name]
    servers = [s for s in fleet.servers if s.host == name]
    if not servers:
        return True
    streams = nvc_traits.emitted(_traits(host))
    excluded = set(wave) | {name}
    free = {}
    providers = {}
    for other in fleet.hosts.values():
        if other.name in excluded:
            continue
        traits = _traits(other)
        for g in range(GPUS_PER_HOST):
            key = '%s/%d' % (other.name, g)
            providers[key] = compatibility.Provider(key, key, other.name,
                                                    traits)
            free[(key, 'VGPU')] = VGPUS_PER_GPU - used[(other.name, g)]
    plan_servers = []
    options = {}
    for s in servers:
        device = nvc_drain.Device('%s/%d' % (name, s.gpu), None,
                                  (('VGPU', 1),), streams)
        server = nvc_drain.Server(s.name, (device,))
        plan_servers.append(server)
        options[s.name] = [
            nvc_drain.Option(p.host, (p.uuid,))
            for p in providers.values()
            if free[(p.uuid, 'VGPU')] > 0 and nvc_drain.admissible(
                server, nvc_drain.Option(p.host, (p.uuid,)), providers,
                name)]
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

SMALL = {'hosts': 8, 'servers': 50, 'wave_size': 2}
DEFAULT = {'hosts': 1000, 'servers': 10000, 'wave_size': 50}


class InvariantError(AssertionError):
    """The simulation's results break a claim it rests on."""


def run_strategy(make, fleet, waves, seed=0):
    """Run one strategy class on ``fleet``.

    The project's strategies get a Placement of their own.
    """
    if not issubclass(make, Project):
        return run(fleet, make(), waves, seed)
    from nova_vfio_compat.demo import local_placement
    placement = local_placement.in_process()
    try:
        return with_placement(placement, lambda: run(
            fleet, make(placement), waves, seed))
    finally:
        placement.close()


def simulate(hosts, servers, wave_size, seed=0,
             strategies=(NovaNative, TryAndSee, Project)):
    """The fleet and one :class:`Result` per strategy, naive order."""
    fleet = build_fleet(hosts, servers, seed)
    waves = naive_waves(fleet, wave_size)
    return fleet, [run_strategy(make, fleet, waves, seed)
                   for make in strategies]


def preflight_order(fleet, wave_size, seed=0):
    """The project's strategy with the waves the pre-flight orders."""
    return run_strategy(Project, fleet, preflight_waves(wave_size), seed)


def check_invariants(fleet, results, project=(Project,)):
    """Raise :class:`InvariantError` unless the claims hold.

    Every strategy started from ``fleet`` and saw the same waves; a
    strategy of a class in ``project`` (the one that claims to be the
    project's) failed no migration and refused none needlessly.
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
    if problems:
        raise InvariantError('; '.join(problems))


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
