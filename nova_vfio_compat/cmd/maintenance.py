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

"""``drain``, ``fleet`` and ``plan-upgrade``: the maintenance pre-flight,
read-only.

Thin: parse the command line, load ``--assume`` documents, connect like
the reporter, read through
:mod:`nova_vfio_compat.planning_reads.placement_view` (GET requests
only) and print what the pure planning modules compute.

Exit status of ``drain``: 0 every server has a destination in the plan,
1 some are stranded, 2 bad input or Placement could not be read; of
``plan-upgrade`` the same, "stranded" being "needs downtime".
"""

import json
import os
import sys

from nova_vfio_compat.cmd import common
from nova_vfio_compat.host import files
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.placement import version as placement_version
from nova_vfio_compat.planning import assume as nvc_assume
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain as nvc_drain
from nova_vfio_compat.planning import fleet as nvc_fleet
from nova_vfio_compat.planning import report
from nova_vfio_compat.planning import upgrade as nvc_upgrade
from nova_vfio_compat.planning_reads import placement_view
from nova_vfio_compat.planning_reads import server_names
from nova_vfio_compat.reporter import client

EXIT_OK = 0
EXIT_STRANDED = 1
EXIT_INVALID = common.EXIT_INVALID


def add_assume(parser, metavar='HOST=DOCUMENT'):
    """The ``--assume`` option, here and in the openstack commands."""
    parser.add_argument(
        '--assume', action='append', default=[], metavar=metavar,
        help='evaluate as if the devices of HOST of DOCUMENT\'s device '
             'family had this capability document (repeatable; nothing '
             'is written)')


def _add_cloud(parser):
    parser.add_argument(
        '--os-cloud', metavar='CLOUD', default=os.environ.get('OS_CLOUD'),
        help='the clouds.yaml cloud to read Placement with (default: '
             '$OS_CLOUD; without either, [reporter] cloud or the '
             '[placement] options of the configuration files)')


def register(subparsers):
    p = subparsers.add_parser(
        'drain',
        help='Pre-flight of emptying a host by live migration.',
        description='For every server holding device resources on HOST: '
                    'its streams, the hosts that accept them and have free '
                    'capacity now, and a plan assigning servers to '
                    'destinations without overcommitting any device. '
                    'Read-only. Exit status 0 if every server has a '
                    'destination, 1 if some are stranded, 2 on bad input.')
    p.add_argument('host', metavar='HOST',
                   help='the compute node, as Placement names its root '
                        'provider')
    p.add_argument('--json', action='store_true',
                   help='print the servers, destinations and plan as JSON')
    add_assume(p)
    _add_cloud(p)
    p.set_defaults(func=do_drain)

    p = subparsers.add_parser(
        'plan-upgrade',
        help='Plan a rolling upgrade: waves, destinations, downtime.',
        description='Play a rolling upgrade forward on what Placement has '
                    'now: the waves of hosts in the order to upgrade them, '
                    'each server\'s live-migration destination before its '
                    'host is upgraded, the servers that need downtime (a '
                    'stop or a cold migration) and why, and the downtime '
                    'no order avoids (the bound). What each host runs '
                    'after the upgrade is given by --assume (one host) or '
                    '--target (every host with a device of the '
                    'document\'s family). Read-only. Exit status 0 if no '
                    'server needs downtime, 1 if some do, 2 on bad input.')
    p.add_argument('--json', action='store_true',
                   help='print the waves, moves and downtime as JSON')
    add_assume(p)
    p.add_argument(
        '--target', action='append', default=[], metavar='DOCUMENT',
        help='upgrade every host with a device of DOCUMENT\'s device '
             'family to DOCUMENT (repeatable)')
    p.add_argument('--wave-size', type=int, default=1, metavar='N',
                   help='hosts upgraded together in a wave (default: 1)')
    _add_cloud(p)
    p.set_defaults(func=do_plan_upgrade)

    p = subparsers.add_parser(
        'fleet',
        help='Which hosts can receive servers from which, per device '
             'family.',
        description='Per device family: which hosts emit which stream '
                    'versions, which they accept, the "can move to" '
                    'relation between hosts and the groups of hosts that '
                    'can exchange servers. Read-only.')
    out = p.add_mutually_exclusive_group()
    out.add_argument('--json', action='store_true',
                     help='print the families as JSON')
    out.add_argument('--dot', action='store_true',
                     help='print a Graphviz digraph (dot -Tsvg makes a '
                          'picture of it)')
    add_assume(p)
    _add_cloud(p)
    p.set_defaults(func=do_fleet)


class BadOption(ValueError):
    """A command-line value that cannot be used; the message names it."""


def _error(message):
    return common.fail(common.CLI_PROG, message)


# Placement's limit on a resource provider name.
MAX_HOST_NAME = 200


def check_host(host, what='HOST'):
    """``host`` if it can name a compute node's root provider.

    An empty name would match whatever Placement lists first (the
    ``name`` filter of an empty value is no filter); blanks around it,
    control characters or more than Placement's 200 characters cannot be
    in a provider name either.

    :raises BadOption: naming the argument.
    """
    if not isinstance(host, str) or not host.strip():
        raise BadOption('%s %r: a compute node name is needed'
                        % (what, host))
    if (host != host.strip() or len(host) > MAX_HOST_NAME or
            any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in host)):
        raise BadOption('%s %r: not a compute node name (no blanks around '
                        'it, no control characters, at most %d characters)'
                        % (what, host, MAX_HOST_NAME))
    return host


def load_assumptions(values, max_bytes=files.DEFAULT_MAX_BYTES):
    """``--assume HOST=DOCUMENT`` values as :class:`assume.Assumption` s.

    :raises BadOption: naming the option value.
    :raises records.InvalidDocument: naming the document.
    """
    out = []
    for value in values:
        host, sep, path = value.partition('=')
        if not (sep and host and path):
            raise BadOption('--assume %s: expected HOST=DOCUMENT' % value)
        check_host(host, '--assume %s: HOST' % value)
        out.append(nvc_assume.Assumption(
            host, files.load_document(path, max_bytes)))
    return out


def _view(conn):
    get = placement_view.sdk_get(conn)
    placement_version.check(get('/', None))
    return placement_view.PlacementView(get)


# What a command line, a document or the cloud can get wrong; anything
# else is a bug, for the top-level handler.  The openstack client's
# commands catch the same.
INPUT_ERRORS = (BadOption, records.InvalidDocument,
                nvc_assume.AssumptionError, placement_view.UnknownHost,
                placement_reader.PlacementUnavailable,
                client.ConfigurationError, placement_version.PlacementTooOld)


def drain_data(conn, host, assumptions=(),
               max_traits=traits.DEFAULT_MAX_TRAITS):
    """The drain pre-flight of ``host`` as :func:`report.drain` data.

    What ``drain --json`` prints and ``openstack vfio drain`` shows.

    :raises: one of :data:`INPUT_ERRORS` for a host, an assumption or a
        Placement that cannot be used.
    """
    check_host(host)
    inputs = placement_view.read_drain(_view(conn), host, assumptions,
                                       max_traits)
    hosts = server_names.service_hosts(conn) if (
        inputs.servers or inputs.unchecked) else {}
    # Nova lists a host's servers by its service host, not the node name.
    names = server_names.lookup(
        conn, hosts.get(host, host), [s.consumer for s in inputs.servers] +
        list(inputs.unchecked))
    servers = [nvc_drain.Server(s.consumer, s.devices,
                                names.get(s.consumer))
               for s in inputs.servers]
    plan, stranded = nvc_drain.plan_and_explain(
        servers, inputs.options, inputs.free, inputs.acceptors, inputs.names)
    return report.drain(inputs, servers, plan, stranded, names,
                        assumptions, hosts)


def fleet_data(conn, assumptions=(), max_traits=traits.DEFAULT_MAX_TRAITS):
    """The fleet map as :func:`report.fleet` data, and its families.

    :returns: ``(data, [fleet.Family])``.
    :raises: one of :data:`INPUT_ERRORS`.
    """
    providers = placement_view.read_fleet(_view(conn), assumptions,
                                          max_traits)
    families = nvc_fleet.build(providers)
    return report.fleet(families, assumptions), families


def upgrade_data(conn, assumptions=(), targets=(), wave_size=1,
                 max_traits=traits.DEFAULT_MAX_TRAITS):
    """The rolling upgrade plan as :func:`report.upgrade` data.

    What ``plan-upgrade --json`` prints: :func:`plan_upgrade` over the
    connection, with the server names and service hosts Nova gives.

    :raises: one of :data:`INPUT_ERRORS`.
    """
    def lookup(inputs):
        hosts = server_names.service_hosts(conn) if (
            inputs.servers or inputs.unchecked) else {}
        by_host = {}
        for s in inputs.servers:
            by_host.setdefault(inputs.providers[s.devices[0].provider].host,
                               []).append(s.consumer)
        names = {}
        for host, consumers in sorted(by_host.items()):
            names.update(server_names.lookup(conn, hosts.get(host, host),
                                             consumers))
        return names, hosts
    return plan_upgrade(_view(conn), assumptions, targets, wave_size,
                        max_traits, lookup)


def plan_upgrade(view, assumptions=(), targets=(), wave_size=1,
                 max_traits=traits.DEFAULT_MAX_TRAITS,
                 lookup=lambda inputs: ({}, {})):
    """Read Placement through ``view`` and plan the upgrade.

    :param assumptions: :class:`assume.Assumption` s, one host each.
    :param targets: documents for every host of their family (an
        assumption for the same host and family wins).
    :param lookup: ``lookup(inputs)`` returns ``({consumer: server name},
        {compute node: service host})``.
    :returns: :func:`report.upgrade` data.
    :raises: one of :data:`INPUT_ERRORS`.
    """
    if wave_size < 1:
        raise BadOption('--wave-size %r: at least 1' % wave_size)
    if not (assumptions or targets):
        raise BadOption('nothing to upgrade: give --assume HOST=DOCUMENT '
                        'or --target DOCUMENT')
    assumptions = list(assumptions)
    if targets:
        named = {(a.host, a.family) for a in assumptions}
        assumptions.extend(
            a for a in placement_view.target_hosts(view, targets)
            if (a.host, a.family) not in named)
    inputs = placement_view.read_upgrade(view, assumptions, max_traits)
    names, hosts = lookup(inputs)
    servers = [nvc_drain.Server(s.consumer, s.devices,
                                names.get(s.consumer))
               for s in inputs.servers]
    result = nvc_upgrade.plan(
        inputs.providers, inputs.assumed, inputs.upgrading, servers,
        inputs.free, wave_size, inputs.disabled, inputs.discover,
        inputs.names, inputs.outside)
    return report.upgrade(result, inputs, names, assumptions, hosts,
                          wave_size)


def do_plan_upgrade(conf):
    try:
        assumptions = load_assumptions(conf.command.assume)
        targets = [files.load_document(path)
                   for path in conf.command.target]
        conn = client.connect(conf, cloud=conf.command.os_cloud)
        result = upgrade_data(conn, assumptions, targets,
                              conf.command.wave_size,
                              conf.traits.max_traits_per_provider)
    except INPUT_ERRORS as e:
        return _error(e)
    _show(conf, result, print_upgrade)
    return EXIT_STRANDED if result['downtime']['planned'] else EXIT_OK


def _show(conf, result, printer):
    """``--json``: the answer as JSON; otherwise ``printer(result)``."""
    if conf.command.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        printer(result)


def _label(entry):
    return entry['name'] or entry['consumer']


def print_upgrade(result):
    """Print :func:`report.upgrade`'s data for people."""
    print('Rolling upgrade plan (read-only): %d host%s, %d server%s with '
          'device resources, waves of %d' % (
              len(result['hosts']), '' if len(result['hosts']) == 1
              else 's', result['servers'],
              '' if result['servers'] == 1 else 's', result['wave_size']))
    for a in result['assumptions']:
        print('Assuming %s has %s (family %s)'
              % (a['host'], a['document'], a['family']))
    for wave in result['waves']:
        print()
        print('Wave %d: %s' % (wave['wave'], ', '.join(
            _host(h) for h in wave['hosts'])))
        for move in wave['moves']:
            print('  move      %s: %s -> %s (%s)' % (
                _label(move), _host(move['source']),
                _host(move['destination']),
                ', '.join(move['destination']['providers'])))
        for down in wave['downtime']:
            print('  DOWNTIME  %s on %s (%s): %s' % (
                _label(down), _host(down['host']),
                'forced' if down['forced'] else
                'avoidable: %s' % down['why'], down['reason']))
        if not (wave['moves'] or wave['downtime']):
            print('  (no server to move)')
    for note in unchecked_notes(result) + upgrade_notes(result):
        print()
        print(note)


def upgrade_notes(result):
    """What a plan's waves do not say, as paragraphs (see drain_notes)."""
    down = result['downtime']
    return _notes(result) + [
        'Downtime: %d server%s planned; %d forced whatever the order '
        '(the bound); %d avoidable.' % (
            down['planned'], '' if down['planned'] == 1 else 's',
            down['bound'], down['avoidable'])]


def do_drain(conf):
    try:
        check_host(conf.command.host)
        assumptions = load_assumptions(conf.command.assume)
        conn = client.connect(conf, cloud=conf.command.os_cloud)
        result = drain_data(conn, conf.command.host, assumptions,
                            conf.traits.max_traits_per_provider)
    except INPUT_ERRORS as e:
        return _error(e)
    _show(conf, result, print_drain)
    return EXIT_STRANDED if result['stranded'] else EXIT_OK


def print_drain(result):
    """Print :func:`report.drain`'s data for people."""
    print('Drain pre-flight of %s (read-only): %d server%s with device '
          'resources' % (_host(result), len(result['servers']),
                         '' if len(result['servers']) == 1 else 's'))
    for a in result['assumptions']:
        print('Assuming %s has %s (family %s)'
              % (a['host'], a['document'], a['family']))
    for server in result['servers']:
        print()
        print('%s%s' % (server['name'] or server['consumer'],
                        ' (%s)' % server['consumer'] if server['name']
                        else ''))
        for device in server['devices']:
            print('  device   %s: %s; emits %s' % (
                device['provider_name'], ', '.join(
                    '%d %s' % (n, rc) for rc, n in
                    sorted(device['resources'].items())),
                ', '.join(compatibility.short(s)
                          for s in device['streams'])))
        hosts = sorted({_host(d) for d in server['destinations']})
        print('  can go   %s%s' % (', '.join(hosts) or
                                   'nowhere with free capacity now',
                                   ' (of the first %d allocation candidates '
                                   'only)' % result['candidate_limit']
                                   if server['truncated'] else ''))
        if server['plan']:
            print('  plan     -> %s (%s)' % (_host(server['plan']), ', '.join(
                server['plan']['providers'])))
        else:
            print('  plan     STRANDED: %s' % server['stranded']['reason'])
        for unused in server['not_used']:
            print('  not to   %s: %s' % (_host(unused), unused['reason']))
    for note in unchecked_notes(result) + drain_notes(result):
        print()
        print(note)
    print()
    if not result['servers']:
        print('No server holds device resources on %s.' % _host(result))
    elif result['stranded']:
        print('%d of %d servers placed, %d stranded.' % (
            result['placed'], len(result['servers']), result['stranded']))
    else:
        print('Every server has a destination (%d).' % result['placed'])


def drain_notes(result):
    """What a drain answer does not say in its rows, as paragraphs.

    The disabled hosts, what is not checked, and how hosts are named;
    printed by ``drain`` after the servers and by ``openstack vfio
    drain`` on standard error (its rows are the formatter's).
    """
    notes = _notes(result)
    if result['servers'] and result['host_names'] != 'service':
        notes[-1] += ('\nHosts are named by compute node: Nova\'s API '
                      'did not give their service hosts, which "openstack '
                      'server migrate --live-migration --host" takes.')
    return notes


def unchecked_notes(result):
    """A paragraph per server holding resources on devices with no stream.

    Of a drain or an upgrade plan; ``openstack vfio drain`` shows them as
    rows instead.
    """
    return ['Not checked: %s holds resources on %s, which publish no '
            'stream (not reported by nova-vfio-compat-reporter)' % (
                _label(entry), ', '.join(entry['providers']))
            for entry in result['unchecked']]


def _notes(result):
    """The disabled hosts and what is not checked, of a planning answer."""
    notes = []
    if result['disabled']:
        notes.append('Disabled, not destinations: %s' % ', '.join(
            _host(h) for h in result['disabled']))
    notes.append('Not checked (Nova\'s scheduler and the live migration '
                 'still decide): %s.' % '; '.join(result['not_checked']))
    return notes


def _host(entry):
    """A host as :func:`report.drain` names it, for people."""
    if entry['host'] == entry['node']:
        return entry['host']
    return '%s (node %s)' % (entry['host'], entry['node'])


def do_fleet(conf):
    try:
        assumptions = load_assumptions(conf.command.assume)
        conn = client.connect(conf, cloud=conf.command.os_cloud)
        result, families = fleet_data(conn, assumptions,
                                      conf.traits.max_traits_per_provider)
    except INPUT_ERRORS as e:
        return _error(e)
    if conf.command.dot:
        sys.stdout.write(nvc_fleet.to_dot(families))
    else:
        _show(conf, result, print_fleet)
    return EXIT_OK


def _versions(texts):
    return nvc_fleet.format_versions(
        tuple(int(n) for n in text.split('.')) for text in texts) or '-'


def _ambiguous(family):
    return any(len(names) > 1 for names in family['streams'].values())


def _stream_ids(emits):
    return ' '.join(sorted({nvc_fleet.stream_id(e) for e in emits}))


def print_fleet(result):
    """Print :func:`report.fleet`'s data for people."""
    for a in result['assumptions']:
        print('Assuming %s has %s (family %s)'
              % (a['host'], a['document'], a['family']))
    if not result['families']:
        print('No device publishes a stream in Placement.')
    for family in result['families']:
        print('Family %s' % family['family'])
        hosts = family['hosts']
        # Streams of one version that differ (a vGPU's mdev type, other
        # subsystem IDs): each host's stream ids tell them apart.
        ids = _ambiguous(family)
        # A vGPU stream's mdev type, which its own trait names.
        typed = any(v.get('mdev_types') for v in hosts.values())
        width = max(len(h) for h in hosts)
        accepts = 'accepts (of the versions emitted)'
        print('  %-*s  %-12s %s%s%s' % (
            width, 'host', 'emits',
            '%-*s' % (len(accepts), accepts) if typed else accepts,
            '  mdev type' if typed else '', '  stream' if ids else ''))
        for host, versions in sorted(hosts.items()):
            accepted = _versions(versions['accepts'])
            print('  %-*s  %-12s %s%s%s' % (
                width, host, _versions(versions['emits']),
                '%-*s' % (len(accepts), accepted) if typed else accepted,
                '  %s' % (', '.join(versions['mdev_types']) or '-')
                if typed else '',
                '  %s' % _stream_ids(versions.get('emit_traits', ()))
                if ids else ''))
        if ids:
            print('  (several streams share a version: stream is the start '
                  'of the emit trait\'s hash, which covers the mdev type '
                  'of a vGPU stream and the subsystem IDs; '
                  '"nova-vfio-compat traits DOC" shows a document\'s)')
        print('  Groups (servers can move both ways within a group):')
        for i, group in enumerate(family['groups'], 1):
            streams = _stream_ids(e for h in group for e in hosts.get(
                h, {}).get('emit_traits', ()))
            types = family['group_mdev_types'][i - 1]
            print('    %d: %s%s%s' % (i, ', '.join(group), (
                '  [mdev type %s]' % ', '.join(types)) if types else '', (
                '  [stream %s]' % streams) if ids and streams else ''))
        if family['group_edges']:
            print('  One way only, from group to group:')
            for a, b in family['group_edges']:
                print('    %d -> %d' % (a + 1, b + 1))
        print('  Can move to:')
        for host, dests in sorted(family['can_move_to'].items()):
            print('    %-*s -> %s' % (width, host,
                                      ', '.join(dests) or 'nowhere'))
        print()
