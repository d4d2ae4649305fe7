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

"""The rolling-upgrade simulation at its CI size, and its invariants.

``python -m benchmarks --upgrade`` runs it at 1,000 hosts; here the small
fleet checks what its table rests on: the strategies start from the same
fleet and waves, the project's strategy (the real filter over a real
Placement, vGPUs and VFs) sends no migration the rules refuse, refuses
none that was possible and chooses what the rules choose, its wave cache
changes no decision, and a strategy broken on purpose is caught.  VFs
are simulated under both of Nova's PCI modes (``[filter_scheduler]
pci_in_placement`` on and off); off, the filter decides them from
Nova's PCI pools on the host states, not from Placement's candidates.
"""

import argparse
import dataclasses
import os

import pytest

from nova import objects

from benchmarks import upgrade_batched as batched_lib
from benchmarks import upgrade_fleet as fleet_lib
from benchmarks import upgrade_ground_truth as truth
from benchmarks import upgrade_orders as orders
from benchmarks import upgrade_real_filter as real_filter
from benchmarks import upgrade_report
from benchmarks import upgrade_simulation as simulation
from benchmarks import upgrade_strategies as strategies
from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.model import rules

SIZE = simulation.SMALL


def setup_module(module):
    objects.register_all()


@pytest.fixture(scope='module')
def simulated():
    return simulation.simulate(SIZE['hosts'], SIZE['servers'],
                               SIZE['wave_size'])


@pytest.fixture(scope='module')
def oracle(simulated):
    fleet, _results = simulated
    return simulation.run(fleet, strategies.RulesOracle(), orders.naive_waves(
        fleet, SIZE['wave_size']))


def test_the_project_fails_and_refuses_nothing(simulated, oracle):
    fleet, results = simulated
    simulation.check_invariants(fleet, results, oracle=oracle)
    by_name = {r.strategy: r for r in results}
    project = by_name[real_filter.Project.name]
    assert project.failed == 0
    assert project.needlessly_refused == 0
    # It asked Placement, and every server was moved at least once (a
    # server may land on a host of a later wave and move again).
    assert project.placement_calls > 0
    assert project.migrations >= len(fleet.servers)


def test_the_simpler_strategies_fail_or_refuse_on_this_fleet(simulated):
    fleet, results = simulated
    by_name = {r.strategy: r for r in results}
    native = by_name[strategies.NovaNative.name]
    trying = by_name[strategies.TryAndSee.name]
    # A major break under the same mdev type name, or the same VF PCI
    # IDs on another NIC or firmware major: Nova-native fails, on both.
    assert native.failed_by_device[fleet_lib.VGPU] > 0
    assert native.failed_by_device[fleet_lib.VF] > 0
    # A renamed mdev type that still receives the stream: it refuses.
    assert native.needlessly_refused > 0 or native.stranded > 0
    assert trying.failed_by_device[fleet_lib.VGPU] > 0
    assert trying.failed_by_device[fleet_lib.VF] > 0
    assert trying.placement_calls == native.placement_calls == 0


def test_the_fleet_has_vfs_and_vgpus_and_the_project_moves_them(
        simulated):
    fleet, results = simulated
    assert set(fleet_lib.kinds(fleet)) == {fleet_lib.VGPU, fleet_lib.VF,
                                           fleet_lib.BOTH}
    project = {r.strategy: r for r in results}[real_filter.Project.name]
    moved = {name for name, host in project.decisions if host}
    kinds = {s.name: s.kind for s in fleet.servers}
    assert {kinds[name] for name in moved} == {fleet_lib.VGPU, fleet_lib.VF,
                                               fleet_lib.BOTH}


@pytest.fixture(scope='module')
def pci_off(simulated):
    """The project's strategy with ``pci_in_placement`` off."""
    fleet, _results = simulated
    return simulation.run_strategy(
        batched_lib.Batched, fleet,
        orders.naive_waves(fleet, SIZE['wave_size']), pci_in_placement=False)


def test_both_pci_modes_decide_alike(simulated, oracle, pci_off):
    # One PF per host, its VFs one pool: the pool Nova claims from
    # without pci_in_placement is the PF the candidate names with it,
    # so compatibility, and every decision, is the same in both modes.
    fleet, results = simulated
    on = {r.strategy: r for r in results}[real_filter.Project.name]
    assert pci_off.strategy == on.strategy
    simulation.check_invariants(fleet, results[:-1] + [pci_off],
                                oracle=oracle)
    simulation.check_modes(on, pci_off)
    assert pci_off.decisions == on.decisions
    for figure in ('migrations', 'failed', 'needlessly_refused', 'stranded',
                   'downtime_servers', 'hosts_not_upgraded',
                   'stranded_per_wave'):
        assert getattr(pci_off, figure) == getattr(on, figure)
    # A mode that decided one migration otherwise is caught.
    name, _host = on.decisions[-1]
    other = dataclasses.replace(pci_off, decisions=(
        pci_off.decisions[:-1] + [(name, None)]))
    with pytest.raises(simulation.InvariantError, match='pci_in_placement'):
        simulation.check_modes(on, other)


def test_pci_off_batched_decides_as_per_migration(simulated, pci_off):
    # The pools are kept as the VFs are claimed, migration by migration;
    # the batched run decides once per wave and must not differ.
    fleet, _results = simulated
    per_migration = simulation.run_strategy(
        real_filter.Project, fleet,
        orders.naive_waves(fleet, SIZE['wave_size']), pci_in_placement=False)
    assert per_migration.decisions == pci_off.decisions


class _PoolsWithoutProvider(batched_lib.Batched):
    """Off mode, destinations whose pools name no provider.

    What the scheduler gets from a nova-compute that does not report its
    PCI devices to Placement; their PFs' providers in Placement still
    accept the streams.  Records the allocation candidates it hands the
    filter.
    """

    candidates = []
    pools = []

    def candidate(self, fleet, server, option):
        made = super().candidate(fleet, server, option)
        self.candidates.append((server, made))
        return made

    def pci_pools(self, host):
        stats = super().pci_pools(host)
        self.pools.append((host.pf, [dict(p) for p in stats.pools]))
        for pool in stats.pools:
            pool.pop('rp_uuid')
        return stats


def test_pci_off_decides_vfs_from_the_pools_not_placement(
        simulated, pci_off):
    fleet, _results = simulated
    result = simulation.run_strategy(
        _PoolsWithoutProvider, fleet,
        orders.naive_waves(fleet, SIZE['wave_size']), pci_in_placement=False)
    kinds = {s.name: s.kind for s in fleet.servers}
    # Placement says the PFs accept, the pools cannot say: every server
    # with a VF is refused (its migrations were possible), the vGPUs
    # move as before.
    moved = {kinds[name] for name, host in result.decisions if host}
    assert moved == {fleet_lib.VGPU}
    assert result.failed == 0
    refused = {name for name, host in result.decisions if not host}
    assert {kinds[name] for name in refused} >= {fleet_lib.VF,
                                                 fleet_lib.BOTH}
    assert result.needlessly_refused > 0
    assert {kinds[name] for name, host in pci_off.decisions if host} == {
        fleet_lib.VGPU, fleet_lib.VF, fleet_lib.BOTH}
    # Nothing of a VF reached the filter through Placement's candidates;
    # the pools it read were Nova's, one per PF, with the PF's provider.
    assert _PoolsWithoutProvider.candidates
    for server, candidate in _PoolsWithoutProvider.candidates:
        assert all(set(alloc['resources']) == {'VGPU'}
                   for alloc in candidate['allocations'].values()), candidate
    assert _PoolsWithoutProvider.pools
    for pf, pools in _PoolsWithoutProvider.pools:
        assert [p['rp_uuid'] for p in pools] in ([pf], [])
        assert all(p['dev_type'] == 'type-VF' and
                   0 < p['count'] <= fleet_lib.VFS_PER_HOST for p in pools)


def test_the_ground_truth_is_nova_s_same_mdev_type():
    fleet = fleet_lib.build_fleet(SIZE['hosts'], SIZE['servers'])
    t4 = [h for h in fleet.hosts.values() if h.family.name == 'nvidia-t4']
    types = {h.branch[2] for h in t4}
    assert len(types) == 2
    a, b = (next(h for h in t4 if h.branch[2] == t) for t in sorted(types))
    # The same driver branch, so the rules alone would accept.
    b.branch = a.branch[:2] + (b.branch[2],)
    assert rules.check(a.document, b.document).compatible
    assert not truth.gpu_compatible(a, b)
    assert truth.gpu_compatible(a, dataclasses.replace(b, branch=a.branch))


@pytest.fixture(scope='module')
def per_migration(simulated):
    """The project's strategy, the filter run for each migration."""
    fleet, _results = simulated
    return simulation.run_strategy(
        real_filter.Project, fleet,
        orders.naive_waves(fleet, SIZE['wave_size']))


def test_the_batched_simulation_decides_as_the_per_migration_one(
        simulated, per_migration):
    fleet, results = simulated
    batched = {r.strategy: r for r in results}[real_filter.Project.name]
    assert batched.filter_runs < per_migration.filter_runs
    # The same destination (host and GPU) for every migration of every
    # server, in the same order, and so the same figures.
    assert batched.decisions == per_migration.decisions
    assert len(batched.decisions) >= len(fleet.servers)
    for figure in ('migrations', 'failed', 'stranded', 'downtime_servers',
                   'hosts_not_upgraded', 'stranded_per_wave'):
        assert getattr(batched, figure) == getattr(per_migration, figure)


# Waves of the wave cache test.  The cache lives for one wave, so a few
# waves (each after hosts were upgraded) show what all of them do; the
# run without it is the slowest of the module (60 CPU-seconds on all 10).
CACHE_WAVES = 4


def test_the_wave_cache_changes_no_decision(simulated, per_migration):
    fleet, _results = simulated
    waves = orders.naive_waves(fleet, SIZE['wave_size'])[:CACHE_WAVES]
    cached, uncached = (simulation.run_strategy(
        real_filter.Project, fleet, waves, cache=cache)
        for cache in (True, False))
    assert len(cached.decisions) < len(per_migration.decisions)
    assert cached.decisions == per_migration.decisions[
        :len(cached.decisions)]
    assert uncached.decisions == cached.decisions
    assert uncached.placement_calls == uncached.placement_reads_asked
    assert cached.placement_reads_asked == uncached.placement_reads_asked
    assert cached.placement_calls < uncached.placement_calls


def _placement_content(placement):
    """``{provider name: (parent name, traits, {class: total})}``."""
    pl = placement.sdk.placement
    providers = pl.get('/resource_providers',
                       microversion='1.14').json()['resource_providers']
    names = {rp['uuid']: rp['name'] for rp in providers}
    out = {}
    for rp in providers:
        traits = pl.get('/resource_providers/%s/traits' % rp['uuid'],
                        microversion='1.6').json()['traits']
        inventories = pl.get('/resource_providers/%s/inventories'
                             % rp['uuid'], microversion='1.6').json()
        out[rp['name']] = (names.get(rp['parent_provider_uuid']),
                           sorted(traits), {
                               rc: inv['total'] for rc, inv in
                               inventories['inventories'].items()})
    return out


def test_the_bulk_publish_writes_what_the_reporter_writes():
    # A fleet where hosts share a signature (the bulk copies) and some
    # do not (published by the reporter alone).
    fleet = fleet_lib.build_fleet(20, 8)
    assert len({h.signature for h in fleet.hosts.values()}) < 20
    contents = []
    for make in (real_filter.Project, batched_lib.Batched):
        hosts = fleet.copy()
        placement = local_placement.in_process()
        try:
            strategy = make(placement)
            real_filter.with_placement(placement,
                                       lambda: strategy.publish(hosts))
            before = _placement_content(placement)
            # Upgrade the hosts with no server (as the simulation would).
            on_host = hosts.by_host()
            upgraded = [h for h in hosts.hosts.values()
                        if not on_host.get(h.name)]
            for host in upgraded:
                host.upgrade()
            assert len({h.signature for h in upgraded}) < len(upgraded)
            real_filter.with_placement(placement,
                                       lambda: strategy.upgraded(upgraded))
            contents.append((before, _placement_content(placement)))
        finally:
            placement.close()
    (per_host, per_host_after), (bulk, bulk_after) = contents
    assert len(per_host) == 20 * 4
    assert bulk == per_host
    assert bulk_after == per_host_after
    assert bulk_after != bulk


def test_no_strategy_keeps_a_forced_server_running(simulated, oracle):
    fleet, results = simulated
    forced = orders.forced_downtime(fleet)
    assert forced
    simulation.with_bound(results + [oracle], forced)
    simulation.check_invariants(fleet, results + [oracle], oracle=oracle,
                                forced=forced)
    for r in results + [oracle]:
        assert r.forced == len(forced)
        assert r.avoidable >= 0
        assert r.hosts_upgraded + r.hosts_not_upgraded == len(fleet.hosts)
    # A result that kept a forced server running is caught.
    kept = dataclasses.replace(results[-1], downtime_servers=[])
    with pytest.raises(simulation.InvariantError, match='bound'):
        simulation.check_invariants(fleet, results + [kept],
                                    forced=forced)


def test_every_strategy_saw_the_same_fleet_and_waves(simulated):
    fleet, results = simulated
    assert {r.fingerprint for r in results} == {fleet.fingerprint()}
    assert len({tuple(r.sequence) for r in results}) == 1
    waves = results[0].sequence
    assert sorted(h for w in waves for h in w) == sorted(fleet.hosts)
    assert all(len(r.failed_per_wave) == len(waves) for r in results)


def test_a_strategy_ignoring_the_accept_traits_is_caught(simulated):
    fleet, results = simulated
    broken = simulation.run_strategy(
        real_filter.IgnoresAcceptTraits, fleet,
        orders.naive_waves(fleet, SIZE['wave_size']))
    assert broken.failed > 0
    with pytest.raises(simulation.InvariantError, match='rules refuse'):
        simulation.check_invariants(
            fleet, results + [broken],
            project=(real_filter.Project, real_filter.IgnoresAcceptTraits))


def test_a_strategy_on_another_fleet_is_caught(simulated):
    fleet, results = simulated
    other = fleet_lib.build_fleet(SIZE['hosts'], SIZE['servers'], seed=1)
    stray = simulation.run(other, strategies.TryAndSee(),
                           orders.naive_waves(other, SIZE['wave_size']))
    with pytest.raises(simulation.InvariantError, match='same fleet'):
        simulation.check_invariants(fleet, results + [stray])


def test_the_preflight_order_keeps_the_invariants(simulated, oracle):
    fleet, _results = simulated
    preflight = simulation.preflight_order(fleet, SIZE['wave_size'])
    assert preflight.failed == 0 and preflight.needlessly_refused == 0
    # Every host is taken in one wave or another, once.
    hosts = [h for w in preflight.sequence for h in w]
    assert sorted(hosts) == sorted(fleet.hosts)
    # The rules, on the same waves, decide the same: the order table
    # (run with the rules) is the project's.
    same = simulation.run(fleet, strategies.RulesOracle(),
                          [list(w) for w in preflight.sequence])
    assert same.decisions == preflight.decisions


def test_the_plot_is_a_png_with_one_line_per_strategy(simulated, tmp_path):
    _fleet, results = simulated
    path = tmp_path / 'failures.png'
    upgrade_report.plot(results, str(path))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_two_processes_print_the_tables_of_one():
    # ``--processes 2`` (the default) runs the two PCI modes side by side
    # in two worker processes, each with its own Placement, while this
    # one runs the orders: every table and note is the same as one
    # process prints, the times aside.
    size = dict(hosts=10, servers=60, wave_size=2, seed=0, plot=None,
                rst=False)

    def table(title, headers, rows, rst):
        keep = [i for i, h in enumerate(headers)
                if not h.endswith('time (s)')]
        return (title, [headers[i] for i in keep],
                [[row[i] for i in keep] for row in rows])

    def report(processes):
        emitted = []
        children = os.times().children_user
        assert upgrade_report.report(
            argparse.Namespace(processes=processes, **size),
            emitted.append, table) == 0
        return emitted, os.times().children_user - children

    one, one_children = report(1)
    two, two_children = report(2)
    assert two[:-1] == one[:-1]
    assert one_children == 0 and two_children > 0
    assert one[-1].endswith('(one process).\n')
    assert 'two worker processes' in two[-1]


def test_the_preflight_order_is_no_worse_than_name_order():
    # On a fleet large enough for the order to matter more than where
    # each server happens to land (on a few hosts it is noise either
    # way); with the rules as the strategy, which decide what the
    # project's filter decides (checked above), so it takes seconds.
    size = simulation.ORDER_CHECK
    fleet = fleet_lib.build_fleet(size['hosts'], size['servers'])
    naive = simulation.run(fleet, strategies.RulesOracle(), orders.naive_waves(
        fleet, size['wave_size']))
    preflight = simulation.run(fleet, strategies.RulesOracle(),
                               orders.preflight_waves(size['wave_size']))
    simulation.check_order(naive, preflight)
    # With the hosts a drain left kept disabled both reach the bound.
    simulation.with_bound([naive, preflight], orders.forced_downtime(fleet))
    assert preflight.avoidable == naive.avoidable == 0
    # Every host is in a wave and a host its drain left stays disabled:
    # the servers stranded are those needing downtime, one figure.
    assert preflight.stranded == preflight.downtime
    # A worse order is caught: by that figure, and by what it does not
    # see -- a host left out of the waves (an empty one: never upgraded,
    # no server stranded) or a longer upgrade (one wave more).
    *first, last = preflight.sequence
    for worse in (dataclasses.replace(preflight, stranded=naive.stranded + 1),
                  dataclasses.replace(preflight, downtime_servers=(
                      naive.downtime_servers + ['one more'])),
                  dataclasses.replace(preflight, sequence=first + [last[1:]]),
                  dataclasses.replace(preflight, sequence=first + [
                      last[:1], last[1:]])):
        with pytest.raises(simulation.InvariantError, match='pre-flight'):
            simulation.check_order(naive, worse)


class _Watching:
    """A strategy that notes each move onto a host an earlier wave left.

    It learns the waves and the hosts upgraded through the simulation's
    hooks, not from the simulation's own record of disabled hosts.
    """

    def __init__(self, strategy):
        self.strategy = strategy
        self.name, self.retries = strategy.name, strategy.retries
        self.held_back = set()
        self.onto_held_back = []
        self._wave = ()

    def start_wave(self, fleet, wave, on_host):
        self._wave = tuple(wave)

    def upgraded(self, hosts):
        self.held_back.update(
            set(self._wave) - {h.name for h in hosts})

    def choose(self, fleet, server, options):
        choice = self.strategy.choose(fleet, server, options)
        if choice is not None and choice[0] in self.held_back:
            self.onto_held_back.append((server.name, choice[0]))
        return choice


@pytest.mark.parametrize('make', [strategies.RulesOracle,
                                  strategies.NovaNative,
                                  strategies.TryAndSee])
def test_no_server_moves_onto_a_host_its_drain_left(make):
    # A host whose drain left a server on it stays disabled, as an
    # operator leaves it: a server moved onto it later would stay on the
    # old branch with it.  Every strategy drains the same way.  On this
    # fleet servers of later waves did move onto such hosts before.
    fleet = fleet_lib.build_fleet(SIZE['hosts'], SIZE['servers'])
    watching = _Watching(make())
    result = simulation.run(fleet, watching, orders.naive_waves(
        fleet, SIZE['wave_size']))
    assert watching.held_back, 'no host was left: the test shows nothing'
    assert result.hosts_not_upgraded == len(watching.held_back)
    assert watching.onto_held_back == []
