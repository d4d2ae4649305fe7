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

"""Forced downtime: the servers no order of a rolling upgrade keeps running.

Pure: no I/O.  A lower bound on the downtime of any plan of an upgrade,
from the trait sets alone (the argument is in the rolling-upgrade
reference page).

Every host of the upgrade is emptied before it is upgraded, so a server
on one of them is kept running only by a chain of live migrations that
ends on a device after the upgrade: a device of an upgraded host once it
is upgraded, or of a host the upgrade leaves alone.  A migration takes
it from a device to one of another host that accepts the streams it
emits there, and it then emits that device's streams.  Drop everything
that could stop such a chain (capacity, the time each host is upgraded,
the other servers): what is left is reachability in a graph whose nodes
are the device providers, each as it is now and as it will be.  A
server with a device from which no node after the upgrade is reachable
needs downtime in every order and every choice of destinations: it is
*forced*.  Any plan's downtime is at least the number of forced
servers; :func:`forced` computes them.

The graph is walked per kind of node (a trait set, and whether it is
a state after the upgrade), not per device: every device of a kind
receives the same streams.  Which host the server is on matters only
because it cannot move to its own host, so per kind the walk keeps at
most two of the hosts the server can reach there (from two hosts it
can reach every host of the next kind).  The cost grows with the kinds
squared and the distinct starting points (kind, host), not with the
servers.
"""

import collections
import dataclasses

from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.planning import compatibility


@dataclasses.dataclass(frozen=True)
class Forced:
    """A server no upgrade order keeps running, and why.

    ``device`` names its device provider from which no device after the
    upgrade can be reached; ``streams`` are the emit traits it has there.
    """

    consumer: str
    device: str
    streams: frozenset

    @property
    def reason(self):
        return ('no device accepts %s (emitted by %s) after the upgrade, '
                'directly or through hosts not upgraded yet' % (
                    ', '.join(compatibility.short(s)
                              for s in sorted(self.streams)),
                    self.device))


@dataclasses.dataclass(frozen=True)
class _Kind:
    traits: frozenset
    after: bool          # a state after the upgrade (or a host left alone)


class _Graph:
    """The kinds of the fleet's device states and who accepts whom."""

    def __init__(self, providers, assumed, upgrading):
        self.hosts = collections.defaultdict(set)     # kind -> {host}
        self.kind = {}                                # uuid -> kind now
        for p in providers:
            if p.host in upgrading:
                now = _Kind(p.traits, False)
                then = _Kind(frozenset(assumed.get(p.uuid, p.traits)), True)
                self.hosts[then].add(p.host)
            else:
                now = _Kind(p.traits, True)
            self.kind[p.uuid] = now
            self.hosts[now].add(p.host)
        kinds = sorted(self.hosts, key=lambda k: (sorted(k.traits), k.after))
        streams = {k: nvc_traits.emitted(k.traits) for k in kinds}
        self.edges = {k: [o for o in kinds if streams[k] and
                          compatibility.accepts(o.traits, streams[k])]
                      for k in kinds}

    def reaches_after(self, start, host):
        """Is a state after the upgrade reachable from ``start`` on host?"""
        if start.after:
            return True
        # kind -> up to two hosts the server can be on with that kind
        reach = {start: (host,)}
        queue = collections.deque([start])
        while queue:
            kind = queue.popleft()
            here = reach[kind]
            for other in self.edges[kind]:
                hosts = self.hosts[other]
                if len(here) == 1:
                    hosts = hosts - set(here)
                if not hosts:
                    continue
                if other.after:
                    return True
                known = reach.get(other, ())
                if len(known) >= 2:
                    continue
                grown = tuple(sorted(set(known) | hosts))[:2]
                if len(grown) > len(known):
                    reach[other] = grown
                    queue.append(other)
        return False


def forced(providers, assumed, servers, upgrading=None, names=None):
    """The servers no order of the upgrade keeps running.

    :param providers: the fleet's device providers as published now
        (:class:`compatibility.Provider`).
    :param assumed: ``{provider uuid: trait set after the upgrade}``; a
        provider of an upgraded host left out is assumed unchanged (its
        host is still emptied for the upgrade).
    :param servers: ``{consumer: [device provider uuid, ...]}``: the
        device providers each server holds resources on.
    :param upgrading: the hosts the upgrade takes (default: the hosts
        of the providers in ``assumed``).
    :param names: ``{provider uuid: name}`` for the reasons.
    :returns: ``{consumer: Forced}``; its length is the bound.
    """
    by_uuid = {p.uuid: p for p in providers}
    names = names or {}
    if upgrading is None:
        upgrading = {by_uuid[u].host for u in assumed if u in by_uuid}
    upgrading = frozenset(upgrading)
    graph = _Graph(providers, assumed, upgrading)
    known = {}
    out = {}
    for consumer in sorted(servers):
        for uuid in servers[consumer]:
            provider = by_uuid.get(uuid)
            if provider is None or not provider.streams:
                continue        # not a device this project reports
            key = (graph.kind[uuid], provider.host)
            if key not in known:
                known[key] = graph.reaches_after(*key)
            if not known[key]:
                out[consumer] = Forced(consumer, names.get(uuid, uuid),
                                       provider.streams)
                break
    return out
