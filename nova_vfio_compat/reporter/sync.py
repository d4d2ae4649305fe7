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

"""One sync of a host's desired state (:mod:`.plan`) into Placement.

Every call goes through openstacksdk's placement proxy.  Three are raw
calls through the proxy's adapter: ``PUT /resource_classes/{name}``
(idempotent from microversion 1.7, which the SDK's typed
``create_resource_class`` does not use) and ``GET``/``PUT
/resource_providers/{uuid}/traits`` (the SDK has typed calls for them only
from openstacksdk 4.18, newer than the upper-constraints of the oldest
OpenStack release this project supports).

Ownership: a traits PUT replaces a provider's whole set, so each provider
is read, only owned (``CUSTOM_VFC_``) traits are changed, and the set is
written back with the generation that was read.  A 409 means someone else
(usually nova-compute) wrote in between: re-read and try again.
Providers are never created or deleted here; Nova owns them.

Steady state: a :class:`Reporter` remembers, per provider UUID, the
generation at which that provider's owned traits were what it wanted, the
root provider's UUID and the resource classes it knows exist.  A sync
lists the tree once (``GET /resource_providers?in_tree=<root>``, which
carries each provider's generation) and reads the traits only of a
provider whose generation or UUID changed or whose wanted traits changed:
any write to a provider (traits, inventory, allocations) bumps its
generation, and a provider Nova deleted and recreated has a new UUID.  So
a sync with nothing to change is that one request.
"""

import dataclasses

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from oslo_log import log as logging
import requests

from nova_vfio_compat.conf import reporter as reporter_conf
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.placement import answers as placement_answers
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.reporter import client as nvc_client
from nova_vfio_compat.reporter import plan as nvc_plan

LOG = logging.getLogger(__name__)

# Idempotent resource class creation (201 created, 204 existed).
RC_PUT_MICROVERSION = '1.7'

# requests' RequestException covers a 200 answer that is not JSON (a
# proxy or login page answering for Placement): requests.JSONDecodeError.
# A malformed answer (placement_answers) aborts the sync before anything
# is written from it, like an error answer; so does a request past its
# deadline (placement.sessions).  Both are PlacementUnavailable.
PLACEMENT_ERRORS = (sdk_exceptions.SDKException,
                    ks_exceptions.ClientException,
                    requests.exceptions.RequestException,
                    placement_reader.PlacementUnavailable)


@dataclasses.dataclass(frozen=True)
class ProviderTraits:
    """A provider's traits and generation, as one answer had them.

    The answer of ``GET`` or ``PUT /resource_providers/{uuid}/traits``.
    """

    traits: frozenset
    resource_provider_generation: int


@dataclasses.dataclass
class Change:
    """Owned traits added to and removed from one provider."""

    added: frozenset = frozenset()
    removed: frozenset = frozenset()


@dataclasses.dataclass(frozen=True)
class _Work:
    """A provider whose owned traits must change, as it was read."""

    rp: object
    desired: frozenset
    current: ProviderTraits
    to_add: frozenset
    to_remove: frozenset


@dataclasses.dataclass
class SyncResult:
    """What one sync did (or, with ``dry_run``, would do).

    ``writes`` counts write requests sent to Placement; ``changes`` maps a
    provider name to its :class:`Change`; ``created_traits`` and
    ``created_resource_classes`` are the names created; ``errors`` has one
    line per thing not published (a device, a provider, Placement itself);
    ``missing`` names the compute node root provider when Placement does
    not have it (yet); ``absent`` names planned mdev parent providers Nova
    did not create: Nova gives a GPU no provider where it has no capacity
    for the GPU's type (``max_instances``, a full or exhausted GPU), which
    is expected and not an error; their traits are published when the
    provider appears; ``left_out`` names each device (and its stream)
    left out because its traits do not fit on the compute node provider
    (all that fits is published: :attr:`.plan.Plan.left_out`);
    ``placement_failed`` is True when Placement could not be reached or
    answered with an error, so the caller should retry later.
    """

    dry_run: bool = False
    writes: int = 0
    changes: dict = dataclasses.field(default_factory=dict)
    created_traits: list = dataclasses.field(default_factory=list)
    created_resource_classes: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    missing: list = dataclasses.field(default_factory=list)
    absent: list = dataclasses.field(default_factory=list)
    left_out: list = dataclasses.field(default_factory=list)
    placement_failed: bool = False

    @property
    def ok(self):
        """Was everything the plan asked for published?"""
        return not self.errors and not self.missing


class Reporter:
    """Publishes the owned traits of one host to Placement.

    :param connection: an :class:`openstack.connection.Connection`.
    :param nodename: the name of the compute node root provider (the
        hypervisor hostname Nova uses).
    :param root_uuid: the root provider's UUID (Nova's ``compute_id``);
        when set the root is found by it, and its name in Placement is the
        nodename the mdev parent providers are named after.
    :param max_traits: the per-provider bound (``[traits]
        max_traits_per_provider``).
    :param dry_run: read Placement and report the changes, write nothing.
    :param conflict_retries: how many times to re-read and retry a
        provider's traits after a generation conflict (409).
    :param before_write: called with the provider name right before each
        traits PUT.  A seam for tests: the window between reading a
        provider and writing it back is too short to land a real concurrent
        write in deterministically from outside, so the 409 test makes its
        second writer write from here.
    """

    def __init__(self, connection, nodename,
                 max_traits=nvc_traits.DEFAULT_MAX_TRAITS, dry_run=False,
                 conflict_retries=reporter_conf.DEFAULTS['conflict_retries'],
                 before_write=None, root_uuid=None):
        # Every answer read through it is checked before it is used.
        self.connection = nvc_client.check_answers(connection)
        self.nodename = nodename
        self.root_uuid = root_uuid
        self.max_traits = max_traits
        self.dry_run = dry_run
        self.conflict_retries = conflict_retries
        self.before_write = before_write
        self._root_id = None
        # {provider uuid: (generation, owned traits it then carried)}
        self._known = {}
        self._classes = set()
        # The mdev parent providers last found absent, and the devices
        # last left out for the root's limit: logged once per change.
        self._absent = None
        self._left_out = None

    @property
    def _placement(self):
        return self.connection.placement

    def plan(self, devices):
        """The :class:`.plan.Plan` for ``devices`` on this host."""
        return nvc_plan.build(devices, self.nodename, self.max_traits)

    def sync(self, devices):
        """Make Placement hold the owned traits ``devices`` call for.

        Never raises for Placement errors: they end up in the result, with
        ``placement_failed`` set.
        """
        result = SyncResult(dry_run=self.dry_run)
        plan = self.plan(devices)
        for error in plan.errors:
            LOG.error('%s', error)
        result.errors.extend(plan.errors)
        result.left_out = list(plan.left_out)
        self._log_left_out(plan)
        try:
            self._sync(plan, result, devices)
        except PLACEMENT_ERRORS as e:
            result.placement_failed = True
            message = 'Placement request failed: %s' % _describe(e)
            result.errors.append(message)
            LOG.warning('%s; will retry', message)
        return result

    def forget(self):
        """Drop what earlier syncs learned: the next one reads it all."""
        self._root_id = None
        self._known = {}
        self._classes = set()

    def _find_root(self):
        """The compute node root provider, or None.

        By its UUID (Nova's ``compute_id``, or ``[reporter]
        root_provider_uuid``) when one is known, else by its name.
        """
        pl = self._placement
        if self.root_uuid:
            try:
                return pl.get_resource_provider(self.root_uuid)
            except sdk_exceptions.NotFoundException:
                return None
        roots = list(pl.resource_providers(name=self.nodename))
        return roots[0] if roots else None

    def _tree(self):
        """``{name: provider}`` of the root's tree, or None without root.

        One request when the root's UUID is known from an earlier sync
        and still names the root, two otherwise.
        """
        pl = self._placement
        if self._root_id is not None:
            tree = {rp.name: rp
                    for rp in pl.resource_providers(in_tree=self._root_id)}
            root = tree.get(self.nodename)
            if root is not None and root.id == self._root_id:
                return tree
            # The root was deleted (or renamed): find it again.
            self.forget()
        root = self._find_root()
        if root is None:
            return None
        if root.name != self.nodename:
            # Found by UUID: Nova names the mdev parents after the root.
            self.nodename = root.name
        self._root_id = root.id
        return {rp.name: rp for rp in pl.resource_providers(in_tree=root.id)}

    def _unchanged(self, rp, desired):
        """Does ``rp`` still carry what an earlier sync saw it carry?"""
        known = self._known.get(rp.id)
        return (known is not None and rp.generation is not None and
                known == (rp.generation, frozenset(desired)))

    def _remember(self, rp_id, generation, owned):
        if self.dry_run or generation is None:
            return
        self._known[rp_id] = (generation, frozenset(owned))

    def _sync(self, plan, result, devices):
        """Read the tree, then write what differs from ``plan``."""
        nodename = self.nodename
        tree = self._tree()
        if tree is None:
            self._root_missing(result)
            return
        if self.nodename != nodename:
            # The root found by UUID has another name than the plan used.
            plan = self.plan(devices)
        result.absent = [name for name in plan.providers
                         if name not in tree]
        self._log_absent(result.absent)
        work = self._changes_needed(self._managed(tree, plan), plan, result)
        if self.dry_run:
            self._report(work, plan, result)
        else:
            self._publish(work, plan, result)

    def _root_missing(self, result):
        wanted = ('%s (UUID from Nova\'s compute_id or [reporter] '
                  'root_provider_uuid)' % self.root_uuid
                  if self.root_uuid else
                  'named %s (the hypervisor hostname, or [reporter] '
                  'root_provider_name)' % self.nodename)
        message = ('compute node resource provider %s not found in '
                   'Placement: nothing of this host is published; is '
                   'nova-compute running here, and does "openstack '
                   'resource provider list" show it?' % wanted)
        # Every sync, at ERROR: a reporter that publishes nothing must
        # not look healthy.
        LOG.error('%s', message)
        result.missing.append(self.root_uuid or self.nodename)
        result.errors.append(message)

    def _managed(self, tree, plan):
        """The providers of ``tree`` whose owned traits ``plan`` decides.

        The root first.  Providers gone from the tree (deleted, or
        recreated under a new UUID) are forgotten.
        """
        managed = sorted((rp for rp in tree.values()
                          if plan.is_managed(rp.name)),
                         key=lambda rp: (rp.name != self.nodename, rp.name))
        self._known = {rp.id: self._known[rp.id] for rp in managed
                       if rp.id in self._known}
        return managed

    def _changes_needed(self, managed, plan, result):
        """A :class:`_Work` per provider whose owned traits must change.

        Reads the traits of the providers not known to be unchanged since
        an earlier sync; all reads come before any write.
        """
        work = []
        for rp in managed:
            desired = plan.desired(rp.name)
            if self._unchanged(rp, desired):
                continue
            try:
                current = self._read_traits(rp)
            except placement_answers.MalformedAnswer as e:
                self._provider_failed(rp, e, result)
                continue
            to_add, to_remove = nvc_plan.diff(current.traits, desired)
            if to_add or to_remove:
                work.append(_Work(rp, desired, current, frozenset(to_add),
                                  frozenset(to_remove)))
            else:
                self._remember(rp.id, current.resource_provider_generation,
                               desired)
        return work

    def _report(self, work, plan, result):
        """Dry run: what :meth:`_publish` would do, writing nothing."""
        for item in work:
            result.changes[item.rp.name] = Change(item.to_add,
                                                  item.to_remove)
        result.created_traits = sorted(self._missing_traits(
            set().union(*(w.to_add for w in work))))
        result.created_resource_classes = sorted(
            self._missing_resource_classes(plan.resource_classes))

    def _publish(self, work, plan, result):
        """Create the missing traits and classes, then write ``work``.

        Every trait a provider write names must exist first (Placement
        refuses a traits PUT naming an unknown one).
        """
        self._ensure_traits(set().union(*(w.to_add for w in work)), result)
        self._ensure_resource_classes(plan.resource_classes, result)
        for item in work:
            try:
                self._write_traits(item.rp, item.desired, item.current,
                                   result)
            except placement_answers.MalformedAnswer as e:
                self._provider_failed(item.rp, e, result)

    def _log_left_out(self, plan):
        """A WARNING naming what the root's limit left out, per change.

        What fits is published; the devices that do not fit on the
        compute node provider are named (:attr:`.plan.Plan.left_out`).
        """
        if plan.message == self._left_out:
            return
        self._left_out = plan.message
        if plan.message:
            LOG.warning('%s', plan.message)

    def _log_absent(self, absent):
        """One INFO line when the set of absent providers changes.

        Nova creates an mdev parent's provider only while the GPU has
        capacity for its type (``_ensure_pgpu_providers`` skips, and
        deletes, a provider whose total would be 0): a GPU past
        ``[mdev_<type>] max_instances`` or with no room for the type has
        none, for as long as that lasts.  Expected, so neither an error
        nor a reason to retry; every sync lists the tree, so the traits
        are published by the first sync after the provider appears.
        """
        absent = frozenset(absent)
        if absent == self._absent:
            return
        self._absent = absent
        if absent:
            LOG.info('No resource provider in Placement for %s: Nova '
                     'creates one only while the GPU has capacity for its '
                     'mdev type (max_instances, free capacity); its traits '
                     'are published when it appears', ', '.join(
                         sorted(absent)))

    def _provider_failed(self, rp, error, result):
        """An answer about ``rp`` is not Placement's: skip ``rp`` alone.

        Nothing is written to it from that answer; the other providers are
        still synced, and the next sync tries it again.
        """
        message = ('resource provider %s not synced: %s'
                   % (rp.name, _describe(error)))
        LOG.warning('%s; will retry', message)
        result.placement_failed = True
        result.errors.append(message)

    def _traits_call(self, method, rp, body=None):
        """``GET`` or ``PUT /resource_providers/{uuid}/traits`` of ``rp``.

        :returns: :class:`ProviderTraits` of the answer.
        :raises openstack.exceptions.SDKException: on an error answer
            (``ConflictException`` for 409), or an answer without traits
            or generation: writing back from that would be a guess.
        """
        url = '/resource_providers/%s/traits' % rp.id
        kwargs = {} if body is None else {'json': body}
        # Raw calls through the proxy do not raise on HTTP errors.
        response = getattr(self._placement, method.lower())(
            url, microversion=placement_reader.TRAITS_MICROVERSION, **kwargs)
        sdk_exceptions.raise_from_response(
            response, error_message='resource provider %s: %s %s'
            % (rp.name, method, url))
        answer = response.json()
        traits = answer.get('traits') if isinstance(answer, dict) else None
        generation = (answer.get('resource_provider_generation')
                      if isinstance(answer, dict) else None)
        if not isinstance(traits, list) or not isinstance(generation, int):
            raise sdk_exceptions.SDKException(
                'resource provider %s: the answer to %s %s has no traits '
                'or generation' % (rp.name, method, url))
        return ProviderTraits(frozenset(traits), generation)

    def _read_traits(self, rp):
        """The provider's traits and generation, as Placement has them."""
        return self._traits_call('GET', rp)

    def _missing_traits(self, names):
        existing = placement_reader.existing_traits(
            names, lambda name_filter: (
                t.name for t in self._placement.traits(name=name_filter)))
        return [n for n in sorted(names) if n not in existing]

    def _ensure_traits(self, names, result):
        """Create the traits among ``names`` that do not exist yet.

        A traits PUT naming an unknown trait is refused.
        """
        for name in self._missing_traits(names):
            result.writes += 1
            self._placement.create_trait(name)
            result.created_traits.append(name)
            LOG.info('Created trait %s', name)

    def _missing_resource_classes(self, names):
        """The classes among ``names`` Placement does not have.

        Only listed when some are not known to exist from an earlier
        sync.
        """
        if set(names) <= self._classes:
            return []
        existing = {rc.name for rc in self._placement.resource_classes()}
        if not self.dry_run:
            self._classes.update(existing & set(names))
        return sorted(set(names) - existing)

    def _ensure_resource_classes(self, names, result):
        for name in self._missing_resource_classes(names):
            result.writes += 1
            # Raw calls through the proxy do not raise on HTTP errors.
            response = self._placement.put(
                '/resource_classes/%s' % name,
                microversion=RC_PUT_MICROVERSION)
            sdk_exceptions.raise_from_response(
                response, error_message='creating resource class %s' % name)
            result.created_resource_classes.append(name)
            self._classes.add(name)
            LOG.info('Created resource class %s', name)

    def _write_traits(self, rp, desired, current, result):
        """Read-modify-write of ``rp``'s traits, retried on 409."""
        for attempt in range(self.conflict_retries + 1):
            to_add, to_remove = nvc_plan.diff(current.traits, desired)
            if not to_add and not to_remove:
                self._remember(rp.id, current.resource_provider_generation,
                               desired)
                return
            new = nvc_plan.apply(current.traits, to_add, to_remove)
            if self.before_write is not None:
                self.before_write(rp.name)
            result.writes += 1
            try:
                written = self._traits_call('PUT', rp, {
                    'traits': sorted(new),
                    'resource_provider_generation':
                        current.resource_provider_generation})
            except sdk_exceptions.ConflictException:
                # PUT /resource_providers/{uuid}/traits only conflicts on
                # the generation: someone wrote in between.
                if attempt == self.conflict_retries:
                    break
                LOG.info('Resource provider %s changed while its traits '
                         'were being updated (generation conflict); '
                         're-reading, retry %d of %d', rp.name,
                         attempt + 1, self.conflict_retries)
                current = self._read_traits(rp)
                continue
            self._remember(rp.id, written.resource_provider_generation,
                           desired)
            change = result.changes.setdefault(rp.name, Change())
            change.added = change.added | frozenset(to_add)
            change.removed = change.removed | frozenset(to_remove)
            # A firmware family is dozens of traits: count them at INFO,
            # name them at DEBUG (--dry-run prints them too).
            LOG.info('Resource provider %s: added %d owned traits, removed '
                     '%d', rp.name, len(to_add), len(to_remove))
            LOG.debug('Resource provider %s: added traits %s, removed %s',
                      rp.name, sorted(to_add) or 'none',
                      sorted(to_remove) or 'none')
            return
        message = ('resource provider %s: traits not updated, %d '
                   'generation conflicts in a row; retried next sync'
                   % (rp.name, self.conflict_retries + 1))
        LOG.warning('%s', message)
        result.errors.append(message)


def _describe(error):
    text = str(error) or error.__class__.__name__
    return ' '.join(text.split())
