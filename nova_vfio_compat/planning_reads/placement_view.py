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

"""What ``drain``, ``fleet`` and ``nova-config`` read from Placement: GETs
only.

:class:`PlacementView` is built on a ``get(url, microversion)`` callable
that returns the decoded JSON body; it has no other way to reach
Placement, so the planning commands cannot write to it.  Every body is
checked by the one policy of
:class:`nova_vfio_compat.placement.reader.Reader` (a malformed answer is
:exc:`~nova_vfio_compat.placement.reader.PlacementUnavailable` naming the
request), and a malformed trait of this project's is skipped with a
warning.  The number of requests depends on the drained host's devices,
the distinct demands of its servers and the assumed hosts, never on the
size of the fleet:

* ``drain``: the host's tree (2), per device provider of the host its
  allocations and traits, which accept traits exist (1 per 36 names), the
  disabled compute nodes (``COMPUTE_STATUS_DISABLED``: never a
  destination, as in Nova's scheduler, which asks with
  ``root_required``), per distinct device (streams) one
  ``GET /resource_providers`` for who accepts it whatever its capacity
  (which also names those providers), one
  ``GET /allocation_candidates`` per distinct demand (the streams and
  resource amounts of a server's devices) with ``required<N>=in:`` over
  the accept trait names of each stream and ``limit``
  (:data:`CANDIDATE_LIMIT`), and one ``GET /resource_providers`` with
  ``resources`` for who has room per distinct streams and amounts that
  no one-device demand's candidates, read whole, already answered; the
  names of the destinations' roots: one listing of the compute nodes
  (``COMPUTE_NODE``), a root without that trait read on its own.
  The cloud's other providers are never listed, and a provider is in at
  most one who-accepts answer per distinct streams and one candidates
  answer per distinct demand;
* ``fleet``: the project's traits (1), the providers (1), and per stream
  the providers that emit it and those that carry each of its accept
  trait names;
* ``nova-config``: the host's tree (2) and per device provider its
  inventories and allocations (:func:`read_host_usage`);
* ``plan-upgrade`` (:func:`read_upgrade`): the providers' names (1) and
  the disabled compute nodes (1); per host of the upgrade, per device
  provider, its traits, allocations and inventories (3, each host once);
  for the bound, as ``fleet``, per stream the providers carrying it and
  each of its accept names (:func:`carriers`);
  per wave, for the device demands (a device's streams and resource
  amounts) met for the first time, which accept traits exist (1 per 36
  names) and one ``GET /allocation_candidates`` each for the
  destinations outside the upgrade.

An assumed host (``--assume``) adds its tree and traits, and for
``drain`` one allocation-candidates request per distinct demand limited
to its tree, without the trait requirement: its real traits are not the
ones assumed, so the planner tests them.
"""

import collections
from urllib import parse

from oslo_log import log as logging

from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.placement import sessions as placement_sessions
from nova_vfio_compat.placement import version as placement_version
from nova_vfio_compat.planning import assume as nvc_assume
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain as nvc_drain

LOG = logging.getLogger(__name__)

# Every read is at placement_version.MICROVERSION (1.39): required=in: and
# repeated required(N) in GET /resource_providers and
# /allocation_candidates; from 1.29 the provider summaries have the
# traits, parent and root of every provider in a candidate's tree; from
# 1.35 root_required. Traits are read at
# placement_reader.TRAITS_MICROVERSION.
# Nova's trait on the root provider of a disabled compute service; the
# scheduler asks Placement for roots without it (nova/scheduler/utils.py,
# ResourceRequest root_required, microversion 1.35).
DISABLED = 'COMPUTE_STATUS_DISABLED'
# Nova's trait on every compute node provider: the resource tracker adds
# it whatever the driver (nova/compute/resource_tracker.py, _get_traits,
# "Always mark the compute node").
COMPUTE_NODE = 'COMPUTE_NODE'


class UnknownHost(ValueError):
    """The host is not a compute node (root) provider in Placement."""


class PlacementView:
    """Placement as the planning commands read it."""

    def __init__(self, get):
        self._get = placement_reader.checking(get)

    # -- single reads -----------------------------------------------------

    def root(self, host):
        """The uuid of the root provider named ``host``."""
        found = self._get('/resource_providers?%s' % parse.urlencode(
            {'name': host}),
            placement_version.MICROVERSION,
            route='providers')['resource_providers']
        if not found:
            raise UnknownHost('%s: no resource provider of that name in '
                              'Placement (give the compute node name, as '
                              '"openstack hypervisor list" shows it)' % host)
        rp = found[0]
        if rp['parent_provider_uuid']:
            raise UnknownHost('%s: resource provider %s is not a compute '
                              'node (it has a parent)' % (host, rp['uuid']))
        return rp['uuid']

    def tree(self, root):
        """The non-root providers under ``root``: ``{uuid: name}``."""
        return {rp['uuid']: rp['name'] for rp in self._get(
            '/resource_providers?in_tree=%s' % root,
            placement_version.MICROVERSION,
            route='providers')['resource_providers']
            if rp['uuid'] != root}

    def traits(self, uuid):
        return frozenset(self._get(
            '/resource_providers/%s/traits' % uuid,
            placement_reader.TRAITS_MICROVERSION,
            route='provider traits')['traits'])

    def allocations(self, uuid):
        """``{consumer: {resource class: amount}}`` on one provider."""
        return {consumer: alloc['resources'] for consumer, alloc in
                self._get('/resource_providers/%s/allocations' % uuid,
                          placement_version.MICROVERSION,
                          route='provider allocations')[
                              'allocations'].items()}

    def inventories(self, uuid):
        """``{resource class: total}`` of one provider."""
        return {rc: inventory['total'] for rc, inventory in self._get(
            '/resource_providers/%s/inventories' % uuid,
            placement_version.MICROVERSION,
            route='inventories')['inventories'].items()}

    def capacities(self, uuid):
        """``{resource class: capacity}`` of one provider.

        As Placement counts it for allocation candidates: (total -
        reserved) times the allocation ratio.
        """
        return {rc: int((inv['total'] - inv.get('reserved', 0)) *
                        inv.get('allocation_ratio', 1.0))
                for rc, inv in self._get(
                    '/resource_providers/%s/inventories' % uuid,
                    placement_version.MICROVERSION,
                    route='inventories')['inventories'].items()}

    def known(self, names):
        """The trait names of ``names`` that Placement knows.

        Placement refuses a required trait it does not know (400), and an
        accept trait no device ever published does not exist.
        """
        return placement_reader.existing_traits(
            names, lambda name_filter: self._get(
                '/traits?name=%s' % name_filter,
                placement_reader.TRAITS_MICROVERSION,
                route='traits')['traits'])

    def known_owned(self):
        """Every trait name of this project Placement knows.

        An emit or accept trait that does not parse (anyone with trait
        write access may create ``CUSTOM_VFC_1_E_GARBAGE``) is left out
        with one warning naming it: it is no stream.
        """
        names = set(self._get('/traits?name=startswith:%s'
                              % nvc_traits.PREFIX,
                              placement_reader.TRAITS_MICROVERSION,
                              route='traits')['traits'])
        malformed = sorted(n for n in names if nvc_traits.is_malformed(n))
        if malformed:
            LOG.warning('skipping %d malformed trait(s) of this project in '
                        'Placement (not written by a reporter of this '
                        'version; who may write CUSTOM_VFC_ traits is set '
                        'by Placement\'s policy): %s', len(malformed),
                        ', '.join(malformed[:10]) +
                        (', ...' if len(malformed) > 10 else ''))
        return names - set(malformed)

    def names(self):
        """``{uuid: (name, root uuid)}`` of every provider (one request)."""
        return {rp['uuid']: (rp['name'], rp['root_provider_uuid'])
                for rp in self._get(
                    '/resource_providers',
                    placement_version.MICROVERSION,
                    route='providers')['resource_providers']}

    def listing(self, query, resources=()):
        """``{uuid: (name, root uuid)}`` of the providers ``query`` finds.

        :param query: a list of ``required`` values (a trait or
            ``in:a,b``), all of which a provider must satisfy.
        :param resources: ``((resource class, amount), ...)`` a provider
            must have free now, if any.
        """
        params = [('required', q) for q in query]
        if resources:
            params.append(('resources', ','.join(
                '%s:%d' % r for r in resources)))
        return _places(self._get('/resource_providers?%s' % parse.urlencode(
            params), placement_version.MICROVERSION, route='providers'))

    def carrying(self, query, resources=()):
        """``[uuid]`` of the providers :meth:`listing` finds."""
        return list(self.listing(query, resources))

    def provider(self, uuid):
        """``{uuid: (name, root uuid)}`` of one provider."""
        rp = self._get('/resource_providers/%s' % uuid,
                       placement_version.MICROVERSION, route='provider')
        return _places({'resource_providers': [rp]})

    def disabled_roots(self):
        """``{uuid: (name, root)}`` of the disabled compute nodes."""
        return self.listing([DISABLED])

    def candidates(self, demand, required, in_tree=None, limit=None):
        """Placement's allocation candidates for one demand.

        :param demand: ``((resources, streams), ...)``, one per device.
        :param required: one list of ``required`` values per device (empty
            to ask for capacity only).
        :param limit: at most this many allocation requests (Placement
            picks them, the first ones unless it is set to randomize).
        :returns: ``(allocation requests, provider summaries)``.
        """
        query = []
        for n, ((resources, _), needs) in enumerate(zip(demand, required),
                                                    1):
            query.append(('resources%d' % n, ','.join(
                '%s:%d' % r for r in resources)))
            query.extend(('required%d' % n, q) for q in needs)
            if in_tree:
                query.append(('in_tree%d' % n, in_tree))
        if len(demand) > 1:
            query.append(('group_policy', 'none'))
        # As Nova's scheduler asks: never a disabled host.
        query.append(('root_required', '!' + DISABLED))
        if limit is not None:
            query.append(('limit', str(limit)))
        body = self._get('/allocation_candidates?%s' % parse.urlencode(
            query), placement_version.MICROVERSION,
            route='allocation candidates')
        return body['allocation_requests'], body['provider_summaries']


def _places(body):
    return {rp['uuid']: (rp['name'], rp.get('root_provider_uuid') or
                         rp['uuid'])
            for rp in body['resource_providers']}


def required_for(streams, known):
    """The ``required`` values for a provider that accepts every stream.

    None when some stream has no accept trait Placement knows: no
    provider accepts it.
    """
    query = []
    for stream in sorted(streams):
        names = [n for n in compatibility.accept_names(stream) if n in known]
        if not names:
            return None
        query.append('in:' + ','.join(names))
    return query


# -- drain ----------------------------------------------------------------


# Allocation candidates read per distinct demand: the default of Nova's
# ``[scheduler] max_placement_results``, the bound Nova's scheduler puts
# on its own query for each server it schedules.  A host holds far fewer
# device servers than that (a GPU a few dozen vGPUs at most), so the
# first 1,000 candidates leave each server of a demand many choices,
# while the answer no longer grows with the fleet past 1,000 devices.
# Servers whose candidates were cut say so (``truncated``).
CANDIDATE_LIMIT = 1000


class DrainInputs:
    """Everything the drain plan needs, read from Placement."""

    def __init__(self, host, servers, unchecked, options, free, providers,
                 acceptors, names, roomy=None, hosts=None, disabled=(),
                 limit=None, truncated=()):
        self.host = host
        self.servers = servers          # [drain.Server]
        self.unchecked = unchecked      # {consumer: [provider name]}
        self.options = options          # {consumer: [drain.Option]}
        self.free = free                # {(uuid, rc): free now}
        self.providers = providers      # {uuid: compatibility.Provider}
        self.acceptors = acceptors      # {source uuid: {dest uuid}}
        self.names = names              # {uuid: name}
        # {source uuid: {dest uuid}}: the acceptors with room for it now
        self.roomy = roomy or {}
        self.hosts = hosts or {}        # {uuid: host name}
        self.disabled = disabled        # [host]: not destinations
        # The allocation candidates read per demand, at most.
        self.limit = limit
        # {consumer}: Placement had more candidates than ``limit``.
        self.truncated = frozenset(truncated)


def _assumed_hosts(view, assumptions, hosts):
    """``{host: {uuid: (name, traits)}}`` of the assumed hosts' devices."""
    roots, out = {}, {}
    for host in sorted({a.host for a in assumptions}):
        roots[host] = hosts.get(host) or view.root(host)
        out[host] = {uuid: (name, view.traits(uuid))
                     for uuid, name in view.tree(roots[host]).items()}
    return roots, out


class _Source:
    """The drained host as read: its tree, its servers' devices."""

    def __init__(self, view, host, assumptions, max_traits):
        self.host = host
        self.root = view.root(host)
        self.tree = view.tree(self.root)
        self.roots, assumed_devices = _assumed_hosts(
            view, assumptions, {host: self.root})
        traits = dict(assumed_devices.get(host, {}))
        # {consumer: [(provider uuid, {rc: amount})]}
        consumers = {}
        for uuid, name in sorted(self.tree.items()):
            held = view.allocations(uuid)
            if not held:
                continue
            if uuid not in traits:
                traits[uuid] = (name, view.traits(uuid))
            for consumer, resources in held.items():
                consumers.setdefault(consumer, []).append((uuid, resources))
        self.assumed = nvc_assume.apply(assumptions, assumed_devices,
                                        max_traits)
        # {uuid: (name, root)} of every provider read so far
        self.places = {self.root: (host, self.root)}
        self.places.update((u, (n, self.root)) for u, n in self.tree.items())
        for name, root in self.roots.items():
            self.places[root] = (name, root)
            self.places.update((u, (n, root)) for u, (n, _) in
                               assumed_devices.get(name, {}).items())
        self.servers, self.unchecked = self._servers(consumers, traits)

    def _servers(self, consumers, traits):
        servers, unchecked = [], {}
        for consumer, held in sorted(consumers.items()):
            devices = []
            for uuid, resources in held:
                name, names = traits[uuid]
                streams = nvc_traits.emitted(self.assumed.get(uuid, names))
                if not streams:
                    unchecked.setdefault(consumer, []).append(name)
                    continue
                devices.append(nvc_drain.Device(
                    uuid, name, tuple(sorted(resources.items())), streams))
            if devices:
                servers.append(nvc_drain.Server(consumer, tuple(devices)))
        return servers, unchecked

    @property
    def assumed_roots(self):
        return {r for h, r in self.roots.items() if h != self.host}


def _acceptors(view, source, known, disabled):
    """``{streams: {uuid}}``: who accepts each device's streams.

    On another host, whatever its capacity; one request per distinct set
    of streams, whose answer also names the providers and their roots.
    """
    out = {}
    for streams in sorted({d.streams for s in source.servers
                           for d in s.devices}, key=sorted):
        query = required_for(streams, known)
        found = set()
        for uuid, (name, owner) in (view.listing(query).items()
                                    if query is not None else ()):
            source.places.setdefault(uuid, (name, owner))
            # A root carries its PCI devices' traits, not a device; assumed
            # providers are tested with their assumed traits below; a
            # disabled host is no destination.
            if owner not in (uuid, source.root) and \
                    uuid not in source.assumed and owner not in disabled:
                found.add(uuid)
        for uuid, assumed_traits in source.assumed.items():
            owner = source.places.get(uuid, (uuid, uuid))[1]
            if uuid not in source.tree and owner not in disabled and \
                    compatibility.accepts(assumed_traits, streams):
                found.add(uuid)
        out[streams] = found
    return out


def _roomy(view, source, known, acceptors, free, with_room):
    """``{device provider: {acceptor with room for it now}}``.

    :param with_room: ``{(streams, resources): {provider uuid}}`` already
        known (:attr:`_Candidates.with_room`); one request per other
        distinct streams and resources.
    """
    with_room, out = dict(with_room), {}
    for server in source.servers:
        for device in server.devices:
            asked = (device.streams, device.resources)
            if asked not in with_room:
                query = required_for(device.streams, known)
                with_room[asked] = set() if query is None else set(
                    view.carrying(query, device.resources))
            # An assumed acceptor's capacity is Placement's, as for the
            # others.
            out[device.provider] = {
                u for u in acceptors[device.streams]
                if u in with_room[asked] or (u in source.assumed and all(
                    free.get((u, rc), amount) >= amount
                    for rc, amount in device.resources))}
    return out


class _Candidates:
    """Placement's allocation candidates of the servers.

    One request per distinct demand (and per assumed host), at most
    ``limit`` candidates each.
    """

    def __init__(self, view, source, known, limit):
        self.view = view
        self.source = source
        self.known = known
        self.limit = limit
        # [(demand, members, [(requests, summaries)], truncated)]
        self.answers = []
        # {(streams, resources): {provider uuid}}: every provider that
        # has the required traits and room, from the whole answer of a
        # one-device demand.  It is what GET /resource_providers asks
        # with the same required and resources would list (Placement
        # tests capacity, min_unit, max_unit and step_size alike for
        # both) but for the disabled compute nodes, never acceptors.
        self.with_room = {}

    def read(self):
        by_demand = {}
        for server in self.source.servers:
            by_demand.setdefault(server.demand(), []).append(server)
        assumed_roots = self.source.assumed_roots
        for demand, members in sorted(by_demand.items(), key=lambda item: [
                (resources, sorted(streams))
                for resources, streams in item[0]]):
            required = [required_for(streams, self.known)
                        for _, streams in demand]
            answers, truncated = [], False
            if all(r is not None for r in required):
                got, summaries, cut = self._ask(demand, required)
                answers.append(([r for r in got if not _in_trees(
                    r, summaries, assumed_roots)], summaries))
                truncated |= cut
                if len(demand) == 1 and not cut:
                    ((resources, streams),) = demand
                    self.with_room[(streams, resources)] = {
                        uuid for r in got
                        for uuid in r['mappings'].get('1', ())}
            for assumed_root in sorted(assumed_roots):
                got, summaries, cut = self._ask(
                    demand, [[] for _ in demand], assumed_root)
                answers.append((got, summaries))
                truncated |= cut
            self.answers.append((demand, members, answers, truncated))
        return self

    def _ask(self, demand, required, in_tree=None):
        """One request for one more than the limit: more means cut."""
        limit = None if self.limit is None else self.limit + 1
        got, summaries = self.view.candidates(demand, required, in_tree,
                                              limit)
        if limit is not None and len(got) >= limit:
            return got[:self.limit], summaries, True
        return got, summaries, False

    def unnamed(self):
        """Providers of the allocation requests, or roots, not named yet.

        The summaries also describe the rest of each tree: those are no
        destination and need no name.
        """
        places = self.source.places
        found = set()
        for _, _, answers, _ in self.answers:
            for got, summaries in answers:
                for request in got:
                    for uuid in request['allocations']:
                        found.update(u for u in (uuid, summaries.get(
                            uuid, {}).get('root_provider_uuid'))
                            if u and u not in places)
        return found

    def options(self, free, providers):
        """``({consumer: [Option]}, {consumer cut})``.

        Fills ``free`` and ``providers`` from the summaries.
        """
        options, truncated = {}, set()
        for _, members, answers, cut in self.answers:
            requests = []
            for got, summaries in answers:
                requests.extend(got)
                _summaries(summaries, self.source.places,
                           self.source.assumed, free, providers)
            # One list for the servers of a demand: their options are
            # the same, and the plan groups them by it.
            found = _options(requests, members[0], providers,
                             self.source.host)
            for server in members:
                options[server.consumer] = found
                if cut:
                    truncated.add(server.consumer)
        return options, truncated


def _summaries(summaries, places, assumed, free, providers):
    for uuid, summary in summaries.items():
        if uuid == summary.get('root_provider_uuid'):
            continue
        for rc, res in summary['resources'].items():
            free[(uuid, rc)] = res['capacity'] - res['used']
        if uuid not in providers:
            name, root = places.get(uuid, (uuid, summary[
                'root_provider_uuid']))
            providers[uuid] = compatibility.Provider(
                uuid, name, places.get(root, (root,))[0],
                assumed.get(uuid, frozenset(summary['traits'])))


def _options(requests, server, providers, host):
    """The admissible options among Placement's allocation requests.

    ``mappings`` (microversion 1.34) says which provider satisfies which
    numbered group, that is which device of the server.
    """
    options = set()
    for request in requests:
        chosen = []
        for n in range(1, len(server.devices) + 1):
            mapped = request['mappings'].get(str(n), ())
            if len(mapped) != 1 or mapped[0] not in providers:
                break
            chosen.append(mapped[0])
        else:
            option = nvc_drain.Option(providers[chosen[0]].host,
                                      tuple(chosen))
            if nvc_drain.admissible(server, option, providers, host):
                options.add(option)
    return sorted(options, key=lambda o: (o.host, o.providers))


def _name_the_rest(view, places, uuids):
    """Read the providers (and then their roots) ``places`` lacks.

    They are the destinations' roots: the device providers that accept
    a stream are named by the listing that found them, and their roots
    carry none of their traits.  One listing of Nova's compute nodes
    (:data:`COMPUTE_NODE`) names them, so the requests do not grow with
    the fleet; only a provider it does not name (a root Nova did not
    mark) is read on its own.
    """
    if uuids:
        places.update((uuid, place) for uuid, place in view.listing(
            [COMPUTE_NODE]).items() if uuid in uuids)
    asked = set(places)
    while uuids - asked:
        for uuid in sorted(uuids - asked):
            places.update(view.provider(uuid))
            asked.add(uuid)
        uuids = {root for _, root in places.values()} - set(places)


def read_drain(view, host, assumptions=(),
               max_traits=nvc_traits.DEFAULT_MAX_TRAITS,
               limit=CANDIDATE_LIMIT):
    """Read the servers of ``host`` and their destinations.

    Only the providers a plan can use are read: the drained and assumed
    hosts' trees, who accepts each distinct device's streams, the
    disabled compute nodes, at most ``limit`` allocation candidates per
    distinct demand (None: no limit), and the names of the destinations'
    roots (:func:`_name_the_rest`).

    :raises UnknownHost: for a host (drained or assumed) Placement does
        not have.
    :raises assume.AssumptionError: for an assumption that does not apply.
    """
    source = _Source(view, host, assumptions, max_traits)
    servers = source.servers
    streams = frozenset().union(*(s.streams for s in servers))
    known = view.known(n for s in streams
                       for n in compatibility.accept_names(s))
    if not servers:
        return DrainInputs(host, [], source.unchecked, {}, {}, {}, {}, {},
                           limit=limit)
    disabled = view.disabled_roots()
    source.places.update(disabled)
    by_streams = _acceptors(view, source, known, disabled)
    candidates = _Candidates(view, source, known, limit).read()
    _name_the_rest(view, source.places, candidates.unnamed() | {
        root for _, root in source.places.values()} - set(source.places))
    free, providers = {}, {}
    options, truncated = candidates.options(free, providers)
    acceptors = {d.provider: by_streams[d.streams]
                 for s in servers for d in s.devices}
    roomy = _roomy(view, source, known, by_streams, free,
                   candidates.with_room)

    places = source.places
    provider_names = {uuid: name for uuid, (name, _) in places.items()}
    hosts = {uuid: places.get(root, (root,))[0]
             for uuid, (_, root) in places.items()}
    return DrainInputs(host, servers, source.unchecked, options, free,
                       providers, acceptors, provider_names, roomy, hosts,
                       sorted(provider_names.get(r, r) for r in disabled
                              if r != source.root), limit, truncated)


def _in_trees(request, summaries, roots):
    return any(summaries[uuid]['root_provider_uuid'] in roots
               for uuid in request['allocations'])


# -- fleet ----------------------------------------------------------------


def carriers(view, more_streams=(), owned=None):
    """``{uuid: {trait}}``: who carries the project's stream traits.

    For every stream some device emits (and ``more_streams``): the
    providers that emit it and those carrying each of its accept trait
    names, with those of the names they carry (roots included).

    :param owned: :meth:`PlacementView.known_owned`, if already read.
    """
    if owned is None:
        owned = view.known_owned()
    streams = {n for n in owned if nvc_traits.is_emit(n)}
    streams.update(more_streams)
    carried = {}
    for stream in sorted(streams):
        wanted = [n for n in compatibility.accept_names(stream)
                  if n in owned]
        for name in ([stream] if stream in owned else []) + wanted:
            for uuid in view.carrying([name]):
                carried.setdefault(uuid, set()).add(name)
    return carried


def read_fleet(view, assumptions=(),
               max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The device providers of the fleet with the traits that matter.

    For every stream some device emits (or an assumed document emits):
    the providers that emit it and those carrying each of its accept
    trait names, with the mdev type traits they carry (which type a
    vGPU's streams are of).  Roots are left out: they carry their PCI
    devices' traits, and are not a device.

    :returns: ``[compatibility.Provider]``.
    """
    names = view.names()
    hosts = {name: uuid for uuid, (name, root) in names.items()
             if uuid == root}
    for assumption in assumptions:
        if assumption.host not in hosts:
            raise UnknownHost('%s: no compute node of that name in '
                              'Placement' % assumption.host)
    _, assumed_devices = _assumed_hosts(view, assumptions, hosts)
    assumed = nvc_assume.apply(assumptions, assumed_devices, max_traits)

    owned = view.known_owned()
    carried = carriers(view, [n for t in assumed.values()
                              for n in nvc_traits.emitted(t)], owned)
    # The mdev type of each vGPU stream: one query per type in Placement.
    for name in sorted(n for n in owned if nvc_traits.mdev_type_of(n)):
        for uuid in view.carrying([name]):
            if uuid in carried:
                carried[uuid].add(name)
    providers = []
    for uuid in sorted(set(carried) | set(assumed)):
        name, root = names.get(uuid, (uuid, uuid))
        if uuid == root:
            continue
        providers.append(compatibility.Provider(
            uuid, name, names.get(root, (root,))[0],
            frozenset(assumed.get(uuid, carried.get(uuid, ())))))
    return providers


class ProviderUsage:
    """One device provider of a host: its inventory and what is in use."""

    def __init__(self, uuid, name, inventory, used, consumers):
        self.uuid = uuid
        self.name = name
        self.inventory = inventory      # {resource class: total}
        self.used = used                # {resource class: amount > 0}
        self.consumers = consumers      # how many consumers hold some

    def describe(self):
        return '%s (%s)' % (self.name, ', '.join(
            '%d of %d %s used' % (self.used.get(rc, 0), total, rc)
            for rc, total in sorted(self.inventory.items())) or
            'no inventory')


def read_host_usage(view, host):
    """``{provider name: ProviderUsage}`` under root ``host``.

    For ``nova-config``: the tree (2 requests), then per non-root
    provider its inventories and allocations (2 each).

    :raises UnknownHost: when ``host`` is not a root provider (a wrong
        name must not read as "nothing in use").
    """
    out = {}
    for uuid, name in sorted(view.tree(view.root(host)).items()):
        used, consumers = {}, 0
        for resources in view.allocations(uuid).values():
            held = {rc: n for rc, n in resources.items() if n > 0}
            consumers += bool(held)
            for rc, n in held.items():
                used[rc] = used.get(rc, 0) + n
        out[name] = ProviderUsage(uuid, name, view.inventories(uuid), used,
                                  consumers)
    return out


# -- plan-upgrade ---------------------------------------------------------


class UpgradeInputs:
    """Everything the upgrade planner needs, read from Placement."""

    def __init__(self, upgrading, servers, unchecked, providers, assumed,
                 free, names, disabled, discover, outside=None):
        self.upgrading = upgrading      # [host]
        # {uuid: compatibility.Provider} outside the upgrade, whatever
        # their room, with the project's traits they carry: for the bound
        self.outside = outside or {}
        self.servers = servers          # [drain.Server]
        self.unchecked = unchecked      # {consumer: [provider name]}
        self.providers = providers      # {uuid: compatibility.Provider}
        self.assumed = assumed          # {uuid: traits after}
        self.free = free                # {(uuid, rc): free now}
        self.names = names              # {uuid: name}
        self.disabled = disabled        # [host]: not destinations
        self.discover = discover        # upgrade.plan's discover


def target_hosts(view, documents):
    """The hosts with a device of each document's family.

    For ``plan-upgrade --target``: the project's emit traits of the
    family (1 request), the providers that carry one (1 per 36 names)
    and their compute nodes (1).

    :returns: ``[assume.Assumption]``, one per host and document.
    """
    names = view.names()
    owned = view.known_owned()
    out = []
    for document in documents:
        family = nvc_assume.Assumption('', document).family
        emits = sorted(n for n in owned if nvc_traits.is_emit(n) and
                       family in nvc_assume.families([n]))
        hosts = set()
        for name_filter in placement_reader.name_filters(emits):
            for uuid in view.carrying([name_filter]):
                root = names.get(uuid, (uuid, uuid))[1]
                hosts.add(names.get(root, (root,))[0])
        out.extend(nvc_assume.Assumption(h, document) for h in sorted(hosts))
    return out


def read_upgrade(view, assumptions,
                 max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """Read what :func:`upgrade.plan` needs for the assumed hosts.

    :raises UnknownHost: for an assumed host Placement does not have.
    :raises assume.AssumptionError: for an assumption that does not apply.
    """
    names = view.names()
    roots = {name: uuid for uuid, (name, root) in names.items()
             if uuid == root}
    upgrading = sorted({a.host for a in assumptions})
    for host in upgrading:
        if host not in roots:
            raise UnknownHost('%s: no compute node of that name in '
                              'Placement' % host)
    disabled = view.disabled_roots()
    host_providers, consumers, free, held_on = {}, {}, {}, {}
    for host in upgrading:
        host_providers[host] = {}
        for uuid, (name, root) in sorted(names.items()):
            if root != roots[host] or uuid == root:
                continue
            host_providers[host][uuid] = (name, view.traits(uuid))
            held = view.allocations(uuid)
            used = collections.Counter()
            for consumer, resources in held.items():
                used.update(resources)
                consumers.setdefault(consumer, []).append((uuid, resources))
            for rc, capacity in view.capacities(uuid).items():
                free[(uuid, rc)] = capacity - used[rc]
            held_on[uuid] = host
    assumed = nvc_assume.apply(assumptions, host_providers, max_traits)
    providers = {uuid: compatibility.Provider(uuid, name, host, traits)
                 for host, found in host_providers.items()
                 for uuid, (name, traits) in found.items()}
    servers, unchecked = [], {}
    for consumer, held in sorted(consumers.items()):
        devices = []
        for uuid, resources in held:
            streams = providers[uuid].streams
            if not streams:
                unchecked.setdefault(consumer, []).append(
                    providers[uuid].name)
                continue
            devices.append(nvc_drain.Device(
                uuid, providers[uuid].name,
                tuple(sorted(resources.items())), streams))
        if devices:
            servers.append(nvc_drain.Server(consumer, tuple(devices)))
    upgrade_roots = {roots[h] for h in upgrading}
    # The bound walks every device that could take a stream, full or not.
    outside = {}
    for uuid, carried in carriers(view, (
            n for t in assumed.values()
            for n in nvc_traits.emitted(t))).items():
        name, root = names.get(uuid, (uuid, uuid))
        if uuid != root and root not in upgrade_roots:
            outside[uuid] = compatibility.Provider(
                uuid, name, names.get(root, (root,))[0], frozenset(carried))

    def discover(demands):
        """Destinations outside the upgrade for ``demands``."""
        known = view.known(n for _, streams in demands for s in streams
                           for n in compatibility.accept_names(s))
        found, room = {}, {}
        for resources, streams in sorted(demands, key=lambda d: (
                d[0], sorted(d[1]))):
            required = required_for(streams, known)
            if required is None:
                continue
            _, summaries = view.candidates(((resources, streams),),
                                           [required])
            for uuid, summary in summaries.items():
                root = summary['root_provider_uuid']
                if uuid == root or root in upgrade_roots:
                    continue
                for rc, res in summary['resources'].items():
                    room.setdefault((uuid, rc),
                                    res['capacity'] - res['used'])
                found[uuid] = compatibility.Provider(
                    uuid, names.get(uuid, (uuid,))[0],
                    names.get(root, (root,))[0],
                    frozenset(summary['traits']))
        return found, room

    return UpgradeInputs(
        upgrading, servers, unchecked, providers, assumed, free,
        {uuid: name for uuid, (name, _) in names.items()},
        sorted(names[r][0] for r in disabled if r in names), discover,
        outside)


def sdk_get(conn):
    """The :class:`placement_reader.Reader` of an openstacksdk connection."""
    return placement_sessions.sdk_reader(conn)
