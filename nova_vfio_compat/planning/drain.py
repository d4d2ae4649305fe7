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

"""A drain plan: which destination each server of a host moves to.

Pure: no I/O.  The adapter (:mod:`.placement_view`) gives, per server, the
*options* Placement offered: one destination provider per device of the
server, all on one host, each with free capacity now.  This module keeps
the options whose providers accept the device's streams (by trait sets,
through :mod:`.compatibility`), then assigns servers to options without
overcommitting any provider.

The assignment is a greedy, most-constrained server first:

1. among the servers not yet decided, take the one with the fewest options
   that still fit the capacity left (ties: fewer options to begin with,
   then name);
2. if none fits, the server is stranded; otherwise give it the fitting
   option that takes the least contested capacity: for each provider and
   resource class it uses, the amount the other undecided servers could
   still take there, divided by what is left (ties: the host and provider
   names, so the plan is reproducible);
3. repeat until every server is placed or stranded.

A server is only stranded when no option of its fits what is left, and
capacity only shrinks, so at the end no stranded server has an option
that fits: the plan is maximal.  It is not always maximum (that is a
bin-packing problem), which is why servers with few choices go first.
"""

import collections
import dataclasses
import heapq

from nova_vfio_compat.planning import compatibility

# What a plan does not check: Nova's scheduler and the live migration's
# pre-checks still decide on these, so a planned destination may still be
# refused for them.
NOT_CHECKED = (
    'CPU (vCPUs, CPU model and flags)',
    'RAM and disk',
    'NUMA topology, huge pages and CPU pinning',
    'server group (anti-)affinity',
    'hypervisor type and version',
    'resources other than the devices\' (PCPU, VCPU, MEMORY_MB, ...)',
)

INCOMPATIBLE = 'incompatible'
NO_CAPACITY = 'no-capacity'
TAKEN = 'taken'


@dataclasses.dataclass(frozen=True)
class Device:
    """What a server holds on one device provider of the drained host.

    ``resources`` is a sorted tuple of ``(resource class, amount)``;
    ``streams`` the emit traits of the provider (as it is, or as assumed).
    """

    provider: str
    name: str
    resources: tuple
    streams: frozenset

    def describe(self):
        return self.name or self.provider


@dataclasses.dataclass(frozen=True)
class Server:
    """A consumer with device resources on the drained host."""

    consumer: str
    devices: tuple
    name: str = None

    @property
    def label(self):
        return self.name or self.consumer

    @property
    def streams(self):
        return frozenset().union(*(d.streams for d in self.devices))

    def demand(self):
        """What Placement is asked once for every server that shares it."""
        return tuple((d.resources, d.streams) for d in self.devices)


@dataclasses.dataclass(frozen=True)
class Option:
    """A destination: one provider per device of the server, on ``host``."""

    host: str
    providers: tuple


@dataclasses.dataclass(frozen=True)
class Stranded:
    """A server the plan leaves where it is, and why.

    ``why`` is :data:`INCOMPATIBLE` (no other host accepts a stream),
    :data:`NO_CAPACITY` (those that do have no free capacity now) or
    :data:`TAKEN` (the plan gave what would have fitted to other servers).
    """

    server: Server
    why: str
    reason: str


@dataclasses.dataclass
class Plan:
    """``assignments``: consumer -> :class:`Option`, in decision order."""

    assignments: dict
    stranded: list

    @property
    def complete(self):
        return not self.stranded


def usage(server, option):
    """``{(provider, resource class): amount}`` the option would take."""
    used = collections.Counter()
    for device, provider in zip(server.devices, option.providers):
        for rc, amount in device.resources:
            used[(provider, rc)] += amount
    return dict(used)


def fits(server, option, free):
    return all(free.get(key, 0) >= amount
               for key, amount in usage(server, option).items())


def admissible(server, option, providers, source_host):
    """Can ``server`` move to ``option``, by the trait sets alone?

    Every destination provider is known, on ``option.host`` (not the
    drained host) and accepts every stream of the device it receives.
    """
    if option.host == source_host or len(option.providers) != len(
            server.devices):
        return False
    for device, uuid in zip(server.devices, option.providers):
        dest = providers.get(uuid)
        if dest is None or dest.host != option.host or not (
                compatibility.accepts(dest.traits, device.streams)):
            return False
    return True


class _Class:
    """Undecided servers the plan cannot tell apart but by name.

    The same resources per device and the same options: they fit and
    contest the same capacity.  Kept up to date as capacity is taken,
    so that no step rescans every server's options:

    * ``alive``: which options still fit what is left (capacity only
      shrinks, so an option that stops fitting never fits again);
    * ``most``: ``{(provider, rc): largest amount of an alive option}``,
      what one of these servers could still take there, and
      ``amounts`` the counts behind it.
    """

    def __init__(self, index, members, options, free):
        self.index = index
        self.members = sorted(members, key=lambda s: (s.label, s.consumer))
        self.head = 0
        self.options = options
        self.uses = [tuple(usage(self.members[0], o).items())
                     for o in options]
        self.alive = [all(free.get(key, 0) >= amount for key, amount in u)
                      for u in self.uses]
        self.fitting = sum(self.alive)
        self.amounts = collections.defaultdict(collections.Counter)
        for use, alive in zip(self.uses, self.alive):
            for key, amount in use if alive else ():
                self.amounts[key][amount] += 1
        self.most = {key: max(found) for key, found in self.amounts.items()}

    @property
    def undecided(self):
        return len(self.members) - self.head

    def rank(self):
        """The order of :func:`plan`'s step 1, for the next member."""
        server = self.members[self.head]
        return (self.fitting, len(self.options), server.label,
                server.consumer)

    def drop(self, index, wanted):
        """Option ``index`` no longer fits; keep ``wanted`` up to date."""
        self.alive[index] = False
        self.fitting -= 1
        for key, amount in self.uses[index]:
            found = self.amounts[key]
            found[amount] -= 1
            if found[amount]:
                continue
            del found[amount]
            if amount != self.most[key]:
                continue
            most = max(found, default=0)
            wanted[key] += self.undecided * (most - self.most[key])
            self.most[key] = most


def _classes(servers, options, free):
    """The servers as :class:`_Class` es.

    Grouped first by the identity of their options list (the reader
    shares one list between the servers of a demand), then by its value.
    """
    by_list = {}
    for server in servers:
        found = options.get(server.consumer, ())
        by_list.setdefault((tuple(d.resources for d in server.devices),
                            id(found)), (found, []))[1].append(server)
    by_value = {}
    for (resources, _), (found, members) in by_list.items():
        by_value.setdefault((resources, tuple(found)), []).extend(members)
    return [_Class(n, members, list(found), free)
            for n, ((_, found), members) in enumerate(by_value.items())]


def plan(servers, options, free, names=None):
    """The :class:`Plan` of moving ``servers``.

    A stranded server's reason says what the plan knows: that others took
    what would have fitted, or that nothing had room; :func:`explain`
    tells a refused stream from a full destination.

    The steps of the module's greedy, without rescans: servers with the
    same resources and options are one :class:`_Class`; taking capacity
    re-tests only the options that use it; the others' wants are kept
    as sums.  Time about linear in servers x options.

    :param servers: the :class:`Server` s to move.
    :param options: ``{consumer: [Option]}``, each already admissible.
    :param free: ``{(provider uuid, resource class): free amount now}``.
    :param names: ``{provider uuid: name}`` for ties and messages.
    """
    names = names or {}
    left = dict(free)
    classes = _classes(servers, options, free)
    # {(provider, rc): what the undecided servers could still take}
    wanted = collections.Counter()
    using = collections.defaultdict(list)
    for c in classes:
        for key, most in c.most.items():
            wanted[key] += c.undecided * most
        for index, use in enumerate(c.uses):
            for key, amount in use:
                using[key].append((c, index, amount))
    queue = [c.rank() + (c.index,) for c in classes]
    heapq.heapify(queue)
    assignments = {}
    stranded = []
    taken_by = {}
    while queue:
        rank = heapq.heappop(queue)
        c = classes[rank[-1]]
        if not c.undecided or c.rank() != rank[:-1]:
            continue            # stale: the class changed since
        server = c.members[c.head]
        c.head += 1
        for key, most in c.most.items():
            wanted[key] -= most
        if not c.fitting:
            stranded.append(_stranded_by_plan(server, c.options, taken_by,
                                              names))
        else:
            choice = _choose(c, wanted, left, names)
            for key, amount in c.uses[choice]:
                left[key] -= amount
                taken_by.setdefault(key[0], []).append(server.label)
            assignments[server.consumer] = c.options[choice]
            for other in _refit(c.uses[choice], left, using, wanted):
                if other.undecided and other is not c:
                    heapq.heappush(queue, other.rank() + (other.index,))
        if c.undecided:
            heapq.heappush(queue, c.rank() + (c.index,))
    return Plan(assignments, stranded)


def _refit(use, left, using, wanted):
    """Drop the options that no longer fit where ``use`` took capacity.

    :returns: the classes that lost an option.
    """
    changed = {}
    for key, _ in use:
        for other, index, need in using[key]:
            if other.alive[index] and need > left[key]:
                other.drop(index, wanted)
                changed[other.index] = other
    return changed.values()


def _choose(c, wanted, left, names):
    """The index of the option of ``c`` the others want least.

    Step 2 of the module's greedy: the contest of an option is, for each
    provider and resource class it takes, what the others want there
    divided by what it leaves.  This loop runs servers x options times:
    one-key options (one device, one resource class) skip ``sum``.
    """
    best, best_key = None, None
    want = wanted.get
    for index, use in enumerate(c.uses):
        if not c.alive[index]:
            continue
        if len(use) == 1:
            ((key, amount),) = use
            contest = want(key, 0) / (left[key] - amount + 1)
        else:
            contest = sum(want(key, 0) / (left[key] - amount + 1)
                          for key, amount in use)
        if best is not None and contest > best_key[0]:
            continue
        option = c.options[index]
        if best is not None and contest == best_key[0] and (
                option.host > best_key[1]):
            continue
        key = (contest, option.host, tuple(names.get(p, p)
                                           for p in option.providers))
        if best is None or key < best_key:
            best, best_key = index, key
    return best


def plan_and_explain(servers, options, free, acceptors, names=None):
    """:func:`plan`, then :func:`explain` for each stranded server.

    :returns: ``(plan, {consumer: Stranded})``.
    """
    result = plan(servers, options, free, names)
    return result, {s.server.consumer: explain(s, acceptors, names)
                    for s in result.stranded}


def _stranded_by_plan(server, initial, taken_by, names):
    if not initial:
        return Stranded(server, NO_CAPACITY, 'no destination has free '
                        'capacity for it now')
    providers = sorted({p for o in initial for p in o.providers})
    rivals = sorted({label for p in providers for label in taken_by.get(
        p, ())})
    return Stranded(server, TAKEN, '%d destination%s with free capacity '
                    'now (%s), all given to %s by this plan' % (
                        len(initial), '' if len(initial) == 1 else 's',
                        ', '.join(names.get(p, p) for p in providers),
                        ', '.join(rivals)))


def explain(stranded, acceptors, names=None):
    """Say why a server without options is stranded.

    :param acceptors: ``{device provider uuid: set of destination provider
        uuids}`` that accept that device's streams on another host,
        whatever their capacity.
    :returns: a :class:`Stranded` with :data:`INCOMPATIBLE` or
        :data:`NO_CAPACITY`, or ``stranded`` itself if it was
        :data:`TAKEN`.
    """
    if stranded.why == TAKEN:
        return stranded
    names = names or {}
    server = stranded.server
    refused = [d for d in server.devices if not acceptors.get(d.provider)]
    if refused:
        return Stranded(server, INCOMPATIBLE, '; '.join(
            'no device provider on another host accepts %s (emitted by %s)'
            % (', '.join(compatibility.short(s) for s in sorted(d.streams)),
               d.describe()) for d in refused))
    return Stranded(server, NO_CAPACITY, '; '.join(
        '%s: accepted by %s, none with %s free now' % (
            d.describe(),
            ', '.join(sorted(names.get(p, p) for p in acceptors[d.provider])),
            ', '.join('%d %s' % (amount, rc) for rc, amount in d.resources))
        for d in server.devices))


FULL = 'full'
PARTIAL = 'partial'
NOT_CHOSEN = 'not-chosen'
NOT_OFFERED = 'not-offered'


def _amounts(device):
    return ', '.join('%d %s' % (amount, rc) for rc, amount in
                     device.resources)


def unused_hosts(server, chosen, options, acceptors, roomy, hosts,
                 names=None, limit=None):
    """Why each host that accepts a device of ``server`` is not its plan.

    :param chosen: the server's :class:`Option` in the plan, or None.
    :param options: the server's admissible options.
    :param acceptors: ``{device provider: {destination provider}}`` that
        accept its streams, whatever their capacity.
    :param roomy: the same, limited to those with room for the device now.
    :param hosts: ``{provider: host name}``.
    :param limit: how many allocation candidates were read for the
        server if Placement had more (its options are the first ones):
        a host not offered may then be one not read.
    :returns: ``[(host, why, reason)]`` sorted by host; ``why`` is
        :data:`FULL` (no accepting device there has room now),
        :data:`PARTIAL` (it accepts only some of the server's devices),
        :data:`NOT_CHOSEN` (an option the plan did not take) or
        :data:`NOT_OFFERED` (Placement offered no allocation there).
    """
    names = names or {}
    per_host = collections.defaultdict(lambda: collections.defaultdict(set))
    for device in server.devices:
        for uuid in acceptors.get(device.provider, ()):
            per_host[hosts.get(uuid, uuid)][device.provider].add(uuid)
    offered = {o.host for o in options}
    out = []
    for host in sorted(per_host):
        if chosen is not None and host == chosen.host:
            continue
        found = per_host[host]
        missing = [d for d in server.devices if d.provider not in found]
        full = [d for d in server.devices if d.provider in found and not (
            found[d.provider] & roomy.get(d.provider, set()))]
        if missing:
            out.append((host, PARTIAL, 'accepts only some of its devices: '
                        'nothing there accepts %s' % ', '.join(
                            d.describe() for d in missing)))
        elif full:
            out.append((host, FULL, 'full: %s' % '; '.join(
                'no device accepting %s has %s free now (%s)' % (
                    d.describe(), _amounts(d), ', '.join(sorted(
                        names.get(p, p) for p in found[d.provider])))
                for d in full)))
        elif host in offered:
            out.append((host, NOT_CHOSEN, (
                'has room, but the plan sends it to %s' % chosen.host)
                if chosen else 'its room is given to other servers by '
                               'this plan'))
        elif limit is not None:
            out.append((host, NOT_OFFERED, 'its accepting devices have room '
                        'one by one, but it is not among the first %d '
                        'allocation candidates read' % limit))
        else:
            out.append((host, NOT_OFFERED, 'its accepting devices have room '
                        'one by one, but Placement offers no allocation of '
                        'all of them there now'))
    return out
