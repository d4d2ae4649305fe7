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

"""``drain`` of a busy host as the fleet grows: reads, bytes and planning.

The drained host ``source`` has ``fleet.PARENTS`` GPUs of 24 VGPU each,
two emitting stream 1.2 and two 1.3, and ``SERVERS`` servers on them
(a quarter hold 2 VGPU, the others 1): four distinct demands.  The
rest of the fleet is :class:`scenarios.Fleet`'s, published by the real
reporter into the real Placement (in-process).

Per size: Placement requests and the bytes of their answers, the time
of the reads, and of the planning (plan, reasons and the report data
``drain --json`` prints), the median of a few runs; and once, the
previous planner (kept in the tests as the reference) on the same
inputs.

Run on its own: ``python -m benchmarks.drain [SIZE ...]``.
"""

import statistics
import sys
import time
import uuid as uuid_lib

from benchmarks import fleet
from benchmarks import scenarios
from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning import report
from nova_vfio_compat.planning_reads import placement_view

SERVERS = 64
SIZES = (10, 100, 1000)
SOURCE_VGPUS = 24


class CountingBytes(object):
    """WSGI middleware adding up the bytes of the answers it passes on."""

    def __init__(self, app):
        self.app = app
        self.bytes = 0

    def __call__(self, environ, start_response):
        for chunk in self.app(environ, start_response):
            self.bytes += len(chunk)
            yield chunk


class QuickFleet(scenarios.Fleet):
    """:class:`scenarios.Fleet` published without the reporter.

    Each provider gets the traits :meth:`fleet.Host.provider_traits`
    says the reporter publishes, in one write: a 1,000-host fleet in
    minutes instead of half an hour.
    """

    def __init__(self, placement):
        super().__init__(placement, with_source=False)
        self._traits = set()

    def publish(self, host):
        for uuid, names in host.provider_traits().items():
            for name in sorted(names - self._traits):
                scenarios.put(self._pl, '/traits/%s' % name, None, '1.6')
                self._traits.add(name)
            if uuid == host.uuid:
                names = names | set(fleet.NOVA_ROOT_TRAITS)
            # Generation 1: one write (traits or inventory) since created.
            scenarios.put(self._pl, '/resource_providers/%s/traits' % uuid,
                          {'traits': sorted(names),
                           'resource_provider_generation': 1}, '1.6')


def busy_source(the_fleet, servers=SERVERS):
    """The drained host and its servers' allocations."""
    host = the_fleet.add_host('source', [
        fleet.document(1, 2 + (j >= fleet.PARENTS // 2))
        for j in range(fleet.PARENTS)])
    the_fleet.publish(host)
    pl = the_fleet.placement.sdk.placement
    gpus = list(host.gpus)
    for gpu in gpus:
        generation = pl.get_resource_provider(gpu).generation
        scenarios.put(pl, '/resource_providers/%s/inventories' % gpu, {
            'inventories': {'VGPU': {'total': SOURCE_VGPUS}},
            'resource_provider_generation': generation}, '1.6')
    for i in range(servers):
        scenarios.put(pl, '/allocations/%s' % uuid_lib.uuid4(), {
            'allocations': {gpus[i % len(gpus)]: {'resources': {
                'VGPU': 2 if i % 16 >= 12 else 1}}},
            'project_id': 'p', 'user_id': 'u',
            'consumer_generation': None}, '1.28')
    return host


def pre_flight(view):
    """The reads, then the planning: ``(inputs, data, t_read, t_plan)``."""
    start = time.perf_counter()
    inputs = placement_view.read_drain(view, 'source')
    read = time.perf_counter()
    plan, stranded = nvc_drain.plan_and_explain(
        inputs.servers, inputs.options, inputs.free, inputs.acceptors,
        inputs.names)
    data = report.drain(inputs, inputs.servers, plan, stranded, {})
    return inputs, data, read - start, time.perf_counter() - read


def previous_planner(inputs):
    """Seconds of the previous, quadratic planner on the same inputs.

    It is kept as the reference of the planner's tests; None where the
    tests are not at hand.
    """
    try:
        from tests.unit.planning import test_drain_reference
    except ImportError:
        return None
    start = time.perf_counter()
    test_drain_reference.reference_plan(inputs.servers, inputs.options,
                                        inputs.free, inputs.names)
    return time.perf_counter() - start


def measure(sizes=SIZES, samples=3, log=None):
    """The figures per size.

    Rows of ``(hosts, requests, kB read, s reading, s planning, s of the
    previous planner, placed, stranded, servers truncated)``.
    """
    placement = local_placement.in_process()
    rows = []
    try:
        counter = CountingBytes(placement.app.app)
        placement.app.app = counter
        the_fleet = QuickFleet(placement)
        busy_source(the_fleet)
        view = placement_view.PlacementView(placement_view.sdk_get(
            placement.sdk))
        for size in sizes:
            started = time.perf_counter()
            the_fleet.grow(size)
            if log:
                log('%d hosts built in %.0f s' % (
                    size, time.perf_counter() - started))
            placement.app.reset()
            counter.bytes = 0
            inputs, data, _, _ = pre_flight(view)
            requests, writes = placement.app.total, placement.app.writes
            read_bytes = counter.bytes
            if writes:
                raise AssertionError('drain wrote to Placement')
            runs = [pre_flight(view)[2:] for _ in range(samples)]
            rows.append((size, requests, read_bytes / 1000,
                         statistics.median(r[0] for r in runs),
                         statistics.median(r[1] for r in runs),
                         previous_planner(inputs),
                         data['placed'], data['stranded'],
                         sum(s['truncated'] for s in data['servers'])))
            if log:
                log(repr(rows[-1]))
    finally:
        placement.close()
    return rows


def _same_plan(inputs):
    """Does the planner make the previous planner's plan on ``inputs``?

    The same assignments in the same order, and the same stranded
    servers with the same reasons; None where the previous planner (in
    the tests) is not at hand.
    """
    try:
        from tests.unit.planning import test_drain_reference
    except ImportError:
        return None
    got = nvc_drain.plan(inputs.servers, inputs.options, inputs.free,
                         inputs.names)
    expected = test_drain_reference.reference_plan(
        inputs.servers, inputs.options, inputs.free, inputs.names)
    return (list(got.assignments.items()) ==
            list(expected.assignments.items()) and
            [(s.server.consumer, s.why, s.reason) for s in got.stranded] ==
            [(s.server.consumer, s.why, s.reason)
             for s in expected.stranded])


def planning_rows(sizes=SIZES, servers=SERVERS):
    """The drain planning figure of the benchmarks page, per fleet size.

    ``servers`` servers on the drained host (:func:`busy_source`), the
    fleet grown to each size.  The planning is what ``drain`` does after
    its reads (the plan, the reasons and the report data); the baseline
    is the allocation-candidates query Nova's scheduler makes for a
    one-vGPU flavor on the same fleet, the two sampled in turn.  Rows of
    ``(servers, hosts, Placement requests of the reads, CPU seconds of
    the planning (median of 3), Spread of planning / Nova's query, the
    same plan as the previous planner (None: not checked))``.
    """
    placement = local_placement.in_process()
    rows = []
    try:
        the_fleet = QuickFleet(placement)
        busy_source(the_fleet, servers)
        view = placement_view.PlacementView(placement_view.sdk_get(
            placement.sdk))
        adapter = placement.nova_adapter()
        for size in sizes:
            the_fleet.grow(size)
            placement.app.reset()
            inputs = placement_view.read_drain(view, 'source')
            requests, writes = placement.app.total, placement.app.writes
            if writes:
                raise AssertionError('drain wrote to Placement')

            def planning():
                plan, stranded = nvc_drain.plan_and_explain(
                    inputs.servers, inputs.options, inputs.free,
                    inputs.acceptors, inputs.names)
                report.drain(inputs, inputs.servers, plan, stranded, {})

            def nova_query():
                adapter.get(scenarios.VGPU_CANDIDATES,
                            microversion=scenarios.CANDIDATES_MICROVERSION
                            ).json()

            cpu = []
            for _ in range(3):
                start = time.process_time()
                planning()
                cpu.append(time.process_time() - start)
            ratio, _t_plan, _t_nova = scenarios.interleaved_ratio(
                planning, nova_query,
                scenarios.samples_for(size, budget=1000, low=5, high=21))
            rows.append((len(inputs.servers), size, requests,
                         statistics.median(cpu), ratio, _same_plan(inputs)))
    finally:
        placement.close()
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    sizes = tuple(int(a) for a in argv) or SIZES

    def log(text):
        print(text, file=sys.stderr, flush=True)
    rows = measure(sizes, log=log)
    print('| hosts | requests | kB read | reads (s) | planning (s) | '
          'previous planner (s) | placed | stranded | servers truncated |')
    print('|---|---|---|---|---|---|---|---|---|')
    for row in rows:
        print('| %d | %d | %.0f | %.2f | %.2f | %s | %d | %d | %d |' % (
            row[:5] + ('-' if row[5] is None else '%.2f' % row[5],) +
            row[6:]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
