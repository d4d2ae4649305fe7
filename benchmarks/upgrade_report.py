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

from benchmarks import upgrade_fleet as fleet_lib
from benchmarks import upgrade_orders
from benchmarks import upgrade_simulation as simulation
from benchmarks import upgrade_strategies as strategies


def plot(results, path):
    """Failed migrations per wave, one line per strategy, as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3.5), dpi=100)
    for r in results:
        axes.plot(range(1, len(r.failed_per_wave) + 1), r.failed_per_wave,
                  marker='o', markersize=3, label=r.strategy)
    axes.set_xlabel('wave')
    axes.set_ylabel('migrations failed at the destination')
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    # No timestamp in the file, so a regenerated image only changes when
    # the figures do.
    figure.savefig(path, metadata={'Software': None})
    pyplot.close(figure)


def report(args, emit, table):
    """Run the strategies on the fleet ``args`` sizes; ``emit`` the tables.

    ``table(title, headers, rows, rst)`` renders one table.  Raises
    :class:`upgrade_simulation.InvariantError` when a claim fails.
    """
    fleet, results = simulation.simulate(args.hosts, args.servers,
                                         args.wave_size, args.seed)
    naive_waves = upgrade_orders.naive_waves(fleet, args.wave_size)
    oracle = simulation.run(fleet, strategies.RulesOracle(), naive_waves,
                            args.seed)
    simulation.check_invariants(fleet, results, oracle=oracle)
    project = results[-1]
    emit(table(
        'Rolling driver upgrade: %d hosts, %d servers, %d waves' % (
            args.hosts, args.servers, len(results[0].sequence)),
        ['strategy', 'migrations', 'failed at the destination',
         'of which vGPU / VF', 'possible but refused', 'servers stranded',
         'hosts not upgraded', 'Placement calls', 'decision time (s)',
         'wall time (s)'],
        [(r.strategy, r.migrations, r.failed, '%d / %d' % (
            r.failed_by_device[fleet_lib.VGPU],
            r.failed_by_device[fleet_lib.VF]), r.needlessly_refused,
          r.stranded, r.hosts_not_upgraded, r.placement_calls,
          '%.1f' % r.seconds, '%.1f' % r.wall_seconds) for r in results],
        args.rst))
    emit('Families: %s (GPUs), %s (VFs). Servers: %s. "Possible but '
         'refused": servers left behind although a destination the rules '
         'accept had the free devices. Placement calls: the requests the '
         'filter\'s reads made (%d asked, the rest answered by the cache '
         'of the wave); the harness also made %d writes (publishing the '
         'fleet, the moves of each wave in one request, the upgrades). '
         'Wall time: the whole run of the strategy, publishing included. '
         'Checked: every strategy started from the same fleet and waves; '
         'the project\'s sent no migration the rules refuse, refused '
         'none that was possible, and chose the destination the rules '
         'choose for every migration.\n' % (
             ', '.join(f.name for f in fleet_lib.GPU_FAMILIES),
             ', '.join(f.name for f in fleet_lib.NIC_FAMILIES),
             ', '.join('%d hold %s' % (n, kind) for kind, n in sorted(
                 fleet_lib.kinds(fleet).items())),
             project.placement_reads_asked, project.placement_writes))
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
    simulation.check_order(orders[0][1], orders[1][1])
    emit(table(
        'Upgrade order (the project\'s decisions)',
        ['order', 'waves', 'migrations', 'servers stranded',
         'hosts not upgraded'],
        [(name, len(r.sequence), r.migrations, r.stranded,
          r.hosts_not_upgraded) for name, r in orders], args.rst))
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
    return 0
