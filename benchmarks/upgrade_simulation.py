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

"""The rolling-upgrade simulation: waves of migrations, and its checks.

Hosts are upgraded in waves, each host drained as an operator drains
one: its ``nova-compute`` service is disabled, then every server on it is
live-migrated to a host outside the wave; a host with a server left on it
(stranded) is not upgraded and stays disabled, out of every later
scheduling (an operator does not re-enable a host the procedure did not
finish with: a server moved onto it would be left on the old branch too).
Every strategy drains the same way, so that the comparison is fair: Nova's
scheduler skips a disabled compute service whatever else it checks, and
the strategies differ only in the destination they pick.

For each migration the destinations with the free devices the server
needs come in one order, the same for every strategy (a seeded shuffle
per wave and server), as Nova's allocation candidates would: any GPU
with a free vGPU, any host with a free VF of the same PCI vendor/product
(Nova's PCI request).  A strategy
picks a destination or refuses; a pick the ground truth refuses is a
migration failed at the destination, retried on the next host up to
``MAX_ATTEMPTS`` times.
"""

import collections
import dataclasses
import random
import time

from benchmarks import upgrade_batched as batched
from benchmarks import upgrade_fleet as fleet_lib
from benchmarks import upgrade_ground_truth as truth
from benchmarks import upgrade_orders as orders
from benchmarks import upgrade_real_filter as real_filter
from benchmarks import upgrade_strategies

VGPU, VF = fleet_lib.VGPU, fleet_lib.VF

MAX_ATTEMPTS = 3

SMALL = {'hosts': 20, 'servers': 150, 'wave_size': 2}
# Where CI checks the pre-flight order against host-name order (with the
# rules as the strategy: seconds).
ORDER_CHECK = {'hosts': 200, 'servers': 2000, 'wave_size': 10}
# The previous order's drain plans grow with the square of the fleet.
DRAIN_ORDER_MAX_HOSTS = 300
DEFAULT = {'hosts': 1000, 'servers': 10000, 'wave_size': 50}


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
    cpu_seconds: float = 0.0
    # The project's: how many times its filter ran.
    filter_runs: int = 0
    failed_per_wave: list = dataclasses.field(default_factory=list)
    # Servers left behind in each wave.
    stranded_per_wave: list = dataclasses.field(default_factory=list)
    # The servers on a host left not upgraded at the end: to complete
    # the upgrade each needs downtime (a cold migration or a stop).
    downtime_servers: list = dataclasses.field(default_factory=list)
    # The fleet's lower bound: the servers no order keeps running.
    forced: int = 0

    @property
    def downtime(self):
        return len(self.downtime_servers)

    @property
    def avoidable(self):
        """Planned downtime beyond the bound: planned - forced."""
        return self.downtime - self.forced

    @property
    def hosts_upgraded(self):
        return len({h for w in self.sequence for h in w}) - \
            self.hosts_not_upgraded
    # (server, source host, destination host) the rules refused.
    refused_by_rules: list = dataclasses.field(default_factory=list)
    # (server, destination host or None) per decision, in order.
    decisions: list = dataclasses.field(default_factory=list)


def _options(fleet, used, wave, server, rnd):
    """Destinations with the free devices ``server`` needs, Nova's order.

    ``(host, gpu index)``, the index None for a server with no vGPU; no
    host of the wave, none disabled.
    """
    hosts = [h for h in fleet.hosts
             if h not in wave and h not in fleet.disabled]
    rnd.shuffle(hosts)
    if server.vf:
        hosts = [h for h in hosts if used[(h, VF)] < fleet_lib.VFS_PER_HOST]
    if server.gpu is None:
        return [(h, None) for h in hosts]
    return [(h, g) for h in hosts for g in range(fleet_lib.GPUS_PER_HOST)
            if used[(h, g)] < fleet_lib.VGPUS_PER_GPU]


def run(fleet, strategy, waves, seed=0):
    """Upgrade ``fleet`` (a copy of it) wave by wave with ``strategy``.

    ``waves``: a list of host-name lists, or a function of the fleet (as
    upgraded so far) that returns the next wave, or None when done.
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    fleet = fleet.copy()
    result = Result(strategy.name, fleet.fingerprint())
    if isinstance(strategy, real_filter.Project):
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
        stranded_before = result.stranded
        on_host = fleet.by_host()
        if hasattr(strategy, 'start_wave'):
            strategy.start_wave(fleet, wave, on_host)
        for name in wave:
            for server in on_host.get(name, ()):
                result.migrations += 1
                rnd = random.Random('%s/%d/%s' % (seed, index, server.name))
                options = _options(fleet, used, wave_set, server, rnd)
                if not _migrate(fleet, used, server, options, strategy,
                                result):
                    result.stranded += 1
                    if any(truth.compatible(fleet, server, h)
                           for h, _ in options):
                        result.needlessly_refused += 1
        if hasattr(strategy, 'flush'):
            strategy.flush()
        on_host = fleet.by_host()
        upgraded = []
        for name in wave:
            if on_host.get(name):
                # Its drain left servers on it: it stays disabled.
                fleet.disabled.add(name)
                result.hosts_not_upgraded += 1
                continue
            fleet.hosts[name].upgrade()
            upgraded.append(fleet.hosts[name])
        if hasattr(strategy, 'upgraded'):
            strategy.upgraded(upgraded)
        result.failed_per_wave.append(result.failed - failed_before)
        result.stranded_per_wave.append(result.stranded - stranded_before)
    result.downtime_servers = [s.name for s in fleet.servers
                               if not fleet.hosts[s.host].upgraded]
    if isinstance(strategy, real_filter.Project):
        result.placement_calls = strategy.reads.calls
        result.placement_reads_asked = strategy.reads.asked
        result.placement_writes = strategy.writes
        result.filter_runs = getattr(strategy, 'filter_runs',
                                     result.migrations)
    result.wall_seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
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
        failing = truth.failing_devices(fleet, server, host)
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


class InvariantError(AssertionError):
    """The simulation's results break a claim it rests on."""


def run_strategy(make, fleet, waves, seed=0, **kwargs):
    """Run one strategy class on ``fleet``.

    The project's strategies get a Placement of their own, and
    ``kwargs``; the others ignore ``kwargs``.
    """
    if not issubclass(make, real_filter.Project):
        return run(fleet, make(), waves, seed)
    from nova_vfio_compat.demo import local_placement
    placement = local_placement.in_process()
    try:
        return real_filter.with_placement(placement, lambda: run(
            fleet, make(placement, **kwargs), waves, seed))
    finally:
        placement.close()


def simulate(hosts, servers, wave_size, seed=0,
             strategies=(upgrade_strategies.NovaNative,
                         upgrade_strategies.TryAndSee,
                         batched.Batched), pci_in_placement=True):
    """The fleet and one :class:`Result` per strategy, naive order.

    ``pci_in_placement``: Nova's ``[filter_scheduler]
    pci_in_placement`` for the project's strategies (see
    :mod:`upgrade_real_filter`); the others decide the same either way.
    """
    fleet = fleet_lib.build_fleet(hosts, servers, seed)
    waves = orders.naive_waves(fleet, wave_size)
    return fleet, [run_strategy(make, fleet, waves, seed,
                                pci_in_placement=pci_in_placement)
                   for make in strategies]


def with_bound(results, forced):
    """Give each result the fleet's bound ``forced`` (server names)."""
    for r in results:
        r.forced = len(forced)
    return results


def preflight_order(fleet, wave_size, seed=0, strategy=real_filter.Project):
    """A strategy with the waves the pre-flight orders."""
    return run_strategy(strategy, fleet, orders.preflight_waves(wave_size),
                        seed)


def check_invariants(fleet, results, project=(real_filter.Project,),
                     oracle=None, forced=None):
    """Raise :class:`InvariantError` unless the claims hold.

    Every strategy started from ``fleet`` and saw the same waves; a
    strategy of a class in ``project`` (the one that claims to be the
    project's) failed no migration and refused none needlessly, and, when
    ``oracle`` (a :class:`RulesOracle` result on the same waves) is
    given, chose the same destination for every migration.  With
    ``forced`` (the server names of the fleet's lower bound), no
    strategy kept one of them running: the bound holds.
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
    if forced is not None:
        for r in results:
            kept = set(forced) - set(r.downtime_servers)
            if kept:
                problems.append(
                    '%s kept running %d server(s) the bound says no order '
                    'keeps running, e.g. %s' % (
                        r.strategy, len(kept), sorted(kept)[:3]))
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


def check_modes(on, off):
    """Raise :class:`InvariantError` unless both PCI modes decided alike.

    ``on`` and ``off``: the project's results with ``[filter_scheduler]
    pci_in_placement`` on and off, on the same fleet and waves.  Every
    host has one PF, whose VFs are one pool: the pool Nova claims from
    without ``pci_in_placement`` is the PF the candidate names with it,
    so compatibility does not depend on the mode, and neither may any
    decision.
    """
    if on.decisions != off.decisions:
        differ = [(a, b) for a, b in zip(on.decisions, off.decisions)
                  if a != b]
        raise InvariantError(
            'the project decided otherwise with pci_in_placement off than '
            'on (%d and %d decisions), e.g. %s' % (
                len(off.decisions), len(on.decisions), differ[:3]))


def check_order(naive, preflight):
    """Raise :class:`InvariantError` if the pre-flight order is worse.

    Worse than the naive order with the same strategy, on the same
    fleet: waves that leave a host of the fleet out (it is never drained
    nor upgraded: an empty one changes neither figure below), more waves
    (the upgrade takes longer), more servers stranded, or more needing
    downtime (on a host left not upgraded).  While every host is in a
    wave those two are the same servers: a host whose drain left one
    stays disabled, so nothing else ends on it.  Not the hosts left not
    upgraded: with those hosts kept disabled both orders reach the bound
    on the fleets CI runs, and the pre-flight order then spreads the
    forced servers over more hosts (each stopped or cold-migrated all
    the same).
    """
    if preflight.fingerprint != naive.fingerprint:
        raise InvariantError('the orders did not start from the same fleet')
    problems = []
    fleet = {name for name, _signature in naive.fingerprint[0]}
    for name, r in (('host-name order', naive),
                    ('the pre-flight order', preflight)):
        left_out = fleet - {h for wave in r.sequence for h in wave}
        if left_out:
            problems.append('%s leaves %d host(s) out of its waves, e.g. '
                            '%s' % (name, len(left_out),
                                    sorted(left_out)[:3]))
    if len(preflight.sequence) > len(naive.sequence):
        problems.append('the pre-flight order takes %d waves, host-name '
                        'order %d' % (len(preflight.sequence),
                                      len(naive.sequence)))
    if (preflight.stranded > naive.stranded or
            preflight.downtime > naive.downtime):
        problems.append(
            'the pre-flight order strands %d server(s) and leaves %d '
            'needing downtime; host-name order %d and %d' % (
                preflight.stranded, preflight.downtime,
                naive.stranded, naive.downtime))
    if problems:
        raise InvariantError('; '.join(problems))
