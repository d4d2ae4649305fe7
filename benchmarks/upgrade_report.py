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

import time

from benchmarks import upgrade_fleet as fleet_lib
from benchmarks import upgrade_orders
from benchmarks import upgrade_simulation as simulation
from benchmarks import upgrade_strategies as strategies


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


def report(args, emit, table):
    """Run the strategies on the fleet ``args`` sizes; ``emit`` the tables.

    ``table(title, headers, rows, rst)`` renders one table; ``args.plot``
    (a path or None) gets the per-wave plot.  Raises
    :class:`upgrade_simulation.InvariantError` when a claim fails.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    fleet, results = simulation.simulate(args.hosts, args.servers,
                                         args.wave_size, args.seed)
    forced = upgrade_orders.forced_downtime(fleet)
    naive_waves = upgrade_orders.naive_waves(fleet, args.wave_size)
    oracle = simulation.run(fleet, strategies.RulesOracle(), naive_waves,
                            args.seed)
    simulation.with_bound(results + [oracle], forced)
    simulation.check_invariants(fleet, results, oracle=oracle,
                                forced=forced)
    project = results[-1]
    headers, rows = strategy_rows(results)
    emit(table(
        'Rolling driver upgrade: %d hosts, %d servers, %d waves' % (
            args.hosts, args.servers, len(results[0].sequence)),
        headers, rows, args.rst))
    emit('Families: %s (GPUs), %s (VFs). Servers: %s. "Possible but '
         'refused": servers left behind although a destination the rules '
         'accept had the free devices. "Downtime": the servers on a host '
         'left not upgraded at the end (each needs a cold migration or a '
         'stop for the upgrade to complete); "forced": the lower bound, '
         'the servers no order keeps running '
         '(``nova_vfio_compat.planning.forced``, the same for every '
         'strategy); "avoidable": downtime - forced. Placement requests: '
         'those the filter\'s reads made (%d asked, the rest answered by '
         'the cache of the wave or the wave\'s batch of allocations); '
         'the harness also made %d writes (publishing, the moves of each '
         'wave in one request, the upgrades). The filter ran %d times, '
         'once per distinct set of source devices in a wave. Times: the '
         'whole run of the strategy, publishing included. Checked: every '
         'strategy started from the same fleet and waves and kept no '
         'forced server running; the project\'s sent no migration the '
         'rules refuse, refused none that was possible, and chose the '
         'destination the rules choose for every migration.\n' % (
             ', '.join(f.name for f in fleet_lib.GPU_FAMILIES),
             ', '.join(f.name for f in fleet_lib.NIC_FAMILIES),
             ', '.join('%d hold %s' % (n, kind) for kind, n in sorted(
                 fleet_lib.kinds(fleet).items())),
             project.placement_reads_asked, project.placement_writes,
             project.filter_runs))
    headers, rows = wave_rows(results)
    emit(table('Per wave: migrations failed / servers left behind',
               headers, rows, args.rst))
    orders = [('host name order', oracle),
              ('pre-flight order (planning.order)', simulation.run(
                  fleet, strategies.RulesOracle(),
                  upgrade_orders.preflight_waves(args.wave_size),
                  args.seed))]
    if args.hosts <= simulation.DRAIN_ORDER_MAX_HOSTS:
        orders.append(('previous pre-flight order (drain plan first)',
                       simulation.run(
                           fleet, strategies.RulesOracle(),
                           upgrade_orders.drain_waves(args.wave_size),
                           args.seed)))
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
    emit('The whole command: %.0f s wall, %.0f s CPU (this process).\n'
         % (time.perf_counter() - started,
            time.process_time() - cpu_started))
    return 0
