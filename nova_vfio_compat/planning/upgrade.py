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

"""A rolling upgrade planned wave by wave (``plan-upgrade``).

Pure: no I/O.  The planner plays the upgrade forward on what Placement
has now, nothing is written:

1. the next wave, host by host: of the hosts not upgraded yet, in
   :func:`order.upgrade_order` (upgrades that lose no accepted stream
   first, then the hosts with the most servers), the first of the next
   :data:`LOOKAHEAD` whose servers, with those of the hosts already in
   the wave, leave the fewest without a destination (a host whose
   upgrade adds destinations before the hosts that need them) or moved
   where no order of the rest of the upgrade keeps them running (the
   bound of what is left after the wave);
2. the servers on the wave's hosts that are not *forced*
   (:mod:`.forced`: no order keeps them running) are assigned live
   migration destinations outside the wave by :func:`drain.plan`, from
   the options :func:`drain.admissible` admits (the devices' trait sets
   as they are at that point of the upgrade: upgraded hosts with their
   assumed traits); the destinations' capacity is what Placement has now,
   less what the earlier waves planned to take;
3. every server of the wave left without a destination needs downtime:
   a forced one with the bound's reason, another with :func:`drain.explain`'s
   (stranded by capacity, or by this plan's choices: avoidable);
4. the wave's hosts are upgraded: their devices take the assumed traits,
   the servers that stayed (stopped, started again after the upgrade)
   emit the new streams.

A forced server is not live-migrated first: it would only take a
destination another server needs, and it needs downtime anyway.

The destinations outside the hosts of the upgrade (hosts it leaves
alone) are found through ``discover``, which the Placement adapter
implements with one query per distinct device demand: the planner asks
it once at the start for the demands of every server, and then once per
wave for the demands its moves created (a server emits its
destination's streams) that it has not asked about yet.
"""

import collections
import dataclasses
import itertools

from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning import forced as nvc_forced
from nova_vfio_compat.planning import order

FORCED = 'forced'
# How many hosts, in upgrade order, are tried for each place in a wave.
LOOKAHEAD = 16


@dataclasses.dataclass(frozen=True)
class Downtime:
    """A server that must be stopped (or cold-migrated) for ``host``.

    ``why`` is :data:`FORCED` (no order keeps it running: counted in the
    bound) or one of :mod:`.drain`'s reasons (:data:`drain.INCOMPATIBLE`,
    :data:`drain.NO_CAPACITY`, :data:`drain.TAKEN`): avoidable by some
    other plan, or by more capacity.
    """

    server: nvc_drain.Server
    host: str
    why: str
    reason: str


@dataclasses.dataclass
class Wave:
    """The hosts upgraded together, the moves before, the downtime."""

    hosts: list
    moves: dict         # consumer -> (drain.Server as it was, drain.Option)
    downtime: list      # [Downtime]
    # the providers as they are when the wave's moves are decided
    providers: dict = dataclasses.field(repr=False, default_factory=dict)


@dataclasses.dataclass
class UpgradePlan:
    waves: list
    forced: dict        # consumer -> forced.Forced

    @property
    def planned(self):
        """The servers that need downtime in this plan."""
        return len({d.server.consumer for w in self.waves
                    for d in w.downtime})

    @property
    def bound(self):
        return len(self.forced)

    @property
    def avoidable(self):
        return self.planned - self.bound


class _Fleet:
    """The fleet as the plan has it at some point of the upgrade."""

    def __init__(self, providers, free, servers, names, discover):
        self.current = dict(providers)      # uuid -> Provider, as now
        self.left = dict(free)              # (uuid, rc) -> free
        self.where = {s.consumer: s for s in servers}
        self.names = dict(names or {})
        self._discover = discover
        self._asked = set()

    def host_of(self, server):
        return self.current[server.devices[0].provider].host

    def by_host(self):
        out = collections.defaultdict(list)
        for uuid, p in self.current.items():
            out[p.host].append(uuid)
        return out

    def learn(self, servers):
        """Ask ``discover`` about the demands not asked about yet."""
        demands = {(d.resources, d.streams) for s in servers
                   for d in s.devices} - self._asked
        if self._discover is None or not demands:
            return
        self._asked |= demands
        found, room = self._discover(demands)
        for uuid, p in found.items():
            if uuid not in self.current:
                self.current[uuid] = p
                self.names.setdefault(uuid, p.name)
        for key, amount in room.items():
            self.left.setdefault(key, amount)

    def options(self, server, excluded, by_host):
        """The admissible options of ``server`` with room, by trait sets.

        :func:`drain.admissible` on the devices as they are now.
        """
        source = self.host_of(server)
        out = []
        for host in sorted(by_host):
            if host in excluded or host == source:
                continue
            per_device = []
            for device in server.devices:
                per_device.append([
                    uuid for uuid in by_host[host]
                    if all((uuid, rc) in self.left
                           for rc, _ in device.resources)])
            for providers in itertools.product(*per_device):
                option = nvc_drain.Option(host, providers)
                if nvc_drain.admissible(server, option, self.current,
                                        source) and nvc_drain.fits(
                                            server, option, self.left):
                    out.append(option)
        return out

    def drain(self, servers, excluded, final=None):
        """:func:`drain.plan` of ``servers``, destinations outside.

        With ``final`` (the hosts done with the upgrade: upgraded or left
        alone), the servers go there first, so that they do not move
        again, unless that leaves more of them without a destination.
        """
        by_host = self.by_host()
        options = {s.consumer: self.options(s, excluded, by_host)
                   for s in servers}
        result = nvc_drain.plan(servers, options, self.left, self.names)
        if final is None or not result.assignments:
            return result
        settled = {c: [o for o in found if o.host in final]
                   for c, found in options.items()}
        first = nvc_drain.plan(servers, settled, self.left, self.names)
        left = dict(self.left)
        for consumer, option in first.assignments.items():
            for key, amount in nvc_drain.usage(
                    self.where[consumer], option).items():
                left[key] -= amount
        rest = [s.server for s in first.stranded]
        second = nvc_drain.plan(rest, {s.consumer: options[s.consumer]
                                       for s in rest}, left, self.names)
        if len(second.stranded) > len(result.stranded):
            return result
        return nvc_drain.Plan(dict(first.assignments, **second.assignments),
                              second.stranded)

    def acceptors(self, server, excluded):
        """``{device provider: {destination}}`` whatever their room."""
        return {d.provider: {
            uuid for uuid, p in self.current.items()
            if p.host not in excluded and p.host != self.host_of(server)
            and compatibility.accepts(p.traits, d.streams)}
            for d in server.devices}

    def move(self, server, option):
        for key, amount in nvc_drain.usage(server, option).items():
            self.left[key] -= amount
        for device in server.devices:
            for rc, amount in device.resources:
                key = (device.provider, rc)
                self.left[key] = self.left.get(key, 0) + amount
        self.where[server.consumer] = nvc_drain.Server(
            server.consumer, tuple(
                nvc_drain.Device(uuid, self.names.get(uuid, uuid),
                                 d.resources, self.current[uuid].streams)
                for d, uuid in zip(server.devices, option.providers)),
            server.name)

    def upgrade(self, hosts, assumed):
        """Upgrade ``hosts``: their devices take the assumed traits.

        The servers still on them (stopped for the upgrade) start again
        on them and emit the new streams.
        """
        for uuid, p in list(self.current.items()):
            if p.host in hosts and uuid in assumed:
                self.current[uuid] = dataclasses.replace(
                    p, traits=frozenset(assumed[uuid]))
        for consumer, server in list(self.where.items()):
            if self.host_of(server) in hosts:
                self.where[consumer] = dataclasses.replace(
                    server, devices=tuple(dataclasses.replace(
                        d, streams=nvc_traits.emitted(
                            self.current[d.provider].traits))
                        for d in server.devices))


def _leaving(fleet, hosts, bound):
    """The servers of ``hosts`` to live-migrate: all but the forced."""
    return sorted((s for s in fleet.where.values()
                   if fleet.host_of(s) in hosts and s.consumer not in bound),
                  key=lambda s: s.consumer)


def _doomed(fleet, trial, result, remaining, assumed, bound, outside):
    """The servers a wave of ``trial`` leaves with no way to keep running.

    The bound (:func:`forced.forced`) of the upgrade left after the wave:
    ``trial`` upgraded, the servers moved as ``result`` plans, those of
    the later hosts as they are.  A server moved to a device from which
    no device after the upgrade can be reached any more (the hosts whose
    upgrade would take it are upgraded, or it sits on the only one) needs
    downtime later whatever the plan does then.
    """
    later = remaining - trial
    if not later:
        return 0
    providers = dict(outside)
    providers.update(fleet.current)
    for uuid, p in providers.items():
        if p.host in trial and uuid in assumed:
            providers[uuid] = dataclasses.replace(
                p, traits=frozenset(assumed[uuid]))
    at = {}
    for server in fleet.where.values():
        if server.consumer not in bound and fleet.host_of(server) in later:
            at[server.consumer] = [d.provider for d in server.devices]
    for consumer, option in result.assignments.items():
        if option.host in later:
            at[consumer] = list(option.providers)
    return len(nvc_forced.forced(
        list(providers.values()),
        {u: t for u, t in assumed.items()
         if u in providers and providers[u].host in later}, at, later))


def _next_wave(fleet, remaining, assumed, bound, size, disabled,
               outside=None):
    """Choose the hosts of the next wave, one at a time.

    Of the first :data:`LOOKAHEAD` hosts in upgrade order, the one that
    leaves the fewest servers needing downtime: stranded in this wave,
    or moved where the rest of the upgrade can no longer keep them
    running (:func:`_doomed`).
    """
    wave = []
    outside = outside or {}
    for _ in range(min(size, len(remaining))):
        counts = collections.Counter(
            fleet.host_of(s) for s in fleet.where.values())
        ranked = order.upgrade_order(
            list(fleet.current.values()),
            {u: t for u, t in assumed.items() if u in fleet.current and
             fleet.current[u].host in remaining},
            {h: [None] * n for h, n in counts.items()},
            candidates=sorted(remaining - set(wave)))
        best = None
        for host in ranked[:LOOKAHEAD]:
            trial = set(wave) | {host}
            result = fleet.drain(_leaving(fleet, trial, bound),
                                 trial | disabled)
            lost = len(result.stranded)
            if best is not None and lost >= best[0]:
                continue
            lost += _doomed(fleet, trial, result, remaining, assumed,
                            bound, outside)
            if best is None or lost < best[0]:
                best = (lost, host)
            if not lost:
                break
        wave.append(best[1])
    return wave


def plan(providers, assumed, upgrading, servers, free, wave_size=1,
         disabled=(), discover=None, names=None, outside=None):
    """Plan the upgrade of ``upgrading``.

    :param providers: ``{uuid: compatibility.Provider}``, traits as now,
        of every device provider of the upgrade's hosts and every known
        destination.
    :param assumed: ``{uuid: traits after the upgrade}``.
    :param upgrading: the hosts to upgrade.
    :param servers: the :class:`drain.Server` s on the upgrade's hosts.
    :param free: ``{(uuid, resource class): free now}``.
    :param wave_size: hosts per wave.
    :param disabled: hosts that are no destination.
    :param discover: ``discover(demands)``, with a set of device demands
        ``(resources, streams)`` not asked about before, returns
        ``({uuid: compatibility.Provider}, {(uuid, rc): free})`` to add:
        destinations outside the upgrade.
    :param names: ``{uuid: name}`` for reasons and ties.
    :param outside: ``{uuid: compatibility.Provider}``: every device
        provider outside the upgrade that may take a stream, whatever its
        room, for the bound (default: the known destinations).
    :returns: an :class:`UpgradePlan`.
    """
    if wave_size < 1:
        raise ValueError('wave size %r: at least 1' % wave_size)
    upgrading = frozenset(upgrading)
    disabled = frozenset(disabled)
    fleet = _Fleet(providers, free, servers, names, discover)
    fleet.learn(servers)
    walked = dict(fleet.current)
    walked.update(outside or {})
    bound = nvc_forced.forced(
        list(walked.values()), assumed,
        {s.consumer: [d.provider for d in s.devices] for s in servers},
        upgrading, fleet.names)
    remaining = set(upgrading)
    waves = []
    while remaining:
        hosts = _next_wave(fleet, remaining, assumed, bound, wave_size,
                           disabled, outside)
        wave = set(hosts)
        excluded = wave | disabled
        moving = _leaving(fleet, wave, bound)
        final = {p.host for p in fleet.current.values()} - remaining
        result = fleet.drain(moving, excluded, final)
        downtime = [Downtime(s, fleet.host_of(s), FORCED,
                             bound[s.consumer].reason)
                    for s in fleet.where.values()
                    if fleet.host_of(s) in wave and s.consumer in bound]
        for stranded in result.stranded:
            why = nvc_drain.explain(stranded, fleet.acceptors(
                stranded.server, excluded), fleet.names)
            downtime.append(Downtime(stranded.server,
                                     fleet.host_of(stranded.server),
                                     why.why, why.reason))
        providers_then = dict(fleet.current)
        moves = {}
        for consumer, option in result.assignments.items():
            moves[consumer] = (fleet.where[consumer], option)
            fleet.move(fleet.where[consumer], option)
        fleet.learn(fleet.where[c] for c in moves)
        waves.append(Wave(hosts, moves, sorted(
            downtime, key=lambda d: (d.server.label, d.server.consumer)),
            providers_then))
        fleet.upgrade(wave, assumed)
        remaining -= wave
    return UpgradePlan(waves, bound)
