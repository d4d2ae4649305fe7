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

"""The forced-downtime bound against brute force on small fleets.

For fleets of 3 to 5 hosts and a few servers (hypothesis makes them, from
real documents' traits), :func:`least_downtime` tries every order of the
upgrades and every choice of live-migration destinations, with the
capacity of each device: the bound is never above the least downtime of
any of them, and equal to it on the fleets where the reference page says
it is tight.
"""

import collections
import functools
import heapq
import itertools

import hypothesis
from hypothesis import strategies as st

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.model import traits
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import forced


@functools.lru_cache(maxsize=None)
def _traits(major, minor, minor_min, subsys):
    doc = bench_fleet.document(major, minor, minor_min, subsys)
    return frozenset(traits.document_traits(doc)) | {'OWNER_NOVA'}


# Branches before the upgrade: (major, minor, lowest minor accepted,
# subsystem id; another subsystem id is another stream, as a renamed
# mdev type is).
BEFORE = [(1, 0, 0, 0x12a2), (1, 1, 0, 0x12a2), (1, 2, 1, 0x12a2),
          (1, 3, 3, 0x12a2), (1, 1, 0, 0x12a3)]
# Targets: a minor upgrade taking every 1.x, one taking only 1.2 and up,
# a major break, and the other subsystem's minor upgrade.
AFTER = [(1, 4, 0, 0x12a2), (1, 4, 2, 0x12a2), (2, 0, 0, 0x12a2),
         (1, 4, 0, 0x12a3)]


class Fleet:
    """Hosts with one or two devices each, and single-device servers."""

    def __init__(self, devices, servers, upgrading):
        # devices: [(host, capacity, traits now, traits after)]
        self.devices = devices
        self.servers = servers          # [device index] per server
        self.upgrading = frozenset(upgrading)

    def providers(self):
        return [compatibility.Provider('d%d' % i, 'd%d' % i, host, now)
                for i, (host, _, now, _) in enumerate(self.devices)]

    def assumed(self):
        return {'d%d' % i: after for i, (host, _, _, after)
                in enumerate(self.devices) if host in self.upgrading}

    def bound(self):
        return len(forced.forced(
            self.providers(), self.assumed(),
            {'s%d' % n: ['d%d' % i] for n, i in enumerate(self.servers)},
            self.upgrading))


def least_downtime(fleet):
    """The least downtime over every order and choice of destinations.

    A state is the set of hosts upgraded and where the servers still
    running are (servers are alike but for their device).  A step is a
    live migration (to a device of another host, as it is then, that
    accepts the streams of the server's device as it is then and has
    room: no downtime) or the upgrade of a host (each server still on it
    is stopped: one downtime each, and it leaves the fleet, the most
    favourable choice for the others).  Dijkstra's search: an upgrade
    may stop several servers at once.
    """
    devices = fleet.devices
    hosts = sorted(fleet.upgrading)

    def traits_of(i, upgraded):
        host, _, now, after = devices[i]
        return after if host in upgraded else now

    start = (frozenset(), tuple(sorted(fleet.servers)))
    best = {start: 0}
    queue = [(0, 0, start)]
    count = itertools.count(1)
    while queue:
        cost, _, state = heapq.heappop(queue)
        if best[state] < cost:
            continue
        upgraded, where = state
        if len(upgraded) == len(hosts):
            return cost
        steps = []
        for host in hosts:
            if host not in upgraded:
                left = tuple(i for i in where if devices[i][0] != host)
                steps.append((len(where) - len(left),
                              (upgraded | {host}, left)))
        used = collections.Counter(where)
        for n, i in enumerate(where):
            if n and where[n - 1] == i:
                continue
            streams = traits.emitted(traits_of(i, upgraded))
            for j, (host, capacity, _, _) in enumerate(devices):
                if (host != devices[i][0] and used[j] < capacity and
                        compatibility.accepts(traits_of(j, upgraded),
                                              streams)):
                    moved = list(where)
                    moved[n] = j
                    steps.append((0, (upgraded, tuple(sorted(moved)))))
        for extra, nxt in steps:
            if best.get(nxt, cost + extra + 1) > cost + extra:
                best[nxt] = cost + extra
                heapq.heappush(queue, (cost + extra, next(count), nxt))
    raise AssertionError('the upgrade never ends')


@st.composite
def fleets(draw, tight=False):
    """A fleet of 3 to 5 hosts; ``tight``: one the bound is exact on.

    Tight (the reference page's conditions): one device per host, room
    for every server on every device, every host upgraded, and each
    target carried by more hosts than there are servers.
    """
    n_hosts = draw(st.integers(3, 5))
    n_servers = draw(st.integers(1, 2 if tight else 4))
    devices = []
    for h in range(n_hosts):
        host = 'h%d' % h
        for _ in range(1 if tight else draw(st.integers(1, 2))):
            capacity = n_servers if tight else draw(st.integers(1, 2))
            before = _traits(*draw(st.sampled_from(BEFORE)))
            devices.append((host, capacity, before, None))
    if tight:
        # One target per kind of device, carried by more hosts than
        # there are servers.
        groups = draw(st.integers(1, max(1, n_hosts // (n_servers + 1))))
        targets = [_traits(*draw(st.sampled_from(AFTER)))
                   for _ in range(groups)]
        per = n_hosts // groups
        devices = [(host, cap, now, targets[min(i // per, groups - 1)])
                   for i, (host, cap, now, _) in enumerate(devices)]
        upgrading = {d[0] for d in devices}
    else:
        devices = [(host, cap, now, _traits(*draw(st.sampled_from(AFTER))))
                   for host, cap, now, _ in devices]
        hosts = sorted({d[0] for d in devices})
        upgrading = draw(st.sets(st.sampled_from(hosts), min_size=1))
    servers = []
    for _ in range(n_servers):
        roomy = [i for i, d in enumerate(devices)
                 if servers.count(i) < d[1]]
        if roomy:
            servers.append(draw(st.sampled_from(roomy)))
    return Fleet(devices, servers, upgrading)


@hypothesis.given(fleets())
def test_no_order_has_less_downtime_than_the_bound(fleet):
    assert fleet.bound() <= least_downtime(fleet)


@hypothesis.given(fleets(tight=True))
def test_the_bound_is_the_least_downtime_where_it_is_tight(fleet):
    assert fleet.bound() == least_downtime(fleet)


def _fleet(*devices, servers, upgrading=None):
    return Fleet(list(devices), list(servers),
                 upgrading or {d[0] for d in devices})


def test_a_major_break_forces_every_server_of_the_old_branch():
    old, new = _traits(1, 1, 0, 0x12a2), _traits(2, 0, 0, 0x12a2)
    fleet = _fleet(('h0', 4, old, new), ('h1', 4, old, new),
                   ('h2', 4, old, new), servers=[0, 0, 1])
    result = forced.forced(fleet.providers(), fleet.assumed(),
                           {'s0': ['d0'], 's1': ['d1'], 's2': ['d2']})
    assert sorted(result) == ['s0', 's1', 's2']
    assert 'no device accepts' in result['s0'].reason
    assert fleet.bound() == least_downtime(fleet) == 3


def test_a_minor_upgrade_forces_nothing():
    fleet = _fleet(('h0', 2, _traits(1, 3, 3, 0x12a2),
                    _traits(1, 4, 0, 0x12a2)),
                   ('h1', 2, _traits(1, 0, 0, 0x12a2),
                    _traits(1, 4, 0, 0x12a2)),
                   ('h2', 2, _traits(1, 1, 0, 0x12a2),
                    _traits(1, 4, 0, 0x12a2)), servers=[0, 1])
    assert fleet.bound() == least_downtime(fleet) == 0


def test_a_host_the_upgrade_leaves_alone_keeps_servers_running():
    # The break's servers can go to h2, which stays on 1.x.
    old, new = _traits(1, 1, 0, 0x12a2), _traits(2, 0, 0, 0x12a2)
    fleet = _fleet(('h0', 2, old, new), ('h1', 2, old, new),
                   ('h2', 2, old, old), servers=[0, 1],
                   upgrading={'h0', 'h1'})
    assert fleet.bound() == least_downtime(fleet) == 0


def test_a_path_through_an_older_host():
    # The target takes 1.2 and up; h1's 1.0 only h2's old 1.2 takes,
    # whose own 1.2 the target takes: h1 -> h2 -> an upgraded host.
    fleet = _fleet(('h0', 2, _traits(1, 3, 3, 0x12a2),
                    _traits(1, 4, 2, 0x12a2)),
                   ('h1', 2, _traits(1, 0, 0, 0x12a2),
                    _traits(1, 4, 2, 0x12a2)),
                   ('h2', 2, _traits(1, 2, 0, 0x12a2),
                    _traits(1, 4, 2, 0x12a2)), servers=[1])
    assert fleet.bound() == least_downtime(fleet) == 0


def test_where_it_is_not_tight_two_hosts_waiting_for_each_other():
    # Each host's stream is accepted only by the other's target: either
    # host upgraded first must stop its server (the bound sees a path
    # for each, but not the order both need).
    a, b = _traits(1, 1, 0, 0x12a2), _traits(1, 1, 0, 0x12a3)
    fleet = _fleet(('h0', 1, a, _traits(1, 4, 0, 0x12a3)),
                   ('h1', 1, b, _traits(1, 4, 0, 0x12a2)),
                   ('h2', 1, _traits(2, 0, 0, 0x12a2),
                    _traits(2, 0, 0, 0x12a2)), servers=[0, 1])
    assert fleet.bound() == 0
    assert least_downtime(fleet) == 1


def test_a_server_cannot_wait_on_its_own_host():
    # Only h0's own target takes its stream: it must leave h0 before the
    # upgrade, and nothing else takes it.
    other = _traits(1, 1, 0, 0x12a2)
    fleet = _fleet(('h0', 2, _traits(1, 1, 0, 0x12a3),
                    _traits(1, 4, 0, 0x12a3)),
                   ('h1', 2, other, other), ('h2', 2, other, other),
                   servers=[0])
    assert fleet.bound() == least_downtime(fleet) == 1
