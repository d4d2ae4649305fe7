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

The database and Placement look-ups happen once per request (in
:meth:`VFIOCompatFilter.filter_all`, or cached for the request when Nova
calls :meth:`VFIOCompatFilter.host_passes` host by host); the per-host
step is the set test in :mod:`nova_vfio_compat.scheduler.decision`.
Placement calls per request: one for the migration's allocations, one
for the source tree's provider names, one per source device for its
traits, one per batch of accept trait names (which exist), and one per
stream some of whose accept names exist (any of them, ``required=in:``).
None of that depends on the number of hosts.

Every log line starts with ``VFIOCompatFilter:`` so that an operator can
search the scheduler log for it.
"""

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from oslo_log import log as logging

from nova import context as nova_context
from nova import exception
from nova import objects
from nova.objects import fields
from nova.scheduler.client import report
from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.scheduler import decision
from nova_vfio_compat.scheduler import placement_reads

LOG = logging.getLogger(__name__)
CONF = nvc_conf.CONF

# Nova's client is an openstacksdk adapter over keystoneauth: a failed
# connection raises, an error answer comes back as a response.
_CLIENT_ERRORS = (ks_exceptions.ClientException, sdk_exceptions.SDKException)
PlacementUnavailable = placement_reads.PlacementUnavailable


class _Verdict:
    """What the request-wide step decided.

    ``streams`` is a :class:`decision.Streams` to test hosts with, or None
    when every host passes; ``reject_all`` holds the reason when no host
    may pass (fail closed, or a strict policy with undescribed devices).
    """

    def __init__(self, streams=None, reject_all=None):
        self.streams = streams
        self.reject_all = reject_all


_PASS_ALL = _Verdict()


class VFIOCompatFilter(filters.BaseHostFilter, filters.CandidateFilterMixin):
    """Live migrations pass only hosts whose devices accept the streams.

    Allocation candidates are pruned to the devices that accept them.
    """

    RUN_ON_REBUILD = False
    # A live migration schedules one instance; the decision is per request.
    run_filter_once_per_request = True

    def __init__(self):
        super().__init__()
        # (spec_obj, verdict) of the request host_passes() last served.
        # Compared by identity: a new request (a new RequestSpec from RPC)
        # never sees an older request's data.
        self._last = None

    # Nova's filter entry points --------------------------------------

    def filter_all(self, filter_obj_list, spec_obj):
        """Decide once for the request, then test each host."""
        if scheduler_utils.request_is_rebuild(spec_obj):
            yield from filter_obj_list
            return
        verdict = self._verdict(spec_obj)
        for host_state in filter_obj_list:
            if self._host_ok(host_state, spec_obj, verdict):
                yield host_state

    def host_passes(self, host_state, spec_obj):
        """The per-host path, for callers that do not use filter_all()."""
        last = self._last
        if last is not None and last[0] is spec_obj:
            verdict = last[1]
        else:
            verdict = self._verdict(spec_obj)
            self._last = (spec_obj, verdict)
        return self._host_ok(host_state, spec_obj, verdict)

    # Per host -----------------------------------------------------------

    def _host_ok(self, host_state, spec_obj, verdict):
        if verdict.reject_all:
            LOG.info('VFIOCompatFilter: host %(host)s rejected for instance '
                     '%(instance)s: %(why)s',
                     {'host': host_state.host,
                      'instance': spec_obj.instance_uuid,
                      'why': verdict.reject_all})
            return False
        if verdict.streams is None:
            return True
        candidates = list(host_state.allocation_candidates or [])
        result = verdict.streams.decide(host_state.uuid, candidates)
        if not result.passes:
            for rejection in result.rejections:
                LOG.info('VFIOCompatFilter: host %(host)s rejected for '
                         'instance %(instance)s: %(why)s',
                         {'host': host_state.host,
                          'instance': spec_obj.instance_uuid,
                          'why': rejection})
            return False
        if candidates and len(result.keep) < len(candidates):
            kept = {id(c) for c in result.keep}
            self.filter_candidates(host_state, lambda c: id(c) in kept)
            LOG.info('VFIOCompatFilter: host %(host)s: kept %(kept)d of '
                     '%(total)d allocation candidates for instance '
                     '%(instance)s; pruned because %(why)s',
                     {'host': host_state.host, 'kept': len(result.keep),
                      'total': len(candidates),
                      'instance': spec_obj.instance_uuid,
                      'why': _Reasons(result.rejections)})
        return True

    # Once per request ---------------------------------------------------

    def _verdict(self, spec_obj):
        flavor = spec_obj.flavor if spec_obj.obj_attr_is_set(
            'flavor') else None
        policy = decision.effective_policy(
            flavor.extra_specs if flavor else None,
            CONF.vfio_compat_filter.default_policy)
        if policy == decision.POLICY_SKIP:
            return _PASS_ALL
        # A live migration always ignores its source host; a boot never
        # ignores hosts.  Cheap, and spares boots the database look-up.
        if not (spec_obj.obj_attr_is_set('ignore_hosts') and
                spec_obj.ignore_hosts):
            return _PASS_ALL
        ctxt = self._context(spec_obj)
        try:
            found = self._live_migration(ctxt, spec_obj)
            if found is None:
                return _PASS_ALL
            migration, source_root = found
            return self._live_migration_verdict(
                ctxt, spec_obj, migration, source_root, policy)
        except PlacementUnavailable as e:
            return self._unavailable(spec_obj, str(e))
        except exception.NovaException as e:
            return self._unavailable(spec_obj, 'database: %s' % e)

    def _unavailable(self, spec_obj, what):
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
        return _Verdict(reject_all='the compatibility data could not be '
                                   'read (fail closed): %s' % what)

    @staticmethod
    def _context(spec_obj):
        # A RequestSpec that came over RPC carries the request context.
        ctxt = getattr(spec_obj, '_context', None)
        return (ctxt or nova_context.get_admin_context()).elevated()

    @staticmethod
    def _live_migration(ctxt, spec_obj):
        """The live migration being scheduled and its source root, or None.

        Returns (Migration, uuid of the source compute node's provider).

        The conductor creates it (type live-migration, status accepted)
        before it calls the scheduler; evacuations use the same status
        with another type, cold migrations and resizes another status.
        """
        try:
            mapping = objects.InstanceMapping.get_by_instance_uuid(
                ctxt, spec_obj.instance_uuid)
        except exception.InstanceMappingNotFound:
            return None
        if not mapping.cell_mapping:
            return None
        with nova_context.target_cell(ctxt, mapping.cell_mapping) as cctxt:
            migrations = objects.MigrationList.get_by_filters(
                cctxt, {'instance_uuid': spec_obj.instance_uuid,
                        'migration_type':
                            fields.MigrationType.LIVE_MIGRATION,
                        'status': 'accepted'},
                sort_keys=['created_at', 'id'], sort_dirs=['desc', 'desc'])
            if not migrations:
                return None
            migration = migrations[0]
            # The migration's source_node is only filled in later by the
            # conductor; the instance still says where it runs.
            instance = objects.Instance.get_by_uuid(
                cctxt, spec_obj.instance_uuid, expected_attrs=[])
            node = objects.ComputeNode.get_by_host_and_nodename(
                cctxt, instance.host, instance.node)
        return migration, node.uuid

    @staticmethod
    def _placement_get(ctxt):
        """The ``get(url, microversion)`` the request's reads go through."""
        return _NovaPlacement(ctxt).get

    def _live_migration_verdict(self, ctxt, spec_obj, migration, root,
                                policy):
        reads = placement_reads.RequestReads(self._placement_get(ctxt))
        # The conductor moved the server's source allocations to the
        # migration's consumer before it called the scheduler.
        devices = reads.source_devices(migration.uuid, root)
        if not devices:
            return _PASS_ALL
        sources = [d for d in devices if d.streams]
        undescribed = [d for d in devices if not d.streams]
        if undescribed and policy == decision.POLICY_STRICT:
            why = ('flavor policy %s and source provider(s) %s have no '
                   'capability traits (is the reporter running on %s?)' % (
                       policy, ', '.join(s.describe() for s in undescribed),
                       migration.source_compute))
            LOG.warning('VFIOCompatFilter: instance %(instance)s cannot be '
                        'live-migrated by the scheduler: %(why)s',
                        {'instance': spec_obj.instance_uuid, 'why': why})
            return _Verdict(reject_all=why)
        if not sources:
            return _PASS_ALL
        streams = decision.Streams(sources, {})
        accepting = reads.accepting(streams.emitted)
        LOG.debug('VFIOCompatFilter: live migration %(migration)s of '
                  'instance %(instance)s from %(source)s: streams %(streams)s '
                  'accepted by %(accepting)s',
                  {'migration': migration.uuid,
                   'instance': spec_obj.instance_uuid,
                   'source': migration.source_compute,
                   'streams': sorted(streams.emitted),
                   'accepting': accepting})
        return _Verdict(streams=decision.Streams(sources, accepting))


class _Reasons:
    """Rejections joined for a log line, only when it is emitted."""

    def __init__(self, rejections):
        self.rejections = rejections

    def __str__(self):
        return '; '.join(r.describe() for r in self.rejections)


class _NovaPlacement:
    """Placement GETs through Nova's report client, for RequestReads."""

    def __init__(self, ctxt):
        self._client = report.report_client_singleton()
        self._global_id = ctxt.global_id

    def get(self, url, version):
        try:
            resp = self._client.get(url, version=version,
                                    global_request_id=self._global_id)
        except _CLIENT_ERRORS as e:
            raise PlacementUnavailable('Placement GET %s failed: %s' % (
                url, e))
        if resp is None or resp.status_code != 200:
            raise PlacementUnavailable(
                'Placement GET %s answered %s: %s' % (
                    url, getattr(resp, 'status_code', None),
                    getattr(resp, 'text', '')[:200]))
        try:
            return resp.json()
        except ValueError as e:
            raise PlacementUnavailable(
                'Placement GET %s answered with no JSON: %s' % (url, e))
