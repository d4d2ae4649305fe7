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


"""VFIOCompatFilter: live-migrate servers with VFIO devices only to hosts
whose devices accept the source devices' migration streams.

Which hosts pass:

* every host, for any request that is not a live migration (boot, cold
  migration, resize, evacuation, rebuild), for flavors whose
  ``vfio_compat:policy`` (or ``[vfio_compat_filter] default_policy``) is
  ``skip``, and for servers that hold no device the reporter describes;
* for a live migration: a host whose provider tree accepts every stream the
  server's source devices emit, with its allocation candidates pruned to
  those whose device providers accept them, so the claim lands on a device
  that can receive the stream.

A live migration is recognised by two signals together: the instance's
task state is ``migrating`` (what ``nova-api`` sets for a live migration
only) and the conductor has created a Migration of type
``live-migration`` in status ``accepted``.  A record left ``accepted`` by
a conductor that died therefore never turns a later cold migration or
evacuation into a checked live migration.

The database and Placement look-ups happen once per request
(:meth:`VFIOCompatFilter.check_request`, from ``filter_all`` or cached
for the request when Nova calls ``host_passes`` host by host); the
per-host step is the set test in
:mod:`nova_vfio_compat.selection.decision`.
Placement calls per request: one for the migration's allocations, one
for the source tree's provider names, one per source device for its
traits, one per batch of accept trait names (which exist), and, per
stream some of whose accept names exist, the providers that accept it
(any of them, ``required=in:``): one request per tree of the hosts
handed to ``filter_all`` while hosts times streams is at most
``[vfio_compat_filter] max_tree_reads`` (what is downloaded then grows
with those hosts, not with the fleet), else one request for the whole
fleet.  Only when no host passed, Nova's own allocation candidates query
once more (to tell a truncated answer), and when that answer is at its
limit and only the candidates' trees were read, the whole fleet's
accepting providers once per stream.

Where Nova claims any device of a matching PCI pool (flavor PCI requests
without ``[filter_scheduler] pci_in_placement``), the per-host step also
asks the host's pools, from Nova's ``HostState.pci_stats``: no Placement
call.

Logging: one INFO line per checked live migration (hosts passed, hosts
rejected by reason with counts and example host names, candidates
pruned, the streams and how many providers accept each), written when
Nova has drained ``filter_all``; one DEBUG line per rejected or pruned
host with the full reasons.  Reasons are only worked out for a line that
is emitted.  Every line starts with ``VFIOCompatFilter:`` so that an
operator can search the scheduler log for it.

The seam for running the filter without Nova's services: construct it
with ``live_migration`` (what the conductor would have recorded, as a
:class:`LiveMigration`) and ``placement_get`` (a Placement client), and
call ``filter_all`` or :meth:`VFIOCompatFilter.check_request`.  The demo
and the benchmarks do.
"""

import collections
import functools
import logging as std_logging

from oslo_log import log as logging

from nova.compute import pci_placement_translator
from nova.compute import task_states
import nova.conf
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.objects import fields
from nova.scheduler.client import report
from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils

from nova_vfio_compat.conf import filter as filter_conf
from nova_vfio_compat.model import policy as nvc_policy
from nova_vfio_compat.placement import reader as nvc_placement_reader
from nova_vfio_compat.placement import sessions as placement_sessions
from nova_vfio_compat.selection import decision
from nova_vfio_compat.selection import placement_reads

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF
# The one option group the filter reads; nothing of the reporter's.
filter_conf.register_opts(CONF)

# What a ``placement_get`` raises (see the class's parameters).
PlacementUnavailable = nvc_placement_reader.PlacementUnavailable

# Host names a summary line gives per reason.
EXAMPLES = 3


class LiveMigration(collections.namedtuple(
        'LiveMigration', ['consumer', 'source_host', 'source_root'])):
    """A live migration being scheduled.

    ``consumer`` is the Placement consumer that holds the server's source
    allocations while it is scheduled (the Migration's UUID: the
    conductor moves them there before it calls the scheduler);
    ``source_host`` the source compute host's name and ``source_root``
    the UUID of its compute node resource provider.
    """


class RequestCheck:
    """The decision of one request, and the per-host path.

    ``streams`` is a :class:`decision.Streams` to test hosts with, or None
    when every host passes; ``reject_all`` holds the reason when no host
    may pass (fail closed, or a strict policy with undescribed devices).
    """

    def __init__(self, instance_uuid, streams=None, reject_all=None,
                 migration=None, pools=None, nova_candidates=None,
                 fleet_roots=None, trees_asked=None):
        self.instance_uuid = instance_uuid
        self.streams = streams
        # When ``streams`` knows the candidate hosts' trees only
        # (trees_asked of them): fleet_roots() reads the roots of the
        # whole fleet whose trees accept every stream (see
        # _warn_if_truncated).  None when ``streams`` knows the fleet.
        self.fleet_roots = fleet_roots
        self.trees_asked = trees_asked
        self.reject_all = reject_all
        self.migration = migration
        # nova_candidates(): [(allocation requests, root providers)] of
        # Nova's own candidates queries for the request, asked only when
        # no host passed (see _warn_if_truncated).
        self.nova_candidates = nova_candidates
        # pools(host_state): the decision.ClaimablePool s Nova may claim
        # the server's pool-claimed PCI devices from on that host; None
        # when Nova claims every device where Placement allocates it.
        self.pools = pools

    def _check(self, host_state, candidates):
        """``(passes, kept, pool_rejections)`` for one host."""
        passes, kept = self.streams.check(host_state.uuid, candidates)
        if passes and self.pools is not None:
            refused = self.streams.pool_rejections(self.pools(host_state))
            if refused:
                return False, None, refused
        return passes, kept, None

    @property
    def passes_all(self):
        return self.streams is None and not self.reject_all

    def filter(self, host_states):
        """Yield the hosts that pass; log the request's summary at the end.

        Nova drains the generator (``list()``) before the next filter
        runs, so the summary follows the last host.
        """
        if self.passes_all:
            yield from host_states
            return
        summary = (_Summary(self)
                   if LOG.isEnabledFor(std_logging.INFO) else None)
        debug = LOG.isEnabledFor(std_logging.DEBUG)
        seen = []
        if self.reject_all:
            for host_state in host_states:
                seen.append(host_state)
                if debug:
                    self._log_rejected(host_state, self.reject_all)
                if summary is not None:
                    summary.rejected(host_state.host, self.reject_all)
            if summary is not None:
                summary.log(len(seen))
            return
        passed = 0
        for host_state in host_states:
            seen.append(host_state)
            candidates = host_state.allocation_candidates or []
            passes, kept, refused = self._check(host_state, candidates)
            if debug:
                self._log_host(host_state, candidates, passes, kept, refused)
            if passes:
                if kept is not None:
                    # What CandidateFilterMixin.filter_candidates does,
                    # without its two debug lines per candidate.
                    host_state.allocation_candidates = kept
                    if summary is not None:
                        summary.pruned_on(host_state.host,
                                          len(candidates) - len(kept))
                passed += 1
                yield host_state
            elif summary is not None:
                summary.rejected(host_state.host,
                                 decision.POOLS_REFUSE if refused else
                                 self.streams.reason(host_state.uuid))
        if summary is not None:
            summary.hosts_passed = passed
            summary.log(len(seen))
        if not passed:
            self._warn_if_truncated(seen)

    def host_passes(self, host_state):
        """One host, for callers that do not use ``filter_all``.

        Logs at DEBUG only: without ``filter_all`` there is no end of the
        request to write a summary at.
        """
        debug = LOG.isEnabledFor(std_logging.DEBUG)
        if self.reject_all:
            if debug:
                self._log_rejected(host_state, self.reject_all)
            return False
        if self.streams is None:
            return True
        candidates = host_state.allocation_candidates or []
        passes, kept, refused = self._check(host_state, candidates)
        if debug:
            self._log_host(host_state, candidates, passes, kept, refused)
        if passes and kept is not None:
            host_state.allocation_candidates = kept
        return passes

    # Log lines ----------------------------------------------------------

    def _log_rejected(self, host_state, why):
        LOG.debug('VFIOCompatFilter: host %(host)s rejected for instance '
                  '%(instance)s: %(why)s',
                  {'host': host_state.host, 'instance': self.instance_uuid,
                   'why': why})

    def _log_host(self, host_state, candidates, passes, kept, refused):
        if passes and kept is None:
            return
        if refused:
            self._log_rejected(host_state, _Reasons(refused))
            return
        # The reasons, worked out only for this line.
        result = self.streams.decide(host_state.uuid, candidates)
        if not passes:
            self._log_rejected(host_state, _Reasons(result.rejections))
            return
        LOG.debug('VFIOCompatFilter: host %(host)s: kept %(kept)d of '
                  '%(total)d allocation candidates for instance '
                  '%(instance)s; pruned because %(why)s',
                  {'host': host_state.host, 'kept': len(kept),
                   'total': len(candidates), 'instance': self.instance_uuid,
                   'why': _Reasons(result.rejections)})

    def _warn_if_truncated(self, seen):
        """Say so when accepting hosts may be beyond Nova's candidates.

        Nova asks Placement for at most ``[scheduler]
        max_placement_results`` candidates and Placement returns the same
        first ones every time unless it randomizes them.  The filter sees
        only the hosts earlier filters left, so it cannot count what Nova
        got: when no host passed and a host whose tree accepts the
        streams was not handed over, it asks Placement Nova's own query
        again (once, on this path only).  It warns when that answer is at
        the limit and leaves out an accepting host; an accepting host in
        the answer was removed by an earlier filter, not by the limit.
        """
        if self.nova_candidates is None:
            return
        roots = {h.uuid for h in seen}
        roots.add(self.migration.source_root)
        outside = None
        if self.fleet_roots is None:
            outside = self.streams.accepting_roots - roots
            if not outside:
                return
        try:
            answers = self.nova_candidates()
            limit = CONF.scheduler.max_placement_results
            if not any(count >= limit for count, _ in answers):
                return
            if outside is None:
                # The streams were read for the candidates' trees only:
                # which hosts beyond them accept is read now, on this
                # path only (no host passed, a truncated answer).
                outside = self.fleet_roots() - roots
        except Exception as e:
            # Advisory only: whatever fails here (Placement, a request
            # spec Nova's code cannot build a query from) must not change
            # the decision already made.
            LOG.debug('VFIOCompatFilter: cannot tell whether Placement '
                      'truncated the candidates for instance %(instance)s: '
                      '%(error)s', {'instance': self.instance_uuid,
                                    'error': e})
            return
        returned = sum(count for count, _ in answers)
        beyond = outside - frozenset().union(*(r for _, r in answers))
        if not beyond:
            return
        LOG.warning('VFIOCompatFilter: no host passed for the live '
                    'migration of instance %(instance)s, but %(outside)d '
                    'host(s) whose devices accept its streams were not '
                    'among the %(returned)d allocation candidates '
                    'Placement returned for Nova\'s query: Nova asks '
                    'Placement for at most [scheduler] '
                    'max_placement_results = %(limit)d candidates, and '
                    'Placement returns the same first ones every time '
                    'unless its [placement] randomize_allocation_candidates '
                    'is true. Raise the one or enable the other.',
                    {'instance': self.instance_uuid,
                     'outside': len(beyond), 'returned': returned,
                     'limit': limit})


class _Summary:
    """The counts of one request, for its one INFO line."""

    def __init__(self, check):
        self.check = check
        self.hosts_passed = 0
        self.pruned = 0
        self.pruned_hosts = 0
        self.pruned_examples = []
        self.reasons = collections.Counter()
        self.examples = collections.defaultdict(list)

    def pruned_on(self, host, count):
        self.pruned += count
        self.pruned_hosts += 1
        if len(self.pruned_examples) < EXAMPLES:
            self.pruned_examples.append(host)

    def rejected(self, host, reason):
        self.reasons[reason] += 1
        examples = self.examples[reason]
        if len(examples) < EXAMPLES:
            examples.append(host)

    def log(self, total):
        check = self.check
        migration = check.migration
        LOG.info('VFIOCompatFilter: live migration of instance '
                 '%(instance)s%(source)s: %(passed)d of %(total)d '
                 'hosts passed; rejected: %(rejected)s; %(pruned)s; '
                 'streams: %(streams)s',
                 {'instance': check.instance_uuid,
                  'source': (' from %s' % migration.source_host
                             if migration else ''),
                  'passed': self.hosts_passed, 'total': total,
                  'rejected': self._rejected(),
                  'pruned': self._pruned(),
                  'streams': self._streams()})

    def _rejected(self):
        if not self.reasons:
            return 'none'
        return '; '.join(
            '%d because %s (e.g. %s)' % (
                count, _describe(reason), ', '.join(self.examples[reason]))
            for reason, count in sorted(self.reasons.items(),
                                        key=lambda item: -item[1]))

    def _pruned(self):
        if not self.pruned:
            return 'no allocation candidate pruned'
        return '%d allocation candidate(s) pruned on %d host(s) (e.g. %s)' % (
            self.pruned, self.pruned_hosts, ', '.join(self.pruned_examples))

    def _streams(self):
        streams = self.check.streams
        if streams is None:
            return 'not read'
        where = ''
        if self.check.trees_asked is not None:
            where = ' of the %d host(s) asked about' % self.check.trees_asked
        return '; '.join(
            '%s emitted by %s, accepted by %d provider(s)%s' % (
                stream, ', '.join(s.describe() for s in streams.sources
                                  if stream in s.streams),
                streams.accepting_count(stream), where)
            for stream in sorted(streams.emitted))


def _describe(reason):
    return reason.describe() if hasattr(reason, 'describe') else reason


_PASS_ALL = RequestCheck(None)


class VFIOCompatFilter(filters.BaseHostFilter, filters.CandidateFilterMixin):
    """Live migrations pass only hosts whose devices accept the streams.

    Allocation candidates are pruned to the devices that accept them.

    Nova constructs it with no arguments.  Without Nova's services (a
    demo, a benchmark, a test), pass:

    :param live_migration: ``live_migration(spec_obj)`` returns the
        :class:`LiveMigration` the conductor would have recorded for the
        request, or None when it is not a live migration; by default the
        filter asks Nova's cell database.
    :param placement_get: ``placement_get(url, microversion)`` returns a
        Placement answer's decoded JSON or raises
        :exc:`PlacementUnavailable`; by default Nova's report client.
    """

    RUN_ON_REBUILD = False
    # A live migration schedules one instance; the decision is per request.
    run_filter_once_per_request = True

    def __init__(self, live_migration=None, placement_get=None):
        super().__init__()
        self._find_live_migration = live_migration
        self._placement_get = placement_get
        # (spec_obj, check) of the request host_passes() last served.
        # Compared by identity: a new request (a new RequestSpec from RPC)
        # never sees an older request's data.
        self._last = None

    # Nova's filter entry points --------------------------------------

    def filter_all(self, filter_obj_list, spec_obj):
        """Decide once for the request, then test each host.

        Nova's filter handler calls this once per filter per request and
        drains it, which is where the request's summary is logged.
        """
        if scheduler_utils.request_is_rebuild(spec_obj):
            return iter(filter_obj_list)
        hosts = list(filter_obj_list)
        check = self.check_request(spec_obj, hosts=hosts)
        if check.passes_all:
            return iter(hosts)
        try:
            # Nova drains the result at once (list()); draining it here
            # lets an error of the decision be handled like a failed read.
            return iter(list(check.filter(hosts)))
        except Exception as e:
            return iter(self._failed(spec_obj, e, check.migration).filter(
                hosts))

    def host_passes(self, host_state, spec_obj):
        """The per-host path, for callers that do not use filter_all()."""
        last = self._last
        if last is not None and last[0] is spec_obj:
            check = last[1]
        else:
            check = self.check_request(spec_obj)
            self._last = (spec_obj, check)
        try:
            return check.host_passes(host_state)
        except Exception as e:
            check = self._failed(spec_obj, e, check.migration)
            self._last = (spec_obj, check)
            return check.host_passes(host_state)

    # Once per request ---------------------------------------------------

    def check_request(self, spec_obj, hosts=None):
        """The request-wide step: a :class:`RequestCheck` for the request.

        Reads what it needs once (the live migration, the source devices'
        traits, the providers accepting their streams); its
        :meth:`RequestCheck.filter` then tests hosts.

        :param hosts: the host states the check will test, when known
            (``filter_all``): with at most ``[vfio_compat_filter]
            max_tree_reads`` hosts times streams, only their trees are
            asked which providers accept the streams, and the check can
            decide for those hosts only.  None: the whole fleet is asked
            about (a constant number of requests), for any host.
        """
        flavor = spec_obj.flavor if spec_obj.obj_attr_is_set(
            'flavor') else None
        policy = nvc_policy.effective_policy(
            flavor.extra_specs if flavor else None,
            CONF.vfio_compat_filter.default_policy)
        if policy == nvc_policy.POLICY_SKIP:
            return _PASS_ALL
        # A live migration always ignores its source host; a boot never
        # ignores hosts.  Cheap, and spares boots the database look-up.
        if not (spec_obj.obj_attr_is_set('ignore_hosts') and
                spec_obj.ignore_hosts):
            return _PASS_ALL
        migration = None
        try:
            if self._find_live_migration is not None:
                migration = self._find_live_migration(spec_obj)
            else:
                migration = self._nova_live_migration(spec_obj)
            if migration is None:
                return _PASS_ALL
            return self._live_migration_check(spec_obj, migration, policy,
                                              hosts)
        except Exception as e:
            # Nothing of the filter's own escapes into nova-scheduler.
            return self._failed(spec_obj, e, migration)

    def _failed(self, spec_obj, error, migration):
        """The check of a request whose read or decision raised ``error``.

        One log line; ``fail_open`` decides.
        """
        if isinstance(error, PlacementUnavailable):
            what = str(error)
        elif isinstance(error, exception.NovaException):
            what = 'database: %s' % error
        else:
            what = 'unexpected %s: %s' % (type(error).__name__,
                                          str(error)[:300])
        return self._unavailable(spec_obj, what, migration)

    def _unavailable(self, spec_obj, what, migration):
        if CONF.vfio_compat_filter.fail_open:
            LOG.error('VFIOCompatFilter: cannot check the live migration '
                      'of instance %(instance)s: %(what)s; passing every '
                      'host unchecked ([vfio_compat_filter] fail_open is '
                      'true)', {'instance': spec_obj.instance_uuid,
                                'what': what})
            return _PASS_ALL
        LOG.error('VFIOCompatFilter: cannot check the live migration of '
                  'instance %(instance)s: %(what)s; rejecting every host '
                  '(fail closed; [vfio_compat_filter] fail_open = true '
                  'passes them unchecked instead)',
                  {'instance': spec_obj.instance_uuid, 'what': what})
        return RequestCheck(
            spec_obj.instance_uuid,
            reject_all='the compatibility data could not be read (fail '
                       'closed): %s' % what, migration=migration)

    @staticmethod
    def _context(spec_obj):
        # A RequestSpec that came over RPC carries the request context.
        ctxt = getattr(spec_obj, '_context', None)
        return (ctxt or nova_context.get_admin_context()).elevated()

    def _nova_live_migration(self, spec_obj):
        """The live migration being scheduled, from Nova's cell database.

        Two signals together: the instance is in task state
        ``migrating``, which nova-api sets for a live migration only
        (evacuations are ``rebuilding``, cold migrations and resizes
        ``resize_prep``), and the conductor has created a Migration of
        type live-migration in status accepted before it calls the
        scheduler.  The newest such record is the one of this request.
        """
        ctxt = self._context(spec_obj)
        try:
            mapping = objects.InstanceMapping.get_by_instance_uuid(
                ctxt, spec_obj.instance_uuid)
        except exception.InstanceMappingNotFound:
            return None
        if not mapping.cell_mapping:
            return None
        with nova_context.target_cell(ctxt, mapping.cell_mapping) as cctxt:
            try:
                instance = objects.Instance.get_by_uuid(
                    cctxt, spec_obj.instance_uuid, expected_attrs=[])
            except exception.InstanceNotFound:
                # Deleted while it moves: nothing is left to live-migrate,
                # and a cold migration, resize or evacuation is not ours.
                LOG.debug('VFIOCompatFilter: instance %s not found; not '
                          'checked', spec_obj.instance_uuid)
                return None
            if instance.task_state != task_states.MIGRATING:
                return None
            migrations = objects.MigrationList.get_by_filters(
                cctxt, {'instance_uuid': spec_obj.instance_uuid,
                        'migration_type':
                            fields.MigrationType.LIVE_MIGRATION,
                        'status': 'accepted'},
                sort_keys=['created_at', 'id'], sort_dirs=['desc', 'desc'])
            if not migrations:
                return None
            # The migration's source_node is only filled in later by the
            # conductor; the instance still says where it runs.
            node = objects.ComputeNode.get_by_host_and_nodename(
                cctxt, instance.host, instance.node)
        return LiveMigration(migrations[0].uuid, instance.host, node.uuid)

    def _get(self, spec_obj):
        """The ``get(url, microversion)`` the request's reads go through."""
        if self._placement_get is not None:
            return self._placement_get
        return _NovaPlacement(self._context(spec_obj)).get

    def _live_migration_check(self, spec_obj, migration, policy,
                              hosts=None):
        reads = placement_reads.RequestReads(self._get(spec_obj))
        # The conductor moved the server's source allocations to the
        # migration's consumer before it called the scheduler.
        devices = reads.source_devices(
            migration.consumer, migration.source_root,
            frozenset(CONF.vfio_compat_filter.device_resource_classes))
        requests = _flavor_pci_requests(spec_obj)
        unseen = None
        if requests and not any(d.nova_pci for d in devices):
            # Flavor PCI devices with no provider to read: [pci]
            # report_in_placement is off on the source.  Neutron ports
            # are not flavor requests: left alone.
            unseen = ('its flavor PCI device(s) (alias %s) have no resource '
                      'provider on %s ([pci] report_in_placement is off '
                      'there), so nothing says which streams they emit'
                      % (', '.join(sorted({r.alias_name or r.request_id
                                           for r in requests})),
                         migration.source_host))
        undescribed = [d for d in devices if not d.streams]
        if policy == nvc_policy.POLICY_STRICT and (undescribed or unseen):
            why = '; '.join(filter(None, [
                'flavor policy %s' % policy,
                undescribed and (
                    'source device provider(s) %s have no capability '
                    'traits (is the reporter running on %s?)'
                    % (', '.join(s.describe() for s in undescribed),
                       migration.source_host)),
                unseen]))
            LOG.warning('VFIOCompatFilter: instance %(instance)s cannot be '
                        'live-migrated by the scheduler: %(why)s',
                        {'instance': spec_obj.instance_uuid, 'why': why})
            return RequestCheck(spec_obj.instance_uuid, reject_all=why,
                                migration=migration)
        if unseen:
            LOG.warning('VFIOCompatFilter: the live migration of instance '
                        '%(instance)s is not checked for %(why)s',
                        {'instance': spec_obj.instance_uuid,
                         'why': unseen.replace('its flavor', 'the flavor',
                                               1)})
        sources = [d for d in devices if d.streams]
        if not sources:
            return _PASS_ALL
        emitted = frozenset().union(*(s.streams for s in sources))
        pooled = _pool_claimed(spec_obj, requests)
        pools = None
        if pooled and any(s.nova_pci for s in sources):
            pools = functools.partial(_claimable_pools, requests=pooled)
        trees = _candidate_trees(hosts, len(emitted))
        streams = decision.Streams(sources, reads.accepting(emitted, trees))
        fleet_roots = None
        if trees is not None:
            fleet_roots = functools.partial(_fleet_roots, reads, sources,
                                            emitted)
        return RequestCheck(spec_obj.instance_uuid, streams,
                            migration=migration, pools=pools,
                            nova_candidates=functools.partial(
                                _nova_candidates, self._context(spec_obj),
                                spec_obj, reads),
                            fleet_roots=fleet_roots,
                            trees_asked=(None if trees is None
                                         else len(trees)))


def _fleet_roots(reads, sources, emitted):
    """The roots of the fleet whose trees accept every stream."""
    return decision.Streams(sources, reads.accepting(emitted)
                            ).accepting_roots


def _candidate_trees(hosts, streams):
    """The trees to ask about, or None to ask about the fleet.

    The candidate hosts' root providers, when asking each of their trees
    about each stream (``[vfio_compat_filter] max_tree_reads``) costs no
    more requests than allowed.
    """
    if hosts is None:
        return None
    trees = frozenset(h.uuid for h in hosts)
    if len(trees) * streams > CONF.vfio_compat_filter.max_tree_reads:
        return None
    return trees


def _nova_candidates(ctxt, spec_obj, reads):
    """What Placement answers Nova's candidates queries for ``spec_obj``.

    Built with Nova's own code from the request spec its request filters
    already adjusted, as ``SchedulerManager.select_destinations`` does
    (with its second, VCPU instead of PCPU, query when it makes one).  A
    named destination is one host: nothing to truncate.
    """
    destination = (spec_obj.requested_destination
                   if spec_obj.obj_attr_is_set('requested_destination')
                   else None)
    if destination is not None and (
            'host' in destination and destination.host or
            'node' in destination and destination.node):
        return []
    queries = [scheduler_utils.resources_from_request_spec(
        ctxt, spec_obj, None, enable_pinning_translate=True)]
    if (queries[0].cpu_pinning_requested and
            not CONF.workarounds.disable_fallback_pcpu_query):
        queries.append(scheduler_utils.resources_from_request_spec(
            ctxt, spec_obj, None, enable_pinning_translate=False))
    return [reads.candidates(q.to_querystring()) for q in queries]


def _flavor_pci_requests(spec_obj):
    """The server's PCI requests from its flavor (not Neutron ports).

    A Neutron SR-IOV port's VF is unplugged before a live migration and a
    destination VF plugged after it: no device stream moves, and Placement
    has no provider for it.  It is left alone.
    """
    if not spec_obj.obj_attr_is_set('pci_requests') or \
            not spec_obj.pci_requests:
        return []
    return [r for r in spec_obj.pci_requests.requests
            if r.source != objects.InstancePCIRequest.NEUTRON_PORT]


def _pool_claimed(spec_obj, requests):
    """The flavor PCI requests Nova claims from any matching pool.

    Those without a Placement request group (``[filter_scheduler]
    pci_in_placement`` off where the conductor built the request): the
    PCI claim then takes any device of a pool that matches
    (``nova.pci.stats.PciDeviceStats.consume_requests``), not the one of
    the allocation candidate.
    """
    groups = [g.requester_id for g in (
        spec_obj.requested_resources
        if spec_obj.obj_attr_is_set('requested_resources') and
        spec_obj.requested_resources else ())
        if g.requester_id]
    return [r for r in requests
            if not any(g.startswith('%s-' % r.request_id) for g in groups)]


def _claimable_pools(host_state, requests):
    """The :class:`decision.ClaimablePool` s of ``host_state`` for requests.

    Nova's own pool matching (the scheduler's copy of the host's pools,
    each with its PF or device address and, where the host reports PCI
    devices to Placement, its provider), without the NUMA constraint: a
    superset of the devices the claim may take.
    """
    stats = host_state.pci_stats
    if not stats:
        return []
    pools = []
    for request in requests:
        rc = pci_placement_translator.get_resource_class(
            request.spec[0].get('resource_class'),
            request.spec[0].get('vendor_id'),
            request.spec[0].get('product_id')) if request.spec else None
        for pool in stats._filter_pools(stats.pools, request, None, []) or ():
            pools.append(decision.ClaimablePool(
                pool.get('rp_uuid'), pool.get('address'), rc))
    return pools


class _Reasons:
    """Rejections joined for a log line, only when it is emitted."""

    def __init__(self, rejections):
        self.rejections = rejections

    def __str__(self):
        return '; '.join(r.describe() for r in self.rejections)


class _NovaPlacement:
    """Placement GETs through Nova's report client, for RequestReads.

    A :class:`nova_vfio_compat.placement.reader.Reader`: every answer is
    checked; every request has ``[vfio_compat_filter]
    placement_deadline``.
    """

    def __init__(self, ctxt):
        self._client = report.report_client_singleton()
        self._global_id = ctxt.global_id
        self.get = nvc_placement_reader.Reader.over_responses(
            self._send, placement_sessions.CLIENT_ERRORS)

    def _send(self, url, version):
        return placement_sessions.within(
            CONF.vfio_compat_filter.placement_deadline,
            lambda: self._client.get(url, version=version,
                                     global_request_id=self._global_id),
            'Placement GET %s' % url)
