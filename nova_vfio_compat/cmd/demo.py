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

"""``demo``: the whole system on a laptop, printed readably."""

import json
import sys

from nova_vfio_compat.cmd import common
from nova_vfio_compat.cmd import maintenance
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits as nvc_traits


def register(subparsers):
    p = subparsers.add_parser(
        'demo',
        help='Run the whole system against a throw-away real Placement.',
        description='Start a real Placement on a temporary sqlite database, '
                    'publish simulated compute hosts with the reporter, and '
                    'choose live-migration targets for example servers the '
                    'way the scheduler filter does. Offline, a few seconds, '
                    'leaves nothing running. Needs openstack-placement and '
                    'nova (pip install nova-vfio-compat[demo]).')
    p.add_argument('--json', action='store_true',
                   help='print everything as one JSON object')
    p.set_defaults(func=do_demo)


def summarize(names):
    """Owned trait names folded to "E stream m4" / "A stream m0-4"."""
    spans = {}
    for name in names:
        parsed = nvc_traits.parse(name)
        if parsed:
            spans.setdefault(parsed[:2], []).append(parsed[2:])
    out = []
    for (kind, stream), blocks in sorted(spans.items()):
        # Adjacent blocks of the cover read as one range again.
        merged = []
        for low, high in sorted(blocks):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        out.append('%s %s m%s' % (
            'emits' if kind == 'E' else 'accepts', stream,
            ','.join('%d' % low if low == high else '%d-%d' % (low, high)
                     for low, high in merged)))
    return out


def _short(stream):
    parsed = nvc_traits.parse(stream)
    return '%s m%d' % (parsed.stream, parsed.low) if parsed else stream


def do_demo(conf):
    try:
        from nova_vfio_compat.demo import run
    except ImportError as e:
        return common.fail(common.CLI_PROG,
                           'the demo needs openstack-placement and nova '
                           '(pip install "nova-vfio-compat[demo]"): %s' % e)
    # As it goes: on standard output before the report, on standard error
    # when standard output is for the JSON.
    stream = sys.stderr if conf.command.json else sys.stdout

    def progress(text):
        print('... %s' % text, file=stream, flush=True)

    out = run.run(progress)
    if conf.command.json:
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    _print(out)
    return 0


def _print(out):
    hosts = sorted(out['hosts'])
    print()
    print('nova-vfio-compat demo: a real Placement (sqlite, stopped now), %d '
          'simulated compute hosts' % len(hosts))
    _print_devices(out, hosts)
    _print_published(out, hosts)
    _print_matrix(out['matrix'], hosts)
    _print_migrations(out, hosts)
    _print_maintenance(out['maintenance'])
    print()
    print('Finished in %.1f s; Placement stopped, nothing left running.'
          % out['seconds'])


def _print_devices(out, hosts):
    print()
    print('1. Devices (what discovery would find) and their documents')
    for host in hosts:
        for dev in out['hosts'][host]:
            what = ('mdev parent, type %s' % dev['mdev_type']
                    if dev['kind'] == 'mdev_type' else 'VFIO PCI function')
            print('   %-10s %s  %-28s %s' % (host, dev['address'], what,
                                             dev['document']))


def _print_published(out, hosts):
    print()
    print('2. Published by the reporter (owned traits, summarized; the '
          "providers' other traits are kept)")
    for host in hosts:
        sync = out['sync'][host]
        print('   %s: first sync %d write requests, second sync %d'
              % (host, sync['first_writes'], sync['second_writes']))
    for name, names in sorted(out['providers'].items()):
        owned = [n for n in names if nvc_traits.is_owned(n)]
        other = [n for n in names if not nvc_traits.is_owned(n)]
        print('   %s  (%d owned; kept: %s)'
              % (name, len(owned), ', '.join(other) or 'none'))
        for line in summarize(owned):
            print('       %s' % line)


def _print_matrix(matrix, hosts):
    print()
    print('3. Host by host: can the device on the left move to the host on '
          'top?')
    print('   %-25s %s' % ('', ' '.join('%-9s' % h[-9:] for h in hosts)))
    for row in matrix:
        cells = []
        for host in hosts:
            cell = row['targets'].get(host)
            cells.append('%-9s' % ('(here)' if cell is None else
                                   'yes' if cell['compatible'] else '-'))
        print('   %-25s %s' % ('%s %s' % (row['host'], row['device']),
                               ' '.join(cells)))
    print('   Why not:')
    for row in matrix:
        for host, cell in sorted(row['targets'].items()):
            if cell['compatible'] or cell['reasons'] == [
                    'no device of this kind']:
                continue
            for reason in cell['reasons']:
                print('     %s %s -> %s %s' % (row['host'], row['device'],
                                               host, reason))


def _print_migrations(out, hosts):
    print()
    print('4. Live migrations: the targets the filter chooses')
    why = {(row['host'], row['device']): row['targets']
           for row in out['matrix']}
    for mig in out['migrations']:
        streams = ', '.join(_short(s) for s in mig['streams']) or \
            'no VFIO device'
        calls = mig['placement_calls']
        print('   %s on %s (%s): %d Placement call%s for the request'
              % (mig['server'], mig['source'], streams, calls,
                 '' if calls == 1 else 's'))
        for host, result in sorted(mig['hosts'].items()):
            print('     %-10s %s' % (host, _verdict(result)))
            cell = why.get((mig['source'], mig['device']), {}).get(host)
            if not result['passes'] and cell:
                for reason in cell['reasons']:
                    print('     %-10s   (rules: %s)' % ('', reason))
        absent = sorted(set(hosts) - set(mig['hosts']) - {mig['source']})
        if absent:
            print('     %s: no allocation candidates (Placement left them '
                  'out before any filter ran)' % ', '.join(absent))


def _verdict(result):
    """The filter's verdict on one host of a migration, as one line."""
    if not result['passes']:
        return 'rejected: ' + '; '.join(result['reasons'])
    line = 'chosen'
    if 'claim' in result:
        line += ': claim %s' % result['claim']
        if result['kept'] != result['candidates']:
            line += ' (%d of %d candidates accept)' % (
                result['kept'], result['candidates'])
        if result.get('create'):
            attrs = records.mdev_attrs_text(
                pair for a in result['create']['mdev_attrs']
                for pair in a.items())
            line += '; create mdev type %s%s' % (
                result['create']['mdev_type'],
                (' with ' + attrs) if attrs else '')
    return line


def _print_maintenance(out):
    print()
    print('5. Before a maintenance window: "nova-vfio-compat drain %s" '
          '(%d Placement calls, none per host)'
          % (out['drain']['host'], out['drain']['placement_calls']))
    print()
    maintenance.print_drain(out['drain'])
    assumed = out['drain_assumed']['assumptions'][0]
    print()
    print('   What if %s\'s GPU driver were upgraded first? '
          '"drain %s --assume %s=%s"' % (
              assumed['host'], out['drain_assumed']['host'],
              assumed['host'], assumed['document']))
    print()
    maintenance.print_drain(out['drain_assumed'])
    print()
    print('6. The fleet map: "nova-vfio-compat fleet" (--dot draws it)')
    print()
    maintenance.print_fleet(out['fleet'])
    upgrade = out['upgrade']
    print('7. A rolling upgrade: "nova-vfio-compat plan-upgrade %s" '
          '(%d Placement calls)' % (' '.join(
              '--target %s' % d for d in sorted(
                  {a['document'] for a in upgrade['assumptions']})),
              upgrade['placement_calls']))
    print()
    maintenance.print_upgrade(upgrade)
