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

"""Which hosts to upgrade first: the order of a rolling upgrade.

Pure: no I/O.  Input: the device providers of the fleet with the trait
sets they publish now (:class:`compatibility.Provider`), the trait sets
each host not upgraded yet will publish after its upgrade (``--assume``,
:mod:`.assume`) and the servers of each host.

A host can only be upgraded once its servers have left it, and a server
can only go where a device accepts its streams.  The order:

* **Upgrades that lose nothing go first.**  A device whose upgrade keeps
  accepting every stream it accepts now (forward minor compatibility: the
  new driver takes the older minors) is, once upgraded, a destination for
  at least as many servers as before, usually more: the hosts not
  upgraded yet drain into it.  A device whose upgrade stops accepting
  streams the fleet still emits (a major break, a renamed mdev type)
  removes destinations: upgrading it early spends the capacity that the
  servers still on the old branch need.  Hosts go by the number of such
  devices, fewest first.
* **Then the hosts with the most servers**: drained while there is room
  elsewhere; a host left for the end, when the destinations of a major
  break are full, strands what it holds, best little.
* **Waves mix the kinds of hosts** (:func:`spread_wave`): a wave made of
  hosts alike would take all of a family's destinations out at once.

Why not "the hosts whose drain plan is complete first" (the order the
benchmark used before): it puts off the hosts of a major break until
their family's other hosts are upgraded, so they strand everything they
hold; and it ranks hosts one at a time, each against all the free
capacity, although the hosts of a wave share it.

Ties go by host name, so the order is reproducible.
"""

import collections

from nova_vfio_compat.planning import compatibility


def loses(now, after, emitted):
    """Does a host stop accepting a stream of ``emitted`` it accepts now?

    :param now: the trait sets of the host's device providers now.
    :param after: the same, as assumed after the upgrade.
    :param emitted: the stream sets (frozensets of emit traits) the
        fleet's devices emit.
    """
    for streams in emitted:
        if (any(compatibility.accepts(t, streams) for t in now) and
                not any(compatibility.accepts(t, streams) for t in after)):
            return True
    return False


def upgrade_order(providers, assumed, servers, candidates=None):
    """The hosts of ``candidates`` in the order to upgrade them.

    :param providers: the fleet's device providers, as published now.
    :param assumed: ``{provider uuid: trait set after the upgrade}`` of
        the providers of hosts not upgraded yet (a provider left out is
        assumed unchanged).
    :param servers: ``{host: [what a server holds, ...]}``; only the
        number of servers of a host is used.
    :param candidates: the hosts to order (default: every host with a
        provider in ``assumed``).
    :returns: a list of host names, the first to upgrade first.
    """
    by_uuid = {p.uuid: p for p in providers}
    by_host = collections.defaultdict(list)
    for p in providers:
        by_host[p.host].append(p)
    if candidates is None:
        candidates = sorted({by_uuid[u].host for u in assumed
                             if u in by_uuid})
    emitted = frozenset(p.streams for p in providers if p.streams)
    lost = {}

    def losses(host):
        count = 0
        for p in by_host[host]:
            key = (p.traits, assumed.get(p.uuid, p.traits))
            if key not in lost:
                lost[key] = loses([key[0]], [key[1]], emitted)
            count += lost[key]
        return count

    return sorted(candidates, key=lambda host: (
        losses(host), -len(servers.get(host, ())), host))


def families(host_providers):
    """The device families a host's providers emit streams of."""
    out = set()
    for p in host_providers:
        for stream in p.streams:
            parsed = compatibility.version(stream)
            if parsed:
                out.add(parsed[0])
    return frozenset(out)


def spread_wave(providers, ranked, size):
    """The next wave: ``size`` hosts of ``ranked``, the kinds mixed.

    The first hosts of ``ranked`` of each kind of host (the device
    families it has), each kind taking its share of ``size`` in
    proportion to its hosts among ``ranked``.  A wave made of hosts alike
    would take all of a family's destinations out at once: its servers
    could only go to the hosts of the family outside the wave.
    """
    by_host = collections.defaultdict(list)
    for p in providers:
        by_host[p.host].append(p)
    groups = collections.defaultdict(list)
    for host in ranked:
        groups[families(by_host[host])].append(host)
    total = len(ranked)
    shares = {g: len(h) * size / total for g, h in groups.items()}
    counts = {g: int(s) for g, s in shares.items()}
    # Largest remainders first; ties by the group's first host's rank.
    rank = {h: i for i, h in enumerate(ranked)}
    rest = sorted(groups, key=lambda g: (-(shares[g] - counts[g]),
                                         rank[groups[g][0]]))
    for g in rest[:max(0, min(size, total) - sum(counts.values()))]:
        counts[g] += 1
    chosen = {h for g, hosts in groups.items() for h in hosts[:counts[g]]}
    return [h for h in ranked if h in chosen]
