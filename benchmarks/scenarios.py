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

"""The measurements.  Each returns rows of ratios measured in one run.

Timing: ``time.perf_counter`` around each sample, the median of many
samples.  What a sample may change (the filter prunes allocation
candidates in place) is restored outside the timed part.  Things compared
in one table are sampled in turn (:func:`interleaved_medians`), so that
a change in the machine's load hits them all alike.
"""

import collections
import contextlib
import gc
import json
import statistics
import time
from urllib import parse
import uuid as uuid_lib

from nova import context as nova_context
from nova import objects
from nova.scheduler.client import report
from nova.scheduler import host_manager
from nova.scheduler import utils as scheduler_utils

from benchmarks import filters as bench_filters
from benchmarks import fleet
from benchmarks import validators
from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import rules as nvc_rules
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.placement import version as placement_version
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning_reads import placement_view
from nova_vfio_compat.reporter import plan as nvc_plan
from nova_vfio_compat.reporter import sync
from nova_vfio_compat.scheduler import vfio_compat_filter
from nova_vfio_compat.selection import decision

CANDIDATES_MICROVERSION = '1.36'
# Nova's allocation-candidates query for a one-vGPU flavor of the fleet
# (resources_from_request_spec of :func:`request_spec`): the baseline of
# the fleet's tables and the answer whose checks they time.
VGPU_CANDIDATES = '/allocation_candidates?resources=VGPU:1'
PROVIDERS_MICROVERSION = '1.20'


def median_time(run, samples, reset=None):
    """Median seconds of ``run()`` over ``samples`` samples."""
    times = []
    for _ in range(samples):
        if reset is not None:
            reset()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(runs, samples, reset=None):
    """Median seconds of each of ``runs``, sampled in turn.

    The garbage collector is off while a sample runs, as in ``timeit``.
    """
    times = [[] for _ in runs]
    for _ in range(samples):
        for run, found in zip(runs, times):
            if reset is not None:
                reset()
            gc.disable()
            try:
                start = time.perf_counter()
                run()
                found.append(time.perf_counter() - start)
            finally:
                gc.enable()
    return [statistics.median(found) for found in times]


# Each ratio of two things is measured this many times, each time from
# its own interleaved samples; the tables give the median and the spread.
REPEATS = 3


class Spread(collections.namedtuple('Spread', 'median low high')):
    """A ratio measured :data:`REPEATS` times: median, lowest, highest."""

    def __str__(self):
        return '%.2fx (%.2f-%.2f)' % self


def spread(values):
    return Spread(statistics.median(values), min(values), max(values))


def interleaved_ratios(runs, pairs, samples, reset=None, repeats=REPEATS):
    """Ratios of the times of ``runs``, sampled in turn, ``repeats`` times.

    Every timed table of the benchmark goes through here.  Each repeat
    samples every run one after the other (ABCABC...,
    :func:`interleaved_medians`), so that a change in the machine's load
    hits them all alike, and takes the median of each run's samples.
    ``pairs`` are ``(numerator index, denominator index)`` into ``runs``.

    Returns ``(a Spread of the ratio per pair, the median seconds of each
    run over the repeats)``.
    """
    per_repeat = [interleaved_medians(runs, samples, reset)
                  for _ in range(repeats)]
    ratios = [spread([times[a] / times[b] for times in per_repeat])
              for a, b in pairs]
    medians = [statistics.median(times[i] for times in per_repeat)
               for i in range(len(runs))]
    return ratios, medians


def interleaved_ratio(numerator, denominator, samples, reset=None,
                      repeats=REPEATS):
    """``numerator`` time / ``denominator`` time: :func:`interleaved_ratios`.

    Returns ``(Spread of the ratio, median seconds of the numerator,
    median seconds of the denominator)``.
    """
    (ratio,), (t_a, t_b) = interleaved_ratios(
        [numerator, denominator], [(0, 1)], samples, reset, repeats)
    return ratio, t_a, t_b


def samples_for(hosts, budget=20000, low=7, high=301):
    """More samples for small, fast runs; at least ``low``."""
    return max(low, min(high, budget // max(hosts, 1)))


def request_spec(source_host):
    """A live migration's RequestSpec as the conductor sends it."""
    # A one-vGPU flavor and nothing else, so that Nova's own query for it
    # (resources_from_request_spec) is the one the fleet's candidates
    # answer: resources=VGPU:1.
    return objects.RequestSpec(
        instance_uuid=str(uuid_lib.uuid4()), ignore_hosts=[source_host],
        flavor=objects.Flavor(vcpus=0, memory_mb=0, root_gb=0,
                              ephemeral_gb=0, swap=0,
                              extra_specs={'resources:VGPU': '1'}),
        image=objects.ImageMeta(properties=objects.ImageMetaProps()),
        scheduler_hints={}, num_instances=1, is_bfv=False)


def host_states(hosts, candidates_by_root):
    """Nova HostState objects for ``hosts`` and a reset function."""
    states = []
    for host in hosts:
        state = host_manager.HostState(host.name, host.name,
                                       'cell1')
        state.uuid = host.uuid
        states.append(state)
    originals = [list(candidates_by_root.get(s.uuid, [])) for s in states]

    def reset():
        for state, candidates in zip(states, originals):
            state.allocation_candidates = list(candidates)
    reset()
    return states, reset


def gpu_candidate(root, gpu):
    """An allocation candidate (Placement 1.36 shape): one vGPU."""
    return {'allocations': {gpu: {'resources': {'VGPU': 1}}},
            'mappings': {'': [root, gpu]}}


def run_filter(filter_obj, states, spec):
    return list(filter_obj.filter_all(states, spec))


def _kept(states):
    return sum(len(s.allocation_candidates) for s in states)


# 1. Filter cost per host ------------------------------------------------

def per_host_cost(sizes):
    """Filter vs pass-all, set lookup and rules-per-host, pre-fetched.

    Per size: ``(hosts, samples, filter/pass-all, filter/set lookup,
    set lookup/pass-all, rules/pass-all, rules/filter, decision alone:
    rules/Streams.check, hosts passed, candidates kept of total)``, the
    ratios :class:`Spread` s of :data:`REPEATS` interleaved repeats.
    """
    source_doc = fleet.source_document()
    source_uuid = str(uuid_lib.uuid4())
    source = decision.SourceDevice(
        source_uuid, 'source_pci_0000_81_00_0',
        fleet.source_traits(), frozenset(['VGPU']))
    spec = request_spec('source')
    rows = []
    for size in sizes:
        hosts = fleet.synthetic_hosts(size)
        # What "GET /resource_providers?required=in:<accept traits>"
        # returns for each stream the filter asks about.
        wanted = {e: nvc_traits.accept_traits_for(e) for e in source.streams}
        accepting = {e: {} for e in wanted}
        documents = {}
        candidates = {}
        accepted = set()
        for host in hosts:
            documents.update(host.gpus)
            candidates[host.uuid] = [gpu_candidate(host.uuid, g)
                                     for g in host.gpus]
            for provider, names in host.provider_traits().items():
                for e, accept in wanted.items():
                    if not names.isdisjoint(accept):
                        accepting[e][provider] = host.uuid
                if provider != host.uuid and nvc_traits.can_migrate(
                        source.traits, names):
                    accepted.add(provider)
        states, reset = host_states(hosts, candidates)
        streams = decision.Streams([source], accepting)
        real = bench_filters.Prefetched(vfio_compat_filter.RequestCheck(
            spec.instance_uuid, streams,
            migration=vfio_compat_filter.LiveMigration(
                str(uuid_lib.uuid4()), 'source', str(uuid_lib.uuid4()))))
        passall = bench_filters.PassAll()
        lookup = bench_filters.SetLookup(frozenset(accepted))
        rules = bench_filters.RulesPerHost([source_doc], documents)

        # Same answer from both, or the comparison means nothing.
        reset()
        passed = run_filter(real, states, spec)
        by_filter, kept_filter = [s.host for s in passed], _kept(passed)
        reset()
        passed = run_filter(rules, states, spec)
        by_rules, kept_rules = [s.host for s in passed], _kept(passed)
        if by_filter != by_rules or kept_filter != kept_rules:
            raise AssertionError(
                'filter and rule engine disagree at %d hosts: %d/%d hosts, '
                '%d/%d candidates' % (size, len(by_filter), len(by_rules),
                                      kept_filter, kept_rules))
        n = samples_for(size)
        # Indices: pass-all 0, set lookup 1, the filter 2, rules 3.
        ratios, _medians = interleaved_ratios(
            [lambda f=f: run_filter(f, states, spec)
             for f in (passall, lookup, real, rules)],
            [(2, 0), (2, 1), (1, 0), (3, 0), (3, 2)], n, reset)
        core = _core_ratio(streams, source_doc, hosts, documents,
                           candidates, n)
        kept = '%d of %d' % (kept_filter, size * fleet.PARENTS)
        rows.append((size, n) + tuple(ratios) +
                    (core, len(by_filter), kept))
    return rows


def _core_ratio(streams, source_doc, hosts, documents, candidates, samples):
    """The per-host decisions alone, without Nova's filter machinery.

    Returns the :class:`Spread` of ``rules / Streams.check``: the rule
    engine (:func:`rules.check` of the source document against each
    candidate's device document) against the filter's per-host test,
    :meth:`decision.Streams.check`.
    """
    def by_check():
        for host in hosts:
            streams.check(host.uuid, candidates[host.uuid])

    def by_rules():
        for host in hosts:
            for candidate in candidates[host.uuid]:
                all(nvc_rules.check(source_doc, documents[p]).compatible
                    for p in candidate['allocations'] if p != host.uuid)

    return interleaved_ratio(by_rules, by_check, samples)[0]


def post(pl, url, body, version):
    """POST through the SDK's placement proxy; the answer, or raise."""
    resp = pl.post(url, json=body, microversion=version)
    if resp.status_code not in (200, 201):
        raise RuntimeError('%s: %s %s' % (url, resp.status_code, resp.text))
    return resp.json()


def put(pl, url, body, version):
    """PUT through the SDK's placement proxy; the answer or None; raise."""
    resp = pl.put(url, json=body, microversion=version)
    if resp.status_code not in (200, 201, 204):
        raise RuntimeError('%s: %s %s' % (url, resp.status_code, resp.text))
    return resp.json() if resp.content else None


# 2. A fleet in a real Placement ------------------------------------------

class Fleet:
    """Hosts published in a real Placement by the reporter.

    ``placement`` is an in-process
    :class:`nova_vfio_compat.demo.local_placement.LocalPlacement`.
    """

    def __init__(self, placement, with_source=True, resource_class='VGPU',
                 root_traits=fleet.NOVA_ROOT_TRAITS, root_inventory=None):
        self.placement = placement
        self.resource_class = resource_class
        # What Nova keeps on every host's root (its traits, and the
        # inventories of a root that has any).
        self.root_traits = root_traits
        self.root_inventory = root_inventory
        self.hosts = []
        self.documents = {}
        # {kind: the host laid out first} (:meth:`add_hosts`).
        self._exemplars = {}
        self._pl = placement.sdk.placement
        if not with_source:
            return
        self.source_root, self.source_gpu = self._add('source', [
            fleet.source_document()])
        self.migration = objects.Migration(
            uuid=str(uuid_lib.uuid4()), source_compute='source',
            migration_type='live-migration', status='accepted')
        # The conductor moved the server's allocation to the migration.
        self._put('/allocations/%s' % self.migration.uuid, {
            'allocations': {self.source_gpu: {'resources': {'VGPU': 1}}},
            'project_id': str(uuid_lib.uuid4()),
            'user_id': str(uuid_lib.uuid4()),
            'consumer_generation': None}, '1.28')

    def _post(self, url, body, version):
        return post(self._pl, url, body, version)

    def _put(self, url, body, version):
        return put(self._pl, url, body, version)

    def _layout(self, name, documents):
        """Lay out a host as nova-compute does: a :class:`fleet.Host`."""
        root = self._post('/resource_providers', {'name': name},
                          PROVIDERS_MICROVERSION)
        traits = self._put('/resource_providers/%s/traits' % root['uuid'],
                           {'traits': list(self.root_traits),
                            'resource_provider_generation':
                                root['generation']}, '1.6')
        if self.root_inventory:
            self._put('/resource_providers/%s/inventories' % root['uuid'],
                      {'inventories': self.root_inventory,
                       'resource_provider_generation':
                           traits['resource_provider_generation']}, '1.6')
        gpus = []
        for i, doc in enumerate(documents):
            gpu = self._post('/resource_providers', {
                'name': fleet.gpu_provider_name(name, i),
                'parent_provider_uuid': root['uuid']},
                PROVIDERS_MICROVERSION)
            self._put('/resource_providers/%s/inventories' % gpu['uuid'],
                      {'inventories': {self.resource_class: {'total': 4}},
                       'resource_provider_generation': gpu['generation']},
                      '1.6')
            gpus.append(gpu['uuid'])
        return fleet.Host(name, root['uuid'], dict(zip(gpus, documents)))

    def publish(self, host):
        """Run the reporter of ``host``."""
        result = sync.Reporter(self.placement.sdk, host.name).sync(
            host.devices())
        if not result.ok:
            raise RuntimeError('reporter failed on %s: %s'
                               % (host.name, result.errors))

    def add_host(self, name, documents):
        """A host laid out by Nova, not published yet."""
        host = self._layout(name, documents)
        self.hosts.append(host)
        self.documents.update(host.gpus)
        return host

    def _add(self, name, documents):
        """Lay out a host as nova-compute does, then run the reporter."""
        host = self._layout(name, documents)
        self.publish(host)
        return host.uuid, next(iter(host.gpus))

    def add_hosts(self, hosts, publish=True):
        """Add ``[(name, documents, kind)]`` to the fleet, in that order.

        Hosts of one ``kind`` have the same documents, device by device,
        and are published alike (``publish``).  The first host of a kind
        in the fleet is laid out through the API as
        nova-compute does and, with ``publish``, published by the real
        reporter (:meth:`publish`); every other host of the kind gets a
        copy of that tree -- names, traits, inventories -- written in
        Placement's tables in one transaction per kind
        (:class:`benchmarks.upgrade_batched.BulkPublisher`, as the
        rolling-upgrade simulation publishes its fleets).  What the
        reporter publishes is a function of the devices alone, so each
        copy is what it would have published, in a small fraction of
        the time: a 1,000-host fleet in seconds instead of half an hour.
        """
        # Imported here: the upgrade benchmark imports this module.
        from benchmarks import upgrade_batched

        exemplars, copies = self._exemplars, collections.defaultdict(list)
        made = {}
        for name, documents, kind in hosts:
            if kind in exemplars:
                copies[kind].append((name, documents))
                continue
            exemplars[kind] = made[name] = self._layout(name, documents)
            if publish:
                self.publish(made[name])
        if copies:
            bulk = upgrade_batched.BulkPublisher()
        for kind, named in copies.items():
            exemplar = exemplars[kind]
            created = bulk.create(exemplar.uuid, exemplar.name,
                                  [name for name, _docs in named])
            for name, documents in named:
                # The root first, then the GPUs in name (= parent) order.
                root, *gpus = created[name]
                made[name] = fleet.Host(name, root,
                                        dict(zip(gpus, documents)))
        for name, _docs, _kind in hosts:
            self.hosts.append(made[name])
            self.documents.update(made[name].gpus)

    def grow(self, size):
        """Add hosts until the fleet has ``size`` of them (in bulk)."""
        hosts = []
        for i in range(len(self.hosts) + 1, size + 1):
            versions = tuple(fleet.host_version(i, j)
                             for j in range(fleet.PARENTS))
            hosts.append(('host%05d' % i,
                          [fleet.document(*v) for v in versions], versions))
        self.add_hosts(hosts)

    def allocation_candidates(self, adapter):
        """Nova's own query for a one-vGPU flavor, grouped by root."""
        body = adapter.get(VGPU_CANDIDATES,
                           microversion=CANDIDATES_MICROVERSION).json()
        roots = {u: s['root_provider_uuid']
                 for u, s in body['provider_summaries'].items()}
        by_root = collections.defaultdict(list)
        for ar in body['allocation_requests']:
            root = roots[next(iter(ar['allocations']))]
            by_root[root].append(ar)
        return by_root


def fleet_in_placement(placement, sizes):
    """Filter per request against a real Placement, as the fleet grows.

    Per size: ``(hosts, providers, Placement requests per request, filter
    request / pass-all request, filter request / Nova's allocation
    candidates GET, accepting-provider query / trivial GET, hosts
    passed)``, the ratios :class:`Spread` s (:func:`fleet_row`).
    """
    return fleet_tables(placement, sizes, answers=False, lm=False,
                        drain=False)['fleet']


def fleet_tables(placement, sizes, fleet_rows=True, answers=True, lm=True,
                 drain=True, candidates=10):
    """Every table measured on the fleet in Placement, one fleet shared.

    The fleet (:class:`Fleet`, with the live migration's source host) is
    grown to each size in turn and measured there by every table asked
    for.  Returns ``{'fleet': [fleet_row], 'answers': {size:
    answer_checks}, 'validators': {size: candidate_validators}, 'lm':
    lm_reads' rows (``candidates`` hosts handed to
    the filter), 'drain': [drain_row]}`` (the tables asked for).
    """
    out = {'fleet': [], 'answers': {}, 'validators': {}, 'lm': [],
           'drain': []}
    with nova_report_client(placement):
        the_fleet = Fleet(placement)
        adapter = placement.nova_adapter()
        view = placement_view.PlacementView(placement_view.sdk_get(
            placement.sdk))
        for size in sizes:
            the_fleet.grow(size)
            if fleet_rows:
                out['fleet'].append(fleet_row(placement, the_fleet))
            if answers:
                out['answers'][size] = answer_checks(the_fleet, adapter)
                out['validators'][size] = candidate_validators(adapter)
            if lm:
                out['lm'].append(
                    lm_read_row(placement, the_fleet, candidates))
            if drain:
                out['drain'].append(drain_row(placement, the_fleet, view))
    out['lm'] = _growth(out['lm'])
    return out


@contextlib.contextmanager
def nova_report_client(placement):
    """Nova's scheduler report client pointed at ``placement``, meanwhile.

    The filter and Nova's scheduler code read Placement through
    ``report.PLACEMENTCLIENT``; the previous client is put back after.
    """
    previous = report.PLACEMENTCLIENT
    report.PLACEMENTCLIENT = report.SchedulerReportClient(
        adapter=placement.nova_adapter())
    try:
        yield
    finally:
        report.PLACEMENTCLIENT = previous


@contextlib.contextmanager
def grown_fleet(hosts):
    """``(placement, fleet)``: a fleet of ``hosts`` in a new Placement.

    An in-process Placement, closed after, with Nova's report client
    pointed at it meanwhile.
    """
    placement = local_placement.in_process()
    try:
        with nova_report_client(placement):
            the_fleet = Fleet(placement)
            the_fleet.grow(hosts)
            yield placement, the_fleet
    finally:
        placement.close()


def fleet_row(placement, the_fleet):
    """One row of :func:`fleet_in_placement` on ``the_fleet`` as it is."""
    size = len(the_fleet.hosts)
    adapter = placement.nova_adapter()
    spec = request_spec('source')
    source_traits = fleet.source_traits()
    (stream,) = nvc_traits.emitted(source_traits)
    # The filter's any-of query for the source's stream, over the
    # names that exist (as RequestReads.accepting asks it).
    names = sorted(nvc_traits.accept_traits_for(stream))
    existing = adapter.get('/traits?name=in:%s' % ','.join(names),
                           microversion='1.6').json()['traits']
    accept_query = '/resource_providers?%s' % parse.urlencode(
        {'required': 'in:' + ','.join(sorted(existing))})
    by_root = the_fleet.allocation_candidates(adapter)
    states, reset = host_states(the_fleet.hosts, by_root)
    real = bench_filters.known_migration(the_fleet.migration,
                                         the_fleet.source_root)
    passall = bench_filters.PassAll()
    rules = bench_filters.RulesPerHost([fleet.source_document()],
                                       the_fleet.documents)
    reset()
    placement.app.reset()
    passed = run_filter(real, states, spec)
    requests = placement.app.total
    writes = placement.app.writes
    reset()
    by_rules = run_filter(rules, states, spec)
    if [s.host for s in passed] != [s.host for s in by_rules]:
        raise AssertionError('filter and rule engine disagree on the '
                             'fleet of %d hosts' % size)

    def nova_query():
        adapter.get(VGPU_CANDIDATES,
                    microversion=CANDIDATES_MICROVERSION).json()

    # Indices: pass-all 0, the filter 1, Nova's query 2, GET / 3, the
    # accepting-provider query 4.
    n = samples_for(size, budget=3000, low=7, high=51)
    ratios, _medians = interleaved_ratios([
        lambda: run_filter(passall, states, spec),
        lambda: run_filter(real, states, spec),
        nova_query,
        lambda: adapter.get('/').json(),
        lambda: adapter.get(
            accept_query,
            microversion=placement_version.MICROVERSION).json()],
        [(1, 0), (1, 2), (4, 3)], n, reset)
    providers = len(the_fleet.documents) + len(the_fleet.hosts)
    return ((size, providers, '%d (%d writes)' % (requests, writes)) +
            tuple(ratios) + (len(passed),))


def lm_reads(sizes, candidates=10):
    """What one live migration downloads from Placement as the fleet grows.

    The real filter is handed the same ``candidates`` hosts on every
    fleet (as when earlier filters or Nova's query leave that many): once
    asking their trees alone (``[vfio_compat_filter] max_tree_reads`` =
    ``candidates``), once asking the whole fleet (``max_tree_reads`` = 0,
    the reads before that option).  Both must pass the same hosts and
    keep the same allocation candidates, or this raises.  Per size:
    ``(hosts, candidates, requests: trees, kB: trees, requests: fleet,
    kB: fleet, trees kB / first size's, fleet kB / first size's, hosts /
    first size's)``: the body bytes of every GET the filter makes.
    """
    placement = local_placement.in_process()
    try:
        return fleet_tables(placement, sizes, fleet_rows=False,
                            answers=False, drain=False,
                            candidates=candidates)['lm']
    finally:
        placement.close()


def _growth(rows):
    """:func:`lm_reads`' rows with the growth against the first size."""
    if not rows:
        return rows
    first = rows[0]
    return [tuple(r) + (r[3] / first[3], r[5] / first[5], r[0] / first[0])
            for r in rows]


def lm_read_row(placement, the_fleet, candidates=10):
    """One row of :func:`lm_reads` on ``the_fleet`` as it is, no growth.

    Nova's report client must point at ``placement``
    (:func:`nova_report_client`).
    """
    conf = vfio_compat_filter.CONF
    size = len(the_fleet.hosts)
    spec = request_spec('source')
    by_root = the_fleet.allocation_candidates(placement.nova_adapter())
    states, reset = host_states(the_fleet.hosts[:candidates], by_root)
    real = bench_filters.known_migration(the_fleet.migration,
                                         the_fleet.source_root)
    row = [size, len(states)]
    decided = []
    try:
        for cap in (candidates, 0):
            conf.set_override('max_tree_reads', cap, 'vfio_compat_filter')
            reset()
            placement.app.reset()
            passed = run_filter(real, states, spec)
            row.extend([placement.app.total,
                        placement.app.read_bytes / 1000])
            decided.append([(h.host, h.allocation_candidates)
                            for h in passed])
    finally:
        conf.clear_override('max_tree_reads', 'vfio_compat_filter')
    if decided[0] != decided[1]:
        raise AssertionError(
            'reading the candidates\' trees and reading the fleet '
            'decide differently on the fleet of %d hosts' % size)
    return row


def drain_in_placement(placement, sizes):
    """The ``drain`` pre-flight of the source host as the fleet grows.

    Per size: ``(hosts, Placement requests of one drain, Spread of drain
    / Nova's allocation candidates GET, destinations found, kB of the
    answers it read)``
    (:func:`drain_row`).
    """
    return fleet_tables(placement, sizes, fleet_rows=False, answers=False,
                        lm=False)['drain']


def drain_row(placement, the_fleet, view):
    """One row of :func:`drain_in_placement` on ``the_fleet`` as it is.

    The source host holds one server (the migration consumer's vGPU);
    the baseline is the query the scheduler makes anyway for a one-vGPU
    flavor, the two sampled in turn.
    """
    size = len(the_fleet.hosts)
    adapter = placement.nova_adapter()

    def pre_flight():
        inputs = placement_view.read_drain(view, 'source')
        return inputs, nvc_drain.plan_and_explain(
            inputs.servers, inputs.options, inputs.free,
            inputs.acceptors, inputs.names)

    placement.app.reset()
    inputs, (plan, stranded) = pre_flight()
    requests, writes = placement.app.total, placement.app.writes
    read_kb = placement.app.read_bytes / 1000
    if writes or stranded or not plan.assignments:
        raise AssertionError('drain of the %d-host fleet: %d writes, '
                             'stranded %s' % (size, writes, stranded))

    def nova_query():
        adapter.get(VGPU_CANDIDATES,
                    microversion=CANDIDATES_MICROVERSION).json()

    n = samples_for(size, budget=1000, low=5, high=21)
    ratio, _t_drain, _t_nova = interleaved_ratio(pre_flight, nova_query, n)
    (options,) = inputs.options.values()
    return (size, requests, ratio, len(options), read_kb)


# 2b. Checking Placement's answers -----------------------------------------

def answer_routes(the_fleet, adapter):
    """``[(route, url, microversion, name)]``: one answer of each route read.

    On :class:`Fleet` ``the_fleet`` (with its source host), as the filter,
    ``drain``, ``fleet`` and the reporter ask them; ``name``: the route a
    reader names (:data:`placement_answers.NAMED_ROUTES`), None for the
    route found from the URL.  Allocation candidates twice: the filter
    checks what it uses (their count and roots), ``drain`` all of it.
    """
    source_traits = fleet.source_traits()
    (stream,) = nvc_traits.emitted(source_traits)
    names = sorted(nvc_traits.accept_traits_for(stream))
    existing = adapter.get('/traits?name=in:%s' % ','.join(names),
                           microversion='1.6').json()['traits']
    gpu = the_fleet.source_gpu
    return [
        ('GET /resource_providers (all)', '/resource_providers',
         placement_version.MICROVERSION, 'providers'),
        ('GET /resource_providers?required=in:...',
         '/resource_providers?%s' % parse.urlencode(
             {'required': 'in:' + ','.join(sorted(existing))}),
         placement_version.MICROVERSION, 'providers'),
        ('GET /resource_providers?in_tree=...',
         '/resource_providers?in_tree=%s' % the_fleet.source_root, '1.18',
         'providers'),
        ('GET /resource_providers/{uuid}',
         '/resource_providers/%s' % gpu, '1.14', 'provider'),
        ('GET /resource_providers/{uuid}/traits',
         '/resource_providers/%s/traits' % gpu, '1.6', 'provider traits'),
        ('GET /resource_providers/{uuid}/inventories',
         '/resource_providers/%s/inventories' % gpu, '1.28', 'inventories'),
        ('GET /resource_providers/{uuid}/allocations',
         '/resource_providers/%s/allocations' % gpu, '1.28',
         'provider allocations'),
        ('GET /allocations/{consumer}',
         '/allocations/%s' % the_fleet.migration.uuid, '1.28',
         'allocations'),
        ('GET /traits?name=in:...', '/traits?name=in:%s' % ','.join(names),
         '1.6', 'traits'),
        ('GET /traits?name=startswith:...',
         '/traits?name=startswith:%s' % nvc_traits.PREFIX, '1.6', 'traits'),
        ('GET /resource_classes', '/resource_classes', '1.7',
         'resource classes'),
        ('GET /allocation_candidates (filter: count, roots)',
         VGPU_CANDIDATES, CANDIDATES_MICROVERSION, 'candidates counted'),
        ('GET /allocation_candidates (drain: all)', VGPU_CANDIDATES,
         CANDIDATES_MICROVERSION, 'allocation candidates'),
        ('GET /', '/', None, 'versions'),
    ]


def answer_checks(the_fleet, adapter, samples=15):
    """What checking each answer costs against decoding it.

    Per route of :func:`answer_routes`: ``(route, kB, Spread of the
    check's time / json.loads's time)``.  The check is the one a reader
    applies to the decoded body (:class:`placement_reader.Reader`: by the
    route's name, :func:`placement_reader.check_route`); both are timed
    on the same bytes, in turn, a small answer many times per sample.
    """
    rows = []
    for route, url, microversion, name in answer_routes(the_fleet,
                                                        adapter):
        response = adapter.get(url, microversion=microversion)
        if response.status_code != 200:
            raise RuntimeError('%s: %s' % (url, response.status_code))
        content = response.content
        body = json.loads(content)
        check_route = placement_reader.check_route
        check_route(name, url, body, microversion)
        calls = range(max(1, 20000 // len(content)))

        def check():
            for _ in calls:
                check_route(name, url, body, microversion)

        def decode():
            for _ in calls:
                json.loads(content)

        ratio, _t_check, _t_decode = interleaved_ratio(check, decode,
                                                       samples)
        rows.append((route, len(content) / 1000, ratio))
    return rows


def candidate_validators(adapter, samples=7):
    """What libraries would take to check ``drain``'s allocation candidates.

    ``[(library, Spread of its time / json.loads's, Spread of its time /
    the project's check's)]`` for each library of :func:`validators.checks`
    (None, None: not installed), on the answer of Nova's one-vGPU query
    (the drain row of :func:`answer_checks`), decoded once: the
    project's check, every library and json.loads sampled in turn.  Each
    must accept the answer.
    """
    url = VGPU_CANDIDATES
    content = adapter.get(url, microversion=CANDIDATES_MICROVERSION).content
    body = json.loads(content)
    calls = range(max(1, 20000 // len(content)))
    found = validators.checks(url, CANDIDATES_MICROVERSION)
    installed = [(name, check) for name, check in found if check is not None]
    runs = []
    for name, check in installed:
        if not check(body):
            raise AssertionError('%s refuses the answer' % name)

        def run(check=check):
            for _ in calls:
                check(body)
        runs.append(run)

    def decode():
        for _ in calls:
            json.loads(content)
    runs.append(decode)
    # The project's check is the first run, json.loads the last: each
    # library against the one, then against the other.
    libraries = range(1, len(installed))
    ratios, _times = interleaved_ratios(
        runs, [(i, len(runs) - 1) for i in libraries] +
        [(i, 0) for i in libraries], samples)
    timed = dict(zip([name for name, _ in installed[1:]],
                     zip(ratios[:len(libraries)], ratios[len(libraries):])))
    return [(name,) + timed.get(name, (None, None))
            for name, _check in found[1:]]


# 3. The reporter ----------------------------------------------------------

def _host_with(placement, name, documents, pci_documents=()):
    """A host laid out as nova-compute does, with devices to publish."""
    pl = placement.sdk.placement
    root = pl.create_resource_provider(name=name)
    devices = []
    for i, doc in enumerate(documents):
        # One GPU per document: Nova uses one mdev type per GPU, and the
        # reporter types each stream with its GPU's type (the document's).
        address = '0000:%02x:%02x.0' % (0x20 + i // 32, i % 32)
        pl.create_resource_provider(
            name=nvc_plan.mdev_parent_provider_name(name, address),
            parent_provider_uuid=root.id)
        devices.append(nvc_devices.Device(
            address=address, kind=nvc_devices.KIND_MDEV_TYPE,
            mdev_type=doc.emits.mdev_type, document=doc))
    for i, doc in enumerate(pci_documents):
        devices.append(nvc_devices.Device(
            address='0000:c1:%02x.%d' % (i // 8, i % 8),
            kind=nvc_devices.KIND_PCI, document=doc))
    return root, devices


def _first_syncs(placement, hosts):
    """A run of :func:`interleaved_ratios` for a sync that happens once.

    ``hosts``: ``[(reporter, devices)]``, laid out and never synced; each
    call of the run is the first sync of the next of them.  Returns
    ``(run, done)``: ``done`` gets ``(reporter, devices, result, requests,
    writes)`` per call.
    """
    pending = iter(hosts)
    done = []

    def run():
        reporter, devices = next(pending)
        placement.app.reset()
        result = reporter.sync(devices)
        done.append((reporter, devices, result, placement.app.total,
                     placement.app.writes))
        if not result.ok:
            raise RuntimeError('first sync failed: %s' % result.errors)
    return run, done


def _times(run, count):
    """``run`` ``count`` times: a sample long enough to time one-shots by."""
    def runs():
        for _ in range(count):
            run()
    return runs


def _scaled(ratio, factor):
    return Spread(*(value * factor for value in ratio))


def _distinct_host(placement, name, count, subsys):
    """``(root, reporter, devices)``: ``count`` devices of their own streams.

    Half mdev types (one per GPU), half PCI VFs; ``subsys`` the first of
    the ``count`` subsystem ids that make each device's stream its own.
    """
    half = count // 2
    mdev_docs = [fleet.document(1, i % 8, subsys=subsys + i)
                 for i in range(half)]
    pci_docs = [fleet.document(3, i % 8, subsys=subsys + half + i)
                for i in range(count - half)]
    root, devices = _host_with(placement, name, mdev_docs, pci_docs)
    return root, sync.Reporter(placement.sdk, name), devices


# The GETs, steady syncs per sample that a one-shot sync is compared to.
_GETS = 10
STEADY_SYNCS = 5


def reporter_sync(placement, count=64):
    """First and steady-state sync of a host with ``count`` devices.

    Half are mdev types (one per GPU), half PCI VFs.  The first sync
    happens once per host: each repeat first-syncs a host of its own
    (distinct streams), sampled in turn with a block of ``_GETS`` traits
    GETs.  Returns rows ``(sync, requests, writes, Spread of time / one
    traits GET)`` and the owned traits on the first host's root.
    """
    hosts = [_distinct_host(placement, 'reporter-host-%d' % r, count,
                            0x1000 + r * 2 * count)
             for r in range(REPEATS)]
    root, reporter, devices = hosts[0]
    pl = placement.sdk.placement

    def get():
        pl.get_resource_provider_trait(root.id)

    first, done = _first_syncs(placement, [h[1:] for h in hosts])
    (ratio,), _medians = interleaved_ratios([first, _times(get, _GETS)],
                                            [(0, 1)], 1)
    rows = [('first', done[0][3], done[0][4], _scaled(ratio, _GETS))]
    placement.app.reset()
    reporter.sync(devices)
    counts = (placement.app.total, placement.app.writes)
    ratio, _t_steady, _t_get = interleaved_ratio(
        lambda: reporter.sync(devices), get, 11)
    rows.append(('steady state', counts[0], counts[1], ratio))
    owned = sum(1 for t in pl.get_resource_provider_trait(root.id).traits
                if nvc_traits.is_owned(t))
    return rows, owned


def first_sync_scaling(placement, counts=(16, 64, 256)):
    """The first sync of a host with ``count`` distinct devices, per count.

    Every host in the same Placement, one after the other, as hosts join
    a cloud: a later host finds more traits in Placement's table.  Half
    mdev types (one per GPU), half PCI VFs, every device its own stream.
    Each repeat first-syncs a new host of each count in turn.  Rows
    ``(devices, requests, traits created, median seconds, Spread of
    seconds per device / that of the smallest host)``.
    """
    hosts = [[] for _ in counts]
    subsys = 0x4000
    for r in range(REPEATS):
        for i, count in enumerate(counts):
            _root, reporter, devices = _distinct_host(
                placement, 'first-sync-%d-%d' % (count, r), count, subsys)
            subsys += count
            hosts[i].append((reporter, devices))
    made = [_first_syncs(placement, h) for h in hosts]
    ratios, medians = interleaved_ratios(
        [run for run, _done in made], [(i, 0) for i in range(len(counts))],
        1)
    rows = []
    for count, ratio, seconds, (_run, done) in zip(counts, ratios, medians,
                                                   made):
        _reporter, _devices, result, requests, _writes = done[0]
        rows.append((count, requests, len(result.created_traits), seconds,
                     _scaled(ratio, counts[0] / count)))
    return rows


def range_width(placement, widths):
    """Traits per provider as the accepted minor range grows.

    The device accepts minors ``1..width`` (an unaligned start, the
    harder case for the cover).  Per width: ``(accepted minors, owned
    traits on the device's provider, what encoding 1 published, requests of the
    first sync, requests of a steady sync, Spread of first sync / steady
    sync time)``: each repeat first-syncs a new host (a stream of its
    own), then times ``STEADY_SYNCS`` steady syncs of it.
    """
    rows = []
    pl = placement.sdk.placement
    for index, width in enumerate(widths):
        hosts, gpus = [], []
        for r in range(REPEATS):
            name = 'range-%d-%d' % (width, r)
            doc = fleet.document(5, width, minor_min=1,
                                 subsys=0x3000 + index * 8 + r)
            _root, devices = _host_with(placement, name, [doc])
            # The device's own provider (the root carries none of its
            # GPUs' traits).
            gpus.append(nvc_plan.mdev_parent_provider_name(
                name, devices[0].address))
            hosts.append((sync.Reporter(placement.sdk, name), devices))
        first, done = _first_syncs(placement, hosts)

        def steady():
            reporter, devices = done[-1][:2]
            for _ in range(STEADY_SYNCS):
                reporter.sync(devices)

        (ratio,), _medians = interleaved_ratios([first, steady], [(0, 1)],
                                                1)
        reporter, devices, _result, requests, _writes = done[0]
        placement.app.reset()
        reporter.sync(devices)
        steady_requests = placement.app.total
        (gpu,) = pl.resource_providers(name=gpus[0])
        published = sum(
            1 for t in pl.get_resource_provider_trait(gpu.id).traits
            if nvc_traits.is_owned(t))
        rows.append((width, published, width + 1, requests,
                     steady_requests, _scaled(ratio, STEADY_SYNCS)))
    return rows


# 4. What encoding 2 costs every scheduling request -----------------------

def wide_document(host_index, parent_index):
    """A GPU accepting a wide, unaligned range of minors (up to 1,000)."""
    minor = 1000 + (host_index * 7 + parent_index * 13) % 997
    width = 1 + (host_index * 31 + parent_index * 17) % 1000
    return fleet.document(1, minor, minor_min=minor - width + 1)


def _boot_query(placement, resource_class):
    """Nova's own ``GET /allocation_candidates`` for a one-device flavor.

    The request spec goes through Nova's ``ResourceRequest`` and report
    client, as the scheduler sends it.
    """
    flavor = objects.Flavor(
        vcpus=1, memory_mb=512, root_gb=1, ephemeral_gb=0, swap=0,
        extra_specs={'resources:%s' % resource_class: '1',
                     'resources:VCPU': '0',
                     'resources:MEMORY_MB': '0', 'resources:DISK_GB': '0'})
    spec = objects.RequestSpec(flavor=flavor, is_bfv=False,
                               scheduler_hints={}, num_instances=1)
    resources = scheduler_utils.ResourceRequest.from_request_spec(spec)
    client = report.SchedulerReportClient(adapter=placement.nova_adapter())
    ctxt = nova_context.get_admin_context()
    url = '/allocation_candidates?%s' % resources.to_querystring()
    adapter = placement.nova_adapter()

    def run():
        return client.get_allocation_candidates(ctxt, resources)

    def size():
        return len(adapter.get(
            url, microversion=report.SAME_SUBTREE_VERSION).content)
    return run, size


# The device class of the fleet without our traits and of the one with
# them: both fleets are in one Placement, so that Nova's query on each is
# sampled in turn.
BOOT_WITHOUT = 'CUSTOM_BENCH_GPU_A'
BOOT_WITH = 'CUSTOM_BENCH_GPU_B'
# Hosts of the boot query's fleets with their own documents; host i has
# those of host (i - 1) % BOOT_KINDS + 1, as hosts of a cloud share
# driver versions (and so its fleets are published in bulk).
BOOT_KINDS = 100


def boot_candidates(size, root_traits=fleet.NOVA_ROOT_TRAITS,
                    root_inventory=None):
    """Nova's boot query on ``size`` hosts, with and without our traits.

    One Placement holds two fleets of ``size`` hosts, alike but for the
    device class: each host a root (with ``root_traits`` and
    ``root_inventory``, as Nova keeps them) and ``fleet.PARENTS`` GPU
    providers,
    each GPU accepting a wide range of minors (:func:`wide_document`,
    :data:`BOOT_KINDS` hosts of distinct ranges); the reporter published
    one fleet (encoding 2), not the other (:meth:`Fleet.add_hosts`).
    Nova's query for a one-GPU flavor of each fleet's class is sampled in
    turn (:func:`interleaved_ratio`).  Returns ``(hosts, providers, GPU traits
    mean / max, root traits mean / max, Spread of the time with traits /
    without, size with / without, ms without, ms with, kB without, kB
    with, candidates)``.
    """
    placement = local_placement.in_process()
    try:
        for name in (BOOT_WITHOUT, BOOT_WITH):
            put(placement.sdk.placement, '/resource_classes/%s' % name,
                None, '1.7')
        fleets = {}
        for name in (BOOT_WITHOUT, BOOT_WITH):
            fleets[name] = Fleet(placement, with_source=False,
                                 resource_class=name,
                                 root_traits=root_traits,
                                 root_inventory=root_inventory)
            hosts = []
            for i in range(1, size + 1):
                kind = (i - 1) % BOOT_KINDS + 1
                hosts.append(('%s-%05d' % (name[-1].lower(), i), [
                    wide_document(kind, j) for j in range(fleet.PARENTS)],
                    # Unpublished, every host's tree is alike.
                    kind if name == BOOT_WITH else None))
            fleets[name].add_hosts(hosts, publish=name == BOOT_WITH)
        gpu_counts, root_counts = [], []
        for host in fleets[BOOT_WITH].hosts:
            traits = host.provider_traits()
            gpu_counts.extend(len(traits[g]) for g in host.gpus)
            root_counts.append(len(traits[host.uuid]))
        run_none, size_none = _boot_query(placement, BOOT_WITHOUT)
        run_with, size_with = _boot_query(placement, BOOT_WITH)
        candidates = len(run_none()[0])
        if len(run_with()[0]) != candidates:
            raise AssertionError('the traits changed the candidates')
        n = samples_for(size, budget=2000, low=7, high=31)
        ratio, t_v2, t_none = interleaved_ratio(run_with, run_none, n)
        b_none, b_v2 = size_none(), size_with()
    finally:
        placement.close()
    return (size, size * (fleet.PARENTS + 1),
            '%.1f / %d' % (statistics.mean(gpu_counts), max(gpu_counts)),
            '%.1f / %d' % (statistics.mean(root_counts), max(root_counts)),
            ratio, b_v2 / b_none, t_none * 1000, t_v2 * 1000,
            b_none / 1000, b_v2 / 1000, candidates)
