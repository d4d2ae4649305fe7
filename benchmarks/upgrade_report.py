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

"""The rolling-upgrade report: the tables of ``--upgrade``, and the plot.
"""

from concurrent import futures
import dataclasses
import multiprocessing
import os
import time

from benchmarks import upgrade_fleet as fleet_lib
from benchmarks import upgrade_orders
from benchmarks import upgrade_real_filter as real_filter
from benchmarks import upgrade_simulation as simulation
from benchmarks import upgrade_strategies as strategies


_NOTES = {
    True: (
        'Families: %(gpus)s (GPUs), %(nics)s (VFs). Servers: %(kinds)s. '
        '"Possible but refused": servers left behind although a '
        'destination the rules accept had the free devices. "Downtime": '
        'the servers on a host left not upgraded at the end (each needs a '
        'cold migration or a stop for the upgrade to complete); "forced": '
        'the lower bound, the servers no order keeps running '
        '(``nova_vfio_compat.planning.forced``, the same for every '
        'strategy); "avoidable": downtime - forced. Placement requests: '
        'those the filter\'s reads made (%(asked)d asked, the rest '
        'answered by the cache of the wave or the wave\'s batch of '
        'allocations); the harness also made %(writes)d writes '
        '(publishing, the moves of each wave at its end, 100 a request, the '
        'upgrades). The filter ran %(runs)d times, once per distinct set '
        'of source devices in a wave. Times: the whole run of the '
        'strategy, publishing included. Checked: every strategy started '
        'from the same fleet and waves and kept no forced server running; '
        'the project\'s sent no migration the rules refuse, refused none '
        'that was possible, and chose the destination the rules choose '
        'for every migration. VFs: the allocation candidates name the PF '
        'provider, Nova claims a VF of the one Placement allocated.\n'),
    False: (
        'The same fleet and waves; VFs: the request spec carries the '
        'flavor\'s PCI request and no Placement group for it, the '
        'allocation candidates hold no VF, and Nova claims any VF of a '
        'matching pool: the filter checked each destination\'s PCI pools '
        '(Nova\'s ``PciDeviceStats`` of the host\'s free VFs, each pool '
        'with its PF\'s provider, ``[pci] report_in_placement``). '
        'Placement requests: %(asked)d asked by the filter\'s reads; '
        '%(writes)d writes; the filter ran %(runs)d times. Checked as '
        'above.\n'),
}


def _figures(fleet, project):
    return {
        'gpus': ', '.join(f.name for f in fleet_lib.GPU_FAMILIES),
        'nics': ', '.join(f.name for f in fleet_lib.NIC_FAMILIES),
        'kinds': ', '.join('%d hold %s' % (n, kind) for kind, n in sorted(
            fleet_lib.kinds(fleet).items())),
        'asked': project.placement_reads_asked,
        'writes': project.placement_writes, 'runs': project.filter_runs}


def plot(results, path):
    """Per wave and strategy: failed migrations, servers left behind."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    figure, (failed, stranded) = pyplot.subplots(
        2, 1, figsize=(7, 5.5), dpi=100, sharex=True)
    for r in results:
        waves = range(1, len(r.failed_per_wave) + 1)
        failed.plot(waves, r.failed_per_wave, marker='o', markersize=3,
                    label=r.strategy)
        stranded.plot(waves, r.stranded_per_wave, marker='o', markersize=3,
                      label=r.strategy)
    failed.set_ylabel('migrations failed\nat the destination')
    stranded.set_ylabel('servers left behind\n(need downtime)')
    stranded.set_xlabel('wave')
    failed.legend()
    for axes in (failed, stranded):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    # No timestamp in the file, so a regenerated image only changes when
    # the figures do.
    figure.savefig(path, metadata={'Software': None})
    pyplot.close(figure)


def strategy_rows(results):
    """The per-strategy table: headers and rows."""
    headers = ['strategy', 'migrations', 'failed at the destination',
               'of which vGPU / VF', 'possible but refused',
               'servers stranded', 'downtime (servers)', 'forced (bound)',
               'avoidable', 'hosts upgraded', 'waves', 'Placement requests',
               'CPU time (s)', 'wall time (s)']
    rows = [(r.strategy, r.migrations, r.failed, '%d / %d' % (
        r.failed_by_device[fleet_lib.VGPU], r.failed_by_device[fleet_lib.VF]),
        r.needlessly_refused, r.stranded, r.downtime, r.forced, r.avoidable,
        r.hosts_upgraded, len(r.sequence), r.placement_calls,
        '%.1f' % r.cpu_seconds, '%.1f' % r.wall_seconds) for r in results]
    return headers, rows


def wave_rows(results):
    """Per wave: failed migrations / servers left behind, per strategy."""
    headers = ['wave'] + ['%s: failed / left behind' % r.strategy
                          for r in results]
    rows = [[i + 1] + ['%d / %d' % (r.failed_per_wave[i],
                                    r.stranded_per_wave[i])
                       for r in results]
            for i in range(len(results[0].sequence))]
    return headers, rows


def _title(args, results, pci_in_placement):
    return 'Rolling driver upgrade, %s: %d hosts, %d servers, %d waves' % (
        real_filter.pci_mode(pci_in_placement), args.hosts, args.servers,
        len(results[0].sequence))


def simulate_mode(hosts, servers, wave_size, seed, pci_in_placement):
    """Every strategy's run in one Nova PCI mode: a worker's work.

    The fleet and the waves are built again from the sizes and the seed
    (deterministic: the checks compare each result's fingerprint with
    the caller's fleet), and the project's strategy gets a Placement of
    its own, so the modes can run in separate processes.
    """
    return simulation.simulate(hosts, servers, wave_size, seed,
                               pci_in_placement=pci_in_placement)[1]


class _InProcess(object):
    """``concurrent.futures``' executor interface, run at ``submit``."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, work, *args):
        done = futures.Future()
        done.set_result(work(*args))
        return done


def _executor(processes):
    if processes <= 1:
        return _InProcess()
    # Forked before this process starts a thread or a Placement: the
    # workers inherit Nova's registered objects and the log set-up.
    return futures.ProcessPoolExecutor(
        max_workers=min(processes, len(real_filter.PCI_MODES)),
        mp_context=multiprocessing.get_context('fork'))


def _order_runs(args, fleet):
    """The bound, and the rules' runs in each order (this process)."""
    forced = upgrade_orders.forced_downtime(fleet)
    orders = [('host name order', simulation.run(
        fleet, strategies.RulesOracle(),
        upgrade_orders.naive_waves(fleet, args.wave_size), args.seed)),
        ('pre-flight order (planning.order)', simulation.run(
            fleet, strategies.RulesOracle(),
            upgrade_orders.preflight_waves(args.wave_size), args.seed))]
    if args.hosts <= simulation.DRAIN_ORDER_MAX_HOSTS:
        orders.append(('previous pre-flight order (drain plan first)',
                       simulation.run(
                           fleet, strategies.RulesOracle(),
                           upgrade_orders.drain_waves(args.wave_size),
                           args.seed)))
    return forced, orders


def report(args, emit, table):
    """Run the strategies on the fleet ``args`` sizes; ``emit`` the tables.

    One table per Nova PCI mode (``[filter_scheduler] pci_in_placement``
    on, then off).  With ``args.processes`` 2 or more (default 1) the
    two modes run side by side in two worker processes, each with its
    own Placement, while this one runs the rules in both orders; the
    tables are the same as in one process (only the times differ).
    ``table(title, headers, rows, rst)`` renders one table; ``args.plot``
    (a path or None) gets the per-wave plot.  Raises
    :class:`upgrade_simulation.InvariantError` when a claim fails.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    children_started = _children_cpu()
    processes = getattr(args, 'processes', 1)
    fleet = fleet_lib.build_fleet(args.hosts, args.servers, args.seed)
    with _executor(processes) as executor:
        pending = {mode: executor.submit(
            simulate_mode, args.hosts, args.servers, args.wave_size,
            args.seed, mode) for mode in real_filter.PCI_MODES}
        forced, orders = _order_runs(args, fleet)
        by_mode = {mode: done.result() for mode, done in pending.items()}
    oracle = orders[0][1]
    for pci_in_placement in real_filter.PCI_MODES:
        results = by_mode[pci_in_placement]
        simulation.with_bound(results + [oracle], forced)
        simulation.check_invariants(fleet, results, oracle=oracle,
                                    forced=forced)
        project = results[-1]
        headers, rows = strategy_rows(results)
        emit(table(_title(args, results, pci_in_placement), headers, rows,
                   args.rst))
        emit(_NOTES[pci_in_placement] % _figures(fleet, project))
    on, off = (by_mode[mode][-1] for mode in real_filter.PCI_MODES)
    simulation.check_modes(on, off)
    results = by_mode[True]
    emit('Both modes: the project\'s strategy made the same decision for '
         'every migration (checked: each host has one PF, whose VFs are '
         'one pool, so the compatibility does not depend on the mode); '
         'the other strategies do not depend on it.\n')
    off = dataclasses.replace(off, strategy='%s (%s)' % (
        off.strategy, real_filter.pci_mode(False)))
    headers, rows = wave_rows(results + [off])
    emit(table('Per wave: migrations failed / servers left behind',
               headers, rows, args.rst))
    simulation.with_bound([r for _, r in orders], forced)
    simulation.check_order(orders[0][1], orders[1][1])
    emit(table(
        'Upgrade order (the project\'s decisions)',
        ['order', 'waves', 'migrations', 'servers stranded',
         'downtime (servers)', 'forced (bound)', 'avoidable',
         'hosts not upgraded'],
        [(name, len(r.sequence), r.migrations, r.stranded, r.downtime,
          r.forced, r.avoidable, r.hosts_not_upgraded)
         for name, r in orders], args.rst))
    emit('Run with the rules as the strategy, which makes the project\'s '
         'decisions (checked above in host-name order). "Pre-flight '
         'order": each wave takes the first hosts of '
         '``nova_vfio_compat.planning.order.upgrade_order`` over the '
         'published traits, the traits each host will publish once '
         'upgraded and the capacity free at that point.%s\n' % (
             '' if args.hosts <= simulation.DRAIN_ORDER_MAX_HOSTS else
             ' The previous order (drain plan first) is only run up to '
             '%d hosts: its drain plans grow with the square of the '
             'fleet.' % simulation.DRAIN_ORDER_MAX_HOSTS))
    if args.plot:
        plot(results, args.plot)
    cpu = time.process_time() - cpu_started
    children = _children_cpu() - children_started
    emit('The whole command: %.0f s wall, %.0f s CPU (%s).\n' % (
        time.perf_counter() - started, cpu + children,
        'one process' if processes <= 1 else
        'the PCI modes\' two worker processes %.0f s, this one %.0f s' % (
            children, cpu)))
    return 0


def _children_cpu():
    """CPU time of this process's children that have been waited for."""
    times = os.times()
    return times.children_user + times.children_system
