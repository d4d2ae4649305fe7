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

"""The rolling-upgrade planner (pure), on the brute-force test's fleets.

Every planned move is one the filter's per-host decision
(:meth:`selection.decision.Streams.check`, given what its Placement query
would answer) and ``drain`` (:func:`drain.admissible`) both accept, with
the devices as they are in that wave; no device is overcommitted; every
host is upgraded once; the downtime is never below the bound.
"""

import collections

import hypothesis

from nova_vfio_compat.model import traits
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain
from nova_vfio_compat.planning import upgrade
from nova_vfio_compat.selection import decision
from tests.unit.planning import test_forced

RC = 'VGPU'


def _inputs(fleet):
    providers = {p.uuid: p for p in fleet.providers()}
    used = collections.Counter(fleet.servers)
    free = {('d%d' % i, RC): capacity - used[i]
            for i, (_, capacity, _, _) in enumerate(fleet.devices)}
    servers = [drain.Server('s%d' % n, (drain.Device(
        'd%d' % i, 'd%d' % i, ((RC, 1),), providers['d%d' % i].streams),))
        for n, i in enumerate(fleet.servers)
        if fleet.devices[i][0] in fleet.upgrading]
    return providers, fleet.assumed(), servers, free


def _plan(fleet, wave_size=1):
    providers, assumed, servers, free = _inputs(fleet)
    return upgrade.plan(providers, assumed, fleet.upgrading, servers, free,
                        wave_size)


def filter_accepts(server, option, providers):
    """The filter's per-host decision, fed what Placement would answer.

    Placement answers "which providers carry any accept name of this
    stream" (``required=in:``), each with its root; the roots carry
    none of their GPUs' traits.
    """
    sources = [decision.SourceDevice(
        d.provider, d.name, frozenset(d.streams) | {'OWNER_NOVA'},
        frozenset(rc for rc, _ in d.resources)) for d in server.devices]
    accepting = collections.defaultdict(dict)
    for source in sources:
        for stream in source.streams:
            names = traits.accept_traits_for(stream)
            for p in providers.values():
                if not names.isdisjoint(p.traits):
                    accepting[stream][p.uuid] = 'root-' + p.host
    streams = decision.Streams(sources, accepting)
    candidate = {'allocations': {'root-' + option.host: {
        'resources': {'VCPU': 1}}}}
    for device, uuid in zip(server.devices, option.providers):
        candidate['allocations'].setdefault(uuid, {'resources': {}})
        for rc, amount in device.resources:
            candidate['allocations'][uuid]['resources'][rc] = amount
    passes, kept = streams.check('root-' + option.host, [candidate])
    return passes and kept is None


@hypothesis.given(test_forced.fleets())
def test_every_move_is_one_the_filter_and_drain_accept(fleet):
    result = _plan(fleet)
    providers = {p.uuid: p for p in fleet.providers()}
    # Where every server is, and the room left, replayed move by move.
    at = {'s%d' % n: 'd%d' % i for n, i in enumerate(fleet.servers)}
    capacity = {'d%d' % i: d[1] for i, d in enumerate(fleet.devices)}
    upgraded = set()
    for wave in result.waves:
        assert not upgraded & set(wave.hosts)
        for consumer, (server, option) in wave.moves.items():
            assert at[consumer] == server.devices[0].provider
            source = wave.providers[server.devices[0].provider].host
            assert source in wave.hosts
            assert option.host not in wave.hosts
            # the same decision code: drain's and the filter's
            assert drain.admissible(server, option, wave.providers, source)
            assert filter_accepts(server, option, wave.providers)
            assert compatibility.accepts(
                wave.providers[option.providers[0]].traits, server.streams)
            # the devices as they are in that wave
            for uuid in option.providers:
                host = providers[uuid].host
                expected = (fleet.assumed()[uuid] if host in upgraded
                            else providers[uuid].traits)
                assert wave.providers[uuid].traits == expected
            at[consumer] = option.providers[0]
        held = collections.Counter(at.values())
        assert all(held[uuid] <= capacity[uuid] for uuid in held)
        stopped = {d.server.consumer for d in wave.downtime}
        # every server on a host of the wave left it or is stopped
        for consumer, uuid in at.items():
            if providers[uuid].host in wave.hosts:
                assert consumer in stopped
        upgraded.update(wave.hosts)
    assert upgraded == set(fleet.upgrading)
    assert result.bound <= result.planned
    assert result.avoidable == result.planned - result.bound
    assert result.bound == fleet.bound()
    # a plan is one of the executions the brute force tries
    assert result.planned >= test_forced.least_downtime(fleet)


@hypothesis.given(test_forced.fleets(), hypothesis.strategies.integers(1, 3))
def test_waves_of_several_hosts(fleet, size):
    result = _plan(fleet, size)
    assert all(len(w.hosts) <= size for w in result.waves)
    assert sorted(h for w in result.waves for h in w.hosts) == sorted(
        fleet.upgrading)
    assert result.planned >= result.bound


def test_a_major_break_plans_the_forced_downtime_only():
    t = test_forced._traits
    old, new = t(1, 1, 0, 0x12a2), t(2, 0, 0, 0x12a2)
    minor_old, minor_new = t(1, 1, 0, 0x12a3), t(1, 4, 0, 0x12a3)
    fleet = test_forced.Fleet(
        [('h0', 2, old, new), ('h1', 2, minor_old, minor_new),
         ('h2', 2, minor_old, minor_new), ('h3', 2, old, new)],
        [0, 1, 1], {'h0', 'h1', 'h2', 'h3'})
    result = _plan(fleet)
    assert (result.planned, result.bound, result.avoidable) == (1, 1, 0)
    (down,) = [d for w in result.waves for d in w.downtime]
    assert down.server.consumer == 's0' and down.why == upgrade.FORCED
    assert 'no device accepts' in down.reason
    # the forced server is not moved first: it would take h3's room
    assert all('s0' not in w.moves for w in result.waves)


def test_a_server_stranded_by_capacity_is_avoidable_downtime():
    t = test_forced._traits
    old, new = t(1, 1, 0, 0x12a2), t(1, 4, 0, 0x12a2)
    fleet = test_forced.Fleet(
        [('h0', 2, old, new), ('h1', 1, old, new), ('h2', 0, old, new)],
        [0, 0, 1], {'h0', 'h1', 'h2'})
    result = _plan(fleet)
    assert result.bound == 0
    whys = {d.why for w in result.waves for d in w.downtime}
    assert result.planned == result.avoidable > 0
    assert whys <= {drain.NO_CAPACITY, drain.TAKEN}


def test_a_wave_does_not_send_a_server_where_it_is_doomed():
    # s0 (on h2) emits 1.1 of the first subsystem ID; after the upgrade
    # only h1's second device (renamed to it) takes it.  Once h2 is
    # upgraded, upgrading h0 before h1 strands nobody at once but moves
    # s0 to h1's first device, from where only h1's own target would
    # take it: today's planner did that (one avoidable downtime).  The
    # wave that leaves s0 a way on is h1's.
    t = test_forced._traits
    a, b = 0x12a2, 0x12a3
    fleet = test_forced._fleet(
        ('h0', 1, t(1, 1, 0, a), t(1, 4, 2, a)),
        ('h1', 1, t(1, 1, 0, a), t(1, 4, 0, b)),
        ('h1', 1, t(1, 1, 0, b), t(1, 4, 0, a)),
        ('h2', 1, t(1, 1, 0, a), t(1, 4, 0, b)), servers=[3])
    assert fleet.bound() == test_forced.least_downtime(fleet) == 0
    result = _plan(fleet)
    assert [w.hosts for w in result.waves] == [['h2'], ['h1'], ['h0']]
    assert (result.planned, result.avoidable) == (0, 0)
