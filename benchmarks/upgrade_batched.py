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

"""The project's strategy at full size: the same decisions, batched.

:class:`Batched` is :class:`upgrade_real_filter.Project` (the real filter
over what the real reporter published in a real Placement) with the
three costs that grew with the fleet taken out; a test holds its
decisions equal to the per-migration path's, server by server.

* **Publishing in bulk** (:class:`BulkPublisher`).  What the reporter and
  Nova's PCI translation publish for a host is a function of its devices
  and their branches (:attr:`upgrade_fleet.Host.signature`): the host's
  name is only in its providers' names.  The first host of each signature
  is published as before (providers created through the Placement API,
  the real ``Reporter.sync``, the PF's traits and inventory); every other
  host of the signature gets a copy of that tree (names, parents, traits,
  inventories), written into Placement's own database tables through its
  SQLAlchemy models, in one transaction per batch of hosts.  The API has
  no bulk route for providers, traits or inventories (one provider per
  ``POST``, one per ``PUT``) and Placement's objects layer none either
  (one ``create()``, one ``set_traits()`` per provider), so the tables
  are the one place a thousand trees are written in a few statements.
  The same goes for a host's upgrade: the first host of each new
  signature is synced by the reporter, the others copied.
* **Batched allocation reads**.  At the start of a wave the allocations
  of every provider of the wave's hosts are read, one ``GET
  /resource_providers/{uuid}/allocations`` per provider; the filter's
  ``GET /allocations/{consumer}`` is answered from them (a server of the
  simulation holds resources on its host's providers only).
* **One decision per (source devices, wave)**.  Within a wave no trait
  changes (hosts are upgraded, and republished, at its end), so the
  filter's request-wide step is a function of the source devices' trait
  sets and the resource classes the server holds on each
  (:class:`nova_vfio_compat.scheduler.decision.Streams` reads nothing
  else of them), and its per-host step of the host's tree and of each
  allocation candidate alone (a candidate is kept or pruned by its own
  providers; a host passes when its tree accepts the streams and one of
  its candidates is kept), and, with ``pci_in_placement`` off, of the
  host's PCI pools: within a wave a host outside it only loses free VFs,
  and its pool is the same while it has one free (a host with none is no
  option).  So the filter runs once per distinct set of source devices
  in the wave, for a server that has them, over every host outside the
  wave and not disabled, with all its candidates; each migration then
  takes the first of its options (the hosts and devices free at that
  point, in its order) that run kept: the first candidate of the first
  host the filter would have passed had it been shown those options
  alone.
"""

import collections
import uuid as uuid_lib

from placement.db.sqlalchemy import models
from placement import db_api
import sqlalchemy as sa

from benchmarks import upgrade_fleet as fleet_lib
from benchmarks import upgrade_real_filter as real_filter
from nova_vfio_compat.reporter import plan as nvc_plan
from nova_vfio_compat.selection import placement_reads

_PROVIDERS = models.ResourceProvider.__table__
_INVENTORIES = models.Inventory.__table__
_TRAITS = models.ResourceProviderTrait.__table__
_CLASSES = models.ResourceClass.__table__
_INVENTORY_FIELDS = ('total', 'reserved', 'min_unit', 'max_unit',
                     'step_size', 'allocation_ratio')


class BulkPublisher:
    """Copies of a published host's provider tree, in Placement's tables.

    Only for a Placement in this process (the tables are its database).
    """

    def __init__(self):
        self.engine = db_api.get_placement_engine()

    def tree(self, conn, root_uuid):
        """``[(provider row, [trait id], {rc id: inventory})]``, root first.

        The children in name order.
        """
        root = conn.execute(sa.select(_PROVIDERS).where(
            _PROVIDERS.c.uuid == root_uuid)).mappings().one()
        rows = conn.execute(sa.select(_PROVIDERS).where(
            _PROVIDERS.c.root_provider_id == root['id'])).mappings().all()
        rows = [root] + sorted((r for r in rows if r['id'] != root['id']),
                               key=lambda r: r['name'])
        ids = [r['id'] for r in rows]
        traits = collections.defaultdict(list)
        for r in conn.execute(sa.select(_TRAITS).where(
                _TRAITS.c.resource_provider_id.in_(ids))).mappings():
            traits[r['resource_provider_id']].append(r['trait_id'])
        inventories = collections.defaultdict(dict)
        for r in conn.execute(sa.select(_INVENTORIES).where(
                _INVENTORIES.c.resource_provider_id.in_(ids))).mappings():
            inventories[r['resource_provider_id']][r['resource_class_id']] = {
                f: r[f] for f in _INVENTORY_FIELDS}
        return [(r, sorted(traits[r['id']]), inventories[r['id']])
                for r in rows]

    def create(self, exemplar_root, exemplar_name, names):
        """New trees like the exemplar's, for the hosts ``names``.

        :returns: ``{host name: [provider uuid, ...]}``, in the order of
            :meth:`tree` (root first, then the children by name).
        """
        out = {}
        with self.engine.begin() as conn:
            template = self.tree(conn, exemplar_root)
            next_id = conn.execute(
                sa.select(sa.func.max(_PROVIDERS.c.id))).scalar() + 1
            providers, traits, inventories = [], [], []
            for name in names:
                root_id = next_id
                uuids = []
                for row, trait_ids, invs in template:
                    uuid = str(uuid_lib.uuid4())
                    uuids.append(uuid)
                    providers.append({
                        'id': next_id, 'uuid': uuid,
                        'name': _renamed(row['name'], exemplar_name, name),
                        'generation': row['generation'],
                        'root_provider_id': root_id,
                        'parent_provider_id': (
                            None if row['parent_provider_id'] is None
                            else root_id)})
                    traits += [{'resource_provider_id': next_id,
                                'trait_id': t} for t in trait_ids]
                    inventories += [dict(inv, resource_provider_id=next_id,
                                         resource_class_id=rc)
                                    for rc, inv in invs.items()]
                    next_id += 1
                out[name] = uuids
            if any(row['parent_provider_id'] not in (
                    None, template[0][0]['id']) for row, _, _ in template):
                raise ValueError('only trees of a root and its children '
                                 'are copied')
            conn.execute(_PROVIDERS.insert(), providers)
            if traits:
                conn.execute(_TRAITS.insert(), traits)
            if inventories:
                conn.execute(_INVENTORIES.insert(), inventories)
        return out

    def copy_state(self, exemplar_root, roots):
        """Give the trees of ``roots`` the exemplar's traits, inventories.

        Provider by provider in :meth:`tree` order (the trees have the
        same shape); each provider's generation is bumped.  An inventory
        is only rewritten where it differs (a changed resource class:
        the host holds no allocation then).
        """
        with self.engine.begin() as conn:
            template = self.tree(conn, exemplar_root)
            for root in roots:
                tree = self.tree(conn, root)
                if len(tree) != len(template):
                    raise ValueError('tree %s is not shaped like %s'
                                     % (root, exemplar_root))
                for (row, trait_ids, invs), (_, want_traits, want_invs) in \
                        zip(tree, template):
                    rp = row['id']
                    if trait_ids != want_traits:
                        conn.execute(_TRAITS.delete().where(
                            _TRAITS.c.resource_provider_id == rp))
                        if want_traits:
                            conn.execute(_TRAITS.insert(), [
                                {'resource_provider_id': rp, 'trait_id': t}
                                for t in want_traits])
                    if invs != want_invs:
                        conn.execute(_INVENTORIES.delete().where(
                            _INVENTORIES.c.resource_provider_id == rp))
                        if want_invs:
                            conn.execute(_INVENTORIES.insert(), [
                                dict(inv, resource_provider_id=rp,
                                     resource_class_id=rc)
                                for rc, inv in want_invs.items()])
                    conn.execute(_PROVIDERS.update().where(
                        _PROVIDERS.c.id == rp).values(
                            generation=_PROVIDERS.c.generation + 1))


def _renamed(provider_name, exemplar, host):
    if not provider_name.startswith(exemplar):
        raise ValueError('provider %s is not named after its host %s'
                         % (provider_name, exemplar))
    return host + provider_name[len(exemplar):]


class Batched(real_filter.Project):
    """The project's strategy: bulk publishing, one decision per group.

    Its decisions are :class:`upgrade_real_filter.Project`'s (same name
    in the results: it is the same strategy).
    """

    def __init__(self, placement, cache=True, pci_in_placement=True):
        super().__init__(placement, cache, pci_in_placement)
        self.bulk = BulkPublisher()
        # {consumer: {provider: allocation}} of the wave's servers.
        self._wave_allocations = {}
        # {server name: {(host, gpu): kept}} for the wave.
        self._verdicts = {}
        self.filter_runs = 0

    # Publishing ---------------------------------------------------------

    def publish(self, fleet):
        exemplars = {}
        copies = collections.defaultdict(list)
        for host in fleet.hosts.values():
            if host.name in self.roots:
                continue
            if host.signature in exemplars:
                copies[host.signature].append(host)
                continue
            exemplars[host.signature] = host
            self.publish_host(host)
        for signature, hosts in copies.items():
            exemplar = exemplars[signature]
            created = self.bulk.create(self.roots[exemplar.name],
                                       exemplar.name,
                                       [h.name for h in hosts])
            self.writes += 1
            for host in hosts:
                self._adopt(host, exemplar, created[host.name])
        self.reads.clear()
        self.place(fleet)

    def _adopt(self, host, exemplar, uuids):
        """Note the uuids of a copied tree (root, then children by name)."""
        gpus = [nvc_plan.mdev_parent_provider_name(
            exemplar.name, fleet_lib.parent_address(i))
            for i in range(fleet_lib.GPUS_PER_HOST)]
        pf = real_filter.pf_provider_name(exemplar.name)
        by_name = dict(zip(sorted(gpus + [pf]), uuids[1:]))
        self.roots[host.name] = uuids[0]
        host.gpus = [by_name[name] for name in gpus]
        host.pf = by_name[pf]
        self.adopt_vfs(host, exemplar)
        self.states(host)

    def upgraded(self, hosts):
        exemplars = {}
        copies = collections.defaultdict(list)
        for host in hosts:
            if host.signature in exemplars:
                copies[host.signature].append(host)
            else:
                exemplars[host.signature] = host
                self.sync(host)
        for signature, others in copies.items():
            exemplar = exemplars[signature]
            self.bulk.copy_state(self.roots[exemplar.name],
                                 [self.roots[h.name] for h in others])
            self.writes += 1
            for host in others:
                self.adopt_vfs(host, exemplar)
        self.reads.clear()

    # Deciding -----------------------------------------------------------

    def start_wave(self, fleet, wave, on_host):
        """Read the wave's allocations; decide once per source group."""
        self._wave_allocations = {}
        self._verdicts = {}
        for name in wave:
            for provider in self._tree(name):
                body = self.reads.get(
                    '/resource_providers/%s/allocations' % provider,
                    placement_reads.ALLOCATIONS_MICROVERSION)
                for consumer, alloc in body['allocations'].items():
                    self._wave_allocations.setdefault(consumer, {})[
                        provider] = {
                            'resources': alloc['resources'],
                            'generation': body[
                                'resource_provider_generation']}
        reads = placement_reads.RequestReads(self.get)
        groups = collections.defaultdict(list)
        for name in wave:
            for server in on_host.get(name, ()):
                devices = reads.source_devices(server.consumer,
                                               self.roots[name])
                groups[_group_key(devices)].append(server)
        excluded = frozenset(wave) | fleet.disabled
        outside = [h for h in fleet.hosts if h not in excluded]
        for servers in groups.values():
            first = servers[0]
            every = [(h, g) for h in outside for g in (
                range(fleet_lib.GPUS_PER_HOST) if first.gpu is not None
                else (None,))]
            self.filter_runs += 1
            kept = frozenset(self.passing(fleet, first, every))
            for server in servers:
                self._verdicts[server.name] = kept

    def _tree(self, name):
        return [rp['uuid'] for rp in self.reads.get(
            '/resource_providers?in_tree=%s' % self.roots[name],
            placement_reads.PROVIDERS_MICROVERSION)['resource_providers']]

    def get(self, url, version):
        """Allocations from the wave's batch; the rest as the filter's."""
        if url.startswith('/allocations/'):
            consumer = url[len('/allocations/'):]
            if consumer in self._wave_allocations:
                self.reads.asked += 1
                return {'allocations': self._wave_allocations[consumer]}
        return self.reads.get(url, version)

    def choose(self, fleet, server, options):
        kept = self._verdicts[server.name]
        return next((o for o in options if o in kept), None)


def _group_key(devices):
    """What the filter's decision reads of a server's source devices."""
    return tuple(sorted((tuple(sorted(d.traits)),
                         tuple(sorted(d.resource_classes)))
                        for d in devices))
