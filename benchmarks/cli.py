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

"""The benchmark command: run the sections, print one table each.

``--quick`` (the default) is sized for CI: 10, 100 and 1,000 candidate
hosts and a 100-host fleet in Placement.  ``--full`` adds 10,000 candidate
hosts and grows the fleet to 1,000 hosts.  ``--rst`` prints
reStructuredText for ``doc/source/reference/benchmarks.rst``; the default
is Markdown.
"""

import argparse
import importlib.metadata
import logging
import multiprocessing
import os
import platform
import sys
import time
import traceback

from nova import objects

from benchmarks import drain
from benchmarks import fleet
from benchmarks import scenarios
from benchmarks import upgrade_report
from benchmarks import upgrade_simulation
from nova_vfio_compat.demo import local_placement

WIDTHS = (1, 4, 16, 64, 256, 999, 2 ** 16, 2 ** 24, 2 ** 31 - 1)
QUICK = {'hosts': (10, 100, 1000), 'fleet': (10, 100), 'widths': WIDTHS,
         'boot': 100}
FULL = {'hosts': (10, 100, 1000, 10000), 'fleet': (10, 100, 1000),
        'widths': WIDTHS, 'boot': 1000}
# What a run takes, in CPU time (one core), as measured on a shared
# 2-core machine: --quick with its parts one after the other, --full
# with them side by side (393 s of CPU time, 20 minutes of wall clock
# under a load average of about 20, before the drain planning part's
# 62 s).
QUICK_MINUTES = 8
FULL_MINUTES = 8
# The goal for what our traits add to Nova's boot query (issue 12).
BOOT_GOAL = 1.3
# How every timed table was measured (scenarios.interleaved_ratios).
SPREAD = ('each ratio is the median of %d repeats, each from its own '
          'samples, with the lowest and highest in brackets'
          % scenarios.REPEATS)


def _x(value):
    return '%.2fx' % value


def table(title, headers, rows, rst):
    """Render one table as reStructuredText or Markdown."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells)
              for i in range(len(headers))]
    lines = []
    if rst:
        lines += [title, '-' * len(title), '']
        rule = '  '.join('=' * w for w in widths)
        fmt = '  '.join('{:<%d}' % w for w in widths)
        lines += [rule, fmt.format(*cells[0]).rstrip(), rule]
        lines += [fmt.format(*r).rstrip() for r in cells[1:]]
        lines += [rule, '']
    else:
        lines += ['### ' + title, '']
        fmt = '| ' + ' | '.join('{:<%d}' % w for w in widths) + ' |'
        lines += [fmt.format(*cells[0]),
                  '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
        lines += [fmt.format(*r) for r in cells[1:]]
        lines += ['']
    return '\n'.join(lines)


def _cpu():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions():
    names = ('openstack-placement', 'nova', 'openstacksdk')
    found = []
    for name in names:
        try:
            found.append('%s %s' % (name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            pass
    return ', '.join(found)


def _quiet_logs(level):
    # With --log-info the filter and the reporter log at INFO as they
    # would in a service (the records are formatted, then dropped); by
    # default only warnings, so the tables compare the decisions alone.
    handler = logging.StreamHandler(open(os.devnull, 'w'))
    handler.setFormatter(logging.Formatter(
        '%(asctime)s %(levelname)s %(name)s %(message)s'))
    for name in ('nova_vfio_compat', 'benchmarks'):
        log = logging.getLogger(name)
        log.setLevel(level)
        log.addHandler(handler)
        log.propagate = False
    for name in ('placement', 'nova', 'openstack', 'keystoneauth',
                 'oslo_db', 'alembic', 'stevedore'):
        logging.getLogger(name).setLevel(logging.ERROR)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks',
        description='Benchmark the VFIO compatibility filter and reporter '
                    'at fleet scale; print ratios measured in one run.')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--quick', action='store_true',
                      help='CI-sized (the default): 10/100/1,000 candidate '
                           'hosts, a 100-host fleet in Placement (about '
                           '%s minutes of CPU time).' % QUICK_MINUTES)
    size.add_argument('--full', action='store_true',
                      help='Also 10,000 candidate hosts and a 1,000-host '
                           'fleet in Placement (about %s minutes of CPU '
                           'time). Each part\'s time is printed as it '
                           'ends and at the end.' % FULL_MINUTES)
    size.add_argument('--answers', action='store_true',
                      help='Only the table of the answer checks, on a '
                           'fleet grown to 10, 100 and 1,000 hosts in '
                           'Placement (about 1 minute of CPU time).')
    parser.add_argument('--log-info', action='store_true',
                        help='Let the filter and the reporter log at INFO '
                             '(to nowhere), as a service configured so '
                             'would; the default measures at WARNING.')
    parser.add_argument('--boot-hosts', type=int, metavar='N',
                        help='Hosts of the fleet Nova\'s boot query is '
                             'measured on (default: 100 with --quick, '
                             '1,000 with --full).')
    parser.add_argument('--rst', action='store_true',
                        help='Print reStructuredText instead of Markdown.')
    parser.add_argument('--part', action='append', choices=PART_NAMES,
                        metavar='PART',
                        help='Run only this part (repeat for more): %s. '
                             'By default every part runs.'
                             % ', '.join(PART_NAMES))
    parser.add_argument('--jobs', type=int, default=len(PARTS),
                        metavar='N',
                        help='Run the parts (filter cost per host, the '
                             'fleet in Placement, the reporter, Nova\'s '
                             'boot query, drain planning) in N processes '
                             'side by side '
                             '(default %(default)s; 1: one after the '
                             'other in this process).')
    up = parser.add_argument_group(
        'rolling upgrade', 'Simulate a rolling driver upgrade with three '
        'placement strategies instead of the timings.')
    up.add_argument('--upgrade', action='store_true',
                    help='Run the rolling-upgrade simulation only.')
    up.add_argument('--hosts', type=int,
                    default=upgrade_simulation.DEFAULT['hosts'],
                    help='Hosts in the fleet (default %(default)s).')
    up.add_argument('--servers', type=int,
                    default=upgrade_simulation.DEFAULT['servers'],
                    help='Servers, each holding a vGPU, a VF or both '
                         '(default %(default)s).')
    up.add_argument('--wave-size', type=int,
                    default=upgrade_simulation.DEFAULT['wave_size'],
                    help='Hosts upgraded per wave (default %(default)s).')
    up.add_argument('--seed', type=int, default=0,
                    help='Seed of the fleet and of the host order.')
    up.add_argument('--plot', metavar='PNG',
                    help='Save the failures per wave to this image.')
    up.add_argument('--processes', type=int, choices=(1, 2), default=2,
                    help='2: run the two Nova PCI modes side by side in '
                         'two processes (the same tables); 1: one after '
                         'the other in this one (default %(default)s).')
    return parser.parse_args(argv)


def _header(args, emit):
    """The command and the machine, as the page shows them."""
    command = 'python -m benchmarks %s%s%s%s%s%s' % (
        '--full' if args.full else
        '--answers' if args.answers else '--quick',
        ' --boot-hosts %d' % args.boot_hosts if args.boot_hosts else '',
        ' --log-info' if args.log_info else '',
        ' --jobs %d' % args.jobs if args.jobs != len(PARTS) else '',
        ''.join(' --part %s' % p for p in args.part or ()),
        ' --rst' if args.rst else '')
    emit(('Command: ``%s``' if args.rst else 'Command: `%s`') % command)
    emit('')
    emit('Machine: %d CPU cores (%s), Python %s, %s. Run on %s UTC.' % (
        os.cpu_count(), _cpu(), platform.python_version(), _versions(),
        time.strftime('%Y-%m-%d %H:%M', time.gmtime())))
    emit('')


def _per_host(sizes, emit, rst):
    rows = scenarios.per_host_cost(sizes['hosts'])
    emit(table(
        'Filter cost per live-migration request, per host',
        ['candidate hosts', 'samples', 'VFIOCompatFilter / pass-all',
         'VFIOCompatFilter / set lookup', 'set lookup / pass-all',
         'rules per host / pass-all', 'rules per host / VFIOCompatFilter',
         'decision alone: rules / Streams.check', 'hosts passed',
         'candidates kept'],
        [r[:2] + tuple(str(c) for c in r[2:8]) + r[8:] for r in rows],
        rst))
    emit('All four run through Nova\'s ``filter_all`` over Nova '
         '``HostState`` objects, each host with %d allocation candidates '
         '(one vGPU each): a filter that passes every host (pass-all), '
         'one that makes a single set lookup per candidate (the floor of '
         'any filter that looks at candidates), the real filter and one '
         'that runs the rule engine per candidate. The filter\'s '
         'request-wide step is computed in advance here (from the traits '
         'the reporter publishes), so this is the per-host cost alone; '
         'the next table has the real Placement. The four are sampled in '
         'turn; %s. The filter and '
         'the rule engine are checked to pass the same hosts and keep the '
         'same candidates. "Decision alone" times ``rules.check`` per '
         'candidate against the filter\'s per-host test '
         '(``Streams.check``), without Nova\'s filter machinery.\n'
         % (4, SPREAD))


def _fleet(rows, emit, rst):
    emit(table(
        'A fleet in a real Placement, published by the reporter',
        ['hosts', 'providers', 'Placement requests per request',
         'filter / pass-all (whole request)',
         'filter / Nova allocation candidates GET',
         'accepting-provider query / GET /', 'hosts passed'],
        [r[:3] + tuple(str(c) for c in r[3:6]) + r[6:] for r in rows],
        rst))
    emit('The real Placement app (in-process, in-memory sqlite, '
         'through wsgi-intercept) holds the fleet: each host a compute '
         'node provider and 4 GPU providers, their traits published '
         'by ``Reporter.sync`` (the first host of each set of device '
         'versions; the others are copies of its provider tree, written '
         'in Placement\'s tables). The filter runs whole, its Placement '
         'requests through Nova\'s report client; only its Nova database '
         'step (which migration, which source node) is answered in '
         'advance. "Nova allocation candidates GET" is the query the '
         'scheduler makes anyway for the same request. The five requests '
         '(pass-all, the filter, Nova\'s query, ``GET /``, the '
         'accepting-provider query) are sampled in turn; %s.\n' % SPREAD)


def _by_size(rows):
    """``(sizes, lines)`` of ``{size: [row]}``, rows alike at every size.

    A line per row: that row at each size, in size order.
    """
    sizes = sorted(rows)
    return sizes, [[rows[size][i] for size in sizes]
                   for i in range(len(rows[sizes[0]]))]


def _answers(answers, emit, rst):
    sizes, lines = _by_size(answers)
    emit(table(
        'Checking Placement\'s answers: check / json.loads',
        ['route'] + ['%d hosts' % size for size in sizes] +
        ['kB at %d hosts' % sizes[-1]],
        [[line[0][0]] + [str(row[2]) for row in line] +
         ['%.1f' % line[-1][1]] for line in lines], rst))
    emit('One answer of every route the project reads, from the fleet '
         'above as it grows: the time of the check a reader applies '
         '(``placement.reader.check_route``: the shape of the route the '
         'reader names, compiled; all of allocation candidates\' and '
         'the allocations of one consumer or provider written by hand) '
         'against '
         '``json.loads`` of the same bytes, sampled in turn; %s. A small '
         'answer is timed many times per sample.\n' % SPREAD)


def _answers_and_validators(tables, emit, rst):
    _answers(tables['answers'], emit, rst)
    _validators(tables['validators'], emit, rst)


def _validators(rows, emit, rst):
    sizes, lines = _by_size(rows)
    emit(table(
        'Checking drain\'s allocation candidates with a library',
        ['library'] + ['/ json.loads, %d hosts' % size for size in sizes] +
        ['/ the project\'s check, %d hosts' % size for size in sizes],
        [[line[0][0]] + [str(row[1] or 'not installed') for row in line] +
         [str(row[2] or 'not installed') for row in line]
         for line in lines], rst))
    emit('The answer of the drain row above, decoded once, checked whole '
         'by the libraries that could check it instead of the check '
         '``drain``\'s reader applies, written by hand '
         '(``benchmarks/validators.py``): jsonschema, the reference that '
         'writes the message of a refusal, and pydantic-core, compiled '
         'in Rust (strict: the same types, patterns and bounds). Both are '
         'timed without the test that a candidate names only providers '
         'the summaries describe, which neither schema language '
         'expresses. Each library, the project\'s check and '
         '``json.loads`` of the same bytes are sampled in turn; %s. '
         'Where the decoded objects lie in memory moves the time of a '
         'check (the project\'s, timed on the body of each table, '
         'differs between the two): against the project\'s check, '
         'sampled in turn on the same body, is the comparison that '
         'carries.\n' % SPREAD)


def _lm_reads(rows, emit, rst):
    emit(table(
        'What one live migration downloads from Placement',
        ['hosts', 'hosts handed to the filter',
         'requests: their trees', 'kB: their trees',
         'requests: whole fleet', 'kB: whole fleet',
         'kB, their trees: growth', 'kB, whole fleet: growth',
         'hosts: growth'],
        [(r[0], r[1], r[2], '%.1f' % r[3], r[4], '%.1f' % r[5],
          _x(r[6]), _x(r[7]), _x(r[8])) for r in rows], rst))
    emit('The same fleet; the real filter is handed '
         'the same 10 hosts on every fleet and asks Placement either about '
         'their trees alone (one request per tree: ``[vfio_compat_filter] '
         'max_tree_reads`` = 10) or about the whole fleet '
         '(``max_tree_reads`` = 0). kB: the bodies of every GET the filter '
         'makes for the request; growth: against the smallest fleet. Both '
         'decide the same (checked).\n')


def _reporter(placement, sizes, emit, rst):
    rows, owned = scenarios.reporter_sync(placement)
    emit(table(
        'Reporter: a host with 64 devices',
        ['sync', 'requests', 'writes', 'time / one traits GET'],
        [(r[0], r[1], r[2], str(r[3])) for r in rows], rst))
    emit('32 mdev types on 8 GPU providers and 32 PCI VFs; %d owned '
         'traits on the compute node provider after the first sync. A '
         'host syncs for the first time once: each of the %d repeats '
         'first-syncs a host of its own (streams of its own), sampled in '
         'turn with the traits GET; the steady sync and the GET are '
         'sampled in turn; %s.\n' % (owned, scenarios.REPEATS, SPREAD))

    rows = scenarios.first_sync_scaling(placement)
    emit(table(
        'Reporter: the first sync as the host grows',
        ['distinct devices', 'requests', 'traits created', 'seconds',
         'seconds per device / at 16'],
        [(r[0], r[1], r[2], '%.2f' % r[3], str(r[4])) for r in rows],
        rst))
    emit('Every device its own stream, half mdev types (one per GPU), '
         'half PCI VFs; the hosts join one Placement in turn. The '
         'requests are one per trait and resource class created and '
         'two per provider, in one order: every read, then every '
         'trait and class, then one traits PUT per provider. Placement '
         'reads its whole trait table once in each request that names '
         'a trait (its trait cache lives in the request), whatever the '
         'order, so a request costs more as the cloud\'s trait table '
         'grows. Each of the %d repeats first-syncs a new host of each '
         'size in turn; seconds: the median; %s.\n'
         % (scenarios.REPEATS, SPREAD))

    rows = scenarios.range_width(placement, sizes['widths'])
    emit(table(
        'Traits per provider as the accepted minor range grows',
        ['accepted minors', 'owned traits on the provider',
         'encoding 1 published', 'requests of the first sync',
         'requests of a steady sync', 'first / steady sync time'],
        [r[:5] + (str(r[5]),) for r in rows], rst))
    emit('One device whose document accepts the minor versions '
         '1..n, published by the reporter in the real Placement: its '
         'emit trait plus one accept trait per block of the cover of '
         '1..n (encoding 2); encoding 1 published one accept trait per '
         'minor, and could not publish more than '
         '``[traits] max_traits_per_provider`` (1,000). The first sync '
         'creates each new trait with one request; a steady sync is '
         'one listing of the tree. Each of the %d repeats first-syncs a '
         'new host (a stream of its own), then syncs it %d times more, '
         'in turn; %s.\n' % (scenarios.REPEATS, scenarios.STEADY_SYNCS,
                             SPREAD))


# The roots of the boot query's fleets: (label, traits, inventory).  The
# goal is judged on the first, which has the fewest traits (our traits
# weigh most there).
BOOT_ROOTS = (
    ('Nova\'s two', fleet.NOVA_ROOT_TRAITS, None),
    ('a libvirt node\'s', fleet.LIBVIRT_ROOT_TRAITS,
     fleet.LIBVIRT_ROOT_INVENTORY),
)


def _boot(hosts, emit, rst):
    rows = [(label,) + scenarios.boot_candidates(hosts, traits, inventory)
            for label, traits, inventory in BOOT_ROOTS]
    verdict = 'met' if rows[0][5].median <= BOOT_GOAL else 'NOT met'
    emit(table(
        'What our traits cost Nova\'s boot query',
        ['roots: traits and inventory', 'hosts', 'providers',
         'traits per GPU provider (mean / max)',
         'our traits per root provider (mean / max)',
         'time: with traits / none', 'response size: with / none',
         'ms, none', 'ms, with traits', 'kB, none', 'kB, with traits',
         'candidates'],
        [(row[0], row[1], row[2], row[3], row[4], str(row[5]), _x(row[6]),
          '%.0f' % row[7], '%.0f' % row[8], '%.0f' % row[9],
          '%.0f' % row[10], row[11]) for row in rows], rst))
    emit('Nova\'s own ``GET /allocation_candidates`` for a one-GPU '
         'flavor (its ``ResourceRequest`` and report client), on hosts of '
         'a root and %d GPU providers each, every GPU accepting a wide '
         'unaligned range of up to 1,000 minors. One Placement holds two '
         'such fleets, each with its own GPU resource class: the reporter '
         'published encoding 2 on one, not on the other, and the query of '
         'each is sampled in turn; %s. Host i has the GPUs of host '
         '(i - 1) %% %d + 1: the reporter published the first %d hosts, '
         'the others are copies of their provider trees, written in '
         'Placement\'s tables. Placement returns every provider\'s traits '
         'and inventories in the provider summaries, so the answer grows '
         'with them. Roots: with the two traits Nova keeps on every '
         'compute node (``COMPUTE_NODE``, ``OWNER_NOVA``), and, in a '
         'Placement of their own, with the %d traits and the VCPU, '
         'MEMORY_MB and DISK_GB inventories Nova\'s libvirt driver sets on '
         'a compute node of its functional harness (a real host has more '
         'CPU traits). Goal: at most %.1fx the time with Nova\'s two '
         '(%s).\n' % (
             fleet.PARENTS, SPREAD, scenarios.BOOT_KINDS,
             scenarios.BOOT_KINDS, len(fleet.LIBVIRT_ROOT_TRAITS),
             BOOT_GOAL, verdict))


def _drain(rows, emit, rst):
    emit(table(
        'Drain pre-flight in a real Placement',
        ['hosts', 'Placement requests', 'kB read',
         'drain / Nova allocation candidates GET', 'destinations found'],
        [(r[0], r[1], '%.1f' % r[4], str(r[2]), r[3]) for r in rows], rst))
    emit('``nova-vfio-compat drain source`` without the command line: '
         'the reads (GET only, checked), the plan and the reasons, for a '
         'host with one vGPU server, in the same fleet as above. The '
         'baseline is the allocation-candidates query Nova\'s scheduler '
         'makes for a one-vGPU flavor; the two are sampled in turn; '
         '%s.\n' % SPREAD)


def _drain_planning(rows, emit, rst):
    emit(table(
        'Drain planning of a busy host',
        ['servers on the host', 'hosts', 'Placement requests',
         'planning, CPU s', 'planning / Nova allocation candidates GET',
         'same plan as the previous planner'],
        [(r[0], r[1], r[2], '%.2f' % r[3], str(r[4]),
          {True: 'yes', False: 'NO', None: 'not checked'}[r[5]])
         for r in rows], rst))
    emit('``nova-vfio-compat drain source`` of a host with %d servers '
         '(%d GPUs of %d VGPU, two streams, four demands) as the fleet '
         'grows: the requests of its reads (GET only, checked), and the '
         'planning after them (plan, reasons and report data): its CPU '
         'time (the median of 3 runs; goal: 2 s at 1,000 hosts) and its '
         'time against the allocation-candidates query Nova\'s scheduler '
         'makes for a one-vGPU flavor on the same fleet, the two sampled '
         'in turn; %s. The plan is checked against the previous, '
         'quadratic planner (kept in the tests as the reference): the '
         'same assignments in the same order and the same stranded '
         'servers with the same reasons.\n' % (
             drain.SERVERS, fleet.PARENTS, drain.SOURCE_VGPUS, SPREAD))


def _collect(work):
    """``(text, work's result)``: what ``work(emit)`` emits, as one text."""
    lines = []
    result = work(lines.append)
    return '\n'.join(lines), result


def _part_per_host(sizes, args):
    return {'per-host': _collect(
        lambda emit: _per_host(sizes, emit, args.rst))[0]}


def _part_fleet(sizes, args):
    """The tables measured on the fleet in Placement, one fleet grown."""
    placement = local_placement.in_process()
    try:
        tables = scenarios.fleet_tables(placement, sizes['fleet'])
    finally:
        placement.close()
    out = {}
    for key, render in (('fleet', _fleet), ('lm', _lm_reads),
                        ('drain', _drain)):
        out[key] = _collect(
            lambda emit: render(tables[key], emit, args.rst))[0]
    out['answers'] = _collect(
        lambda emit: _answers_and_validators(tables, emit, args.rst))[0]
    return out


def _part_reporter(sizes, args):
    placement = local_placement.in_process()
    try:
        return {'reporter': _collect(
            lambda emit: _reporter(placement, sizes, emit, args.rst))[0]}
    finally:
        placement.close()


def _part_drain_planning(sizes, args):
    rows = drain.planning_rows(sizes['fleet'])
    return {'drain-planning': _collect(
        lambda emit: _drain_planning(rows, emit, args.rst))[0]}


def _part_boot(sizes, args):
    boot = args.boot_hosts or sizes['boot']
    return {'boot': _collect(lambda emit: _boot(boot, emit, args.rst))[0]}


# The parts of a run, each in a process of its own (--jobs): (name, what
# it measures, the sections it renders); PART_NAMES: their --part names.
PART_NAMES = ('per-host', 'fleet', 'reporter', 'boot', 'drain-planning')
PARTS = (
    ('filter cost per host', _part_per_host),
    ('the fleet in Placement', _part_fleet),
    ('the reporter', _part_reporter),
    ('Nova\'s boot query', _part_boot),
    ('drain planning', _part_drain_planning),
)
# The order of the sections on the page.
SECTIONS = ('per-host', 'fleet', 'answers', 'reporter', 'lm', 'boot',
            'drain', 'drain-planning')


def _chosen(args):
    """The indexes into :data:`PARTS` of the parts ``--part`` chose."""
    if not args.part:
        return list(range(len(PARTS)))
    return sorted(PART_NAMES.index(name) for name in set(args.part))


def _run_part(index, sizes, args):
    """Part ``index`` of :data:`PARTS`: ``(sections, CPU s, wall s)``."""
    name, work = PARTS[index]
    cpu, wall = time.process_time(), time.perf_counter()
    sections = work(sizes, args)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print('%s: %.0f s CPU, %.0f s' % (name, cpu, wall), file=sys.stderr,
          flush=True)
    return sections, cpu, wall


def _child(index, sizes, args, queue):
    try:
        queue.put((index, _run_part(index, sizes, args), None))
    except BaseException:
        queue.put((index, None, traceback.format_exc()))


def _side_by_side(sizes, args):
    """:func:`_run_part` of every part, ``args.jobs`` processes at a time.

    Each part in a process of its own, forked before any Placement is
    made: the parts share nothing, and each table's runs are still
    sampled in turn within its part.
    """
    context = multiprocessing.get_context('fork')
    queue = context.SimpleQueue()
    waiting = _chosen(args)
    running, results = {}, {}
    while waiting or running:
        while waiting and len(running) < args.jobs:
            index = waiting.pop(0)
            running[index] = context.Process(
                target=_child, args=(index, sizes, args, queue))
            running[index].start()
        index, result, failed = queue.get()
        running.pop(index).join()
        if failed:
            for process in running.values():
                process.terminate()
            raise RuntimeError('%s failed:\n%s' % (PARTS[index][0], failed))
        results[index] = result
    return [results[i] for i in sorted(results)]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = FULL if args.full else QUICK
    objects.register_all()
    _quiet_logs(logging.INFO if args.log_info else logging.WARNING)
    wall = time.perf_counter()
    rst = args.rst

    def emit(text):
        print(text, flush=True)

    if args.upgrade:
        emit(('Command: ``%s``' if rst else 'Command: `%s`') % (
            'python -m benchmarks --upgrade --hosts %d --servers %d '
            '--wave-size %d --seed %d%s%s%s' % (
                args.hosts, args.servers, args.wave_size, args.seed,
                ' --processes %d' % args.processes
                if args.processes != 2 else '',
                ' --rst' if rst else '',
                ' --plot %s' % args.plot if args.plot else '')))
        emit('')
        return upgrade_report.report(args, emit, table)
    _header(args, emit)
    if args.answers:
        placement = local_placement.in_process()
        try:
            tables = scenarios.fleet_tables(
                placement, FULL['fleet'], fleet_rows=False, lm=False,
                drain=False)
        finally:
            placement.close()
        _answers_and_validators(tables, emit, rst)
        return 0
    if args.jobs > 1:
        results = _side_by_side(sizes, args)
    else:
        results = [_run_part(i, sizes, args) for i in _chosen(args)]
    sections = {}
    for found, _cpu, _wall in results:
        sections.update(found)
    for key in SECTIONS:
        if key in sections:
            emit(sections[key])
    parts = [(name, cpu, part_wall) for (name, _), (_, cpu, part_wall) in
             zip([PARTS[i] for i in _chosen(args)], results)]
    _run_time(parts, args.jobs, time.perf_counter() - wall, emit, rst)
    return 0


def _run_time(parts, jobs, wall, emit, rst):
    """What the run took: CPU time in all and per part, and wall clock."""
    emit('Run time\n--------\n' if rst else '### Run time\n')
    emit('%.0f s of CPU time, %.0f s wall clock with the parts in %s, '
         'of which: %s.' % (
             sum(p[1] for p in parts), wall,
             '%d processes side by side' % min(jobs, len(parts))
             if jobs > 1 and len(parts) > 1 else
             'one process' if len(parts) == 1 else 'turn',
             '; '.join('%s %.0f s CPU (%.0f s wall)' % p for p in parts)))
