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

"""``openstack vfio ...``: the read-only views as an openstack client plugin.

The plugin module (``openstack.cli.extension``) and its commands
(``openstack.vfio_compat.v1``), built the way osc-placement builds its
own: osc-lib's command classes, so the cloud comes from ``--os-cloud``,
clouds.yaml or the ``OS_*`` variables and the output from cliff's
formatters (``-f table|json|yaml|value|shell``, ``-c COLUMN``).

Thin: each command computes its answer with the function the
``nova-vfio-compat`` command of the same name prints
(:func:`documents.check_data`, :func:`matrix.build`,
:func:`maintenance.drain_data`, ...), and only lays it out as columns.
Needs the ``osc`` extra (python-openstackclient).
"""

from osc_lib.cli import format_columns
from osc_lib.command import command
from osc_lib import exceptions

from nova_vfio_compat.cmd import documents
from nova_vfio_compat.cmd import maintenance
from nova_vfio_compat.cmd import matrix
from nova_vfio_compat.host import files
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits
from nova_vfio_compat.planning import fleet as nvc_fleet
from nova_vfio_compat.reporter import client
from nova_vfio_compat import samples

# The plugin interface of python-openstackclient.
API_NAME = 'vfio_compat'
API_VERSION_OPTION = 'os_vfio_compat_api_version'
DEFAULT_API_VERSION = '1'
# A dict, not a tuple: python-openstackclient before 6.x calls .keys().
API_VERSIONS = {'1': None}

# What a document, a command line or the cloud can get wrong: one line
# (openstack's error), never a traceback.
_ERRORS = (records.InvalidDocument, traits.TraitLimitExceeded) + (
    maintenance.INPUT_ERRORS)


def make_client(instance):
    """The openstack client's openstacksdk connection.

    Every Placement answer it gets is checked as ``nova-vfio-compat``'s
    are.
    """
    return client.check_answers(instance.sdk_connection)


def build_option_parser(parser):
    """The plugin adds no global option."""
    return parser


def _load(path):
    try:
        return files.load_document(path)
    except records.InvalidDocument as e:
        raise exceptions.CommandError(str(e))


def _list(values):
    return format_columns.ListColumn(values)


def _dict(value):
    return None if value is None else format_columns.DictColumn(value)


class _Offline:
    # Documents only: no cloud, no credentials.
    auth_required = False


class CompatCheck(_Offline, command.ShowOne):
    """Can the stream SOURCE's device emits be received by a DEST device?

    As ``nova-vfio-compat check``: the rules on two capability documents,
    with what Nova can carry out (``nova_can_create``, ``nova``).
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('source', metavar='<source>',
                            help='capability document file (JSON or YAML)')
        parser.add_argument('dest', metavar='<dest>',
                            help='capability document file (JSON or YAML)')
        return parser

    def take_action(self, parsed_args):
        _, answer = documents.check_data(_load(parsed_args.source),
                                         _load(parsed_args.dest))
        columns = ('compatible', 'reasons', 'create', 'nova_can_create',
                   'nova')
        return columns, (answer['compatible'], _list(answer['reasons']),
                         _dict(answer['create']), answer['nova_can_create'],
                         answer['nova'])


class CompatTraits(_Offline, command.ShowOne):
    """The traits and resource class of a device described by DOC.

    As ``nova-vfio-compat traits``.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('doc', metavar='<doc>',
                            help='capability document file (JSON or YAML)')
        return parser

    def take_action(self, parsed_args):
        try:
            answer = documents.traits_data(_load(parsed_args.doc))
        except _ERRORS as e:
            raise exceptions.CommandError(str(e))
        return (('mdev_type', 'notes', 'resource_class', 'traits'),
                (answer['mdev_type'], _list(answer['notes']),
                 answer['resource_class'], _list(answer['traits'])))


MATRIX_COLUMNS = ('source', 'dest', 'compatible', 'nova_can_create',
                  'source_mdev_type', 'dest_mdev_type', 'reasons', 'create',
                  'nova', 'traits_agree')


class CompatMatrix(_Offline, command.Lister):
    """Every document against every other, one row per ordered pair.

    As ``nova-vfio-compat matrix --json``: the bundled sample documents
    when no DOC is given.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('docs', metavar='<doc>', nargs='*',
                            help='capability document files (JSON or '
                                 'YAML)')
        return parser

    def take_action(self, parsed_args):
        paths = parsed_args.docs or samples.paths()
        try:
            cells = matrix.build([_load(p) for p in paths])
        except _ERRORS as e:
            raise exceptions.CommandError(str(e))
        rows = []
        for cell in cells:
            a = cell.answer
            rows.append((a['source'], a['dest'], a['compatible'],
                         a['nova_can_create'], a['source_mdev_type'],
                         a['dest_mdev_type'], _list(a['reasons']),
                         _dict(a['create']), a['nova'], a['traits_agree']))
        return MATRIX_COLUMNS, rows


def _assumptions(parsed_args):
    try:
        return maintenance.load_assumptions(parsed_args.assume)
    except _ERRORS as e:
        raise exceptions.CommandError(str(e))


DRAIN_COLUMNS = ('name', 'consumer', 'status', 'devices', 'can_go',
                 'plan', 'reason', 'not_used')
# A server holding resources on devices that publish no stream: a row of
# drain and of upgrade plan (nova-vfio-compat's maintenance.unchecked_notes
# says it in a paragraph).
NOT_CHECKED = 'not checked'
UNCHECKED_REASON = ('its devices publish no stream (not reported by '
                    'nova-vfio-compat-reporter)')


class _Planning:
    """The cloud's answer to a planning command, and its notes."""

    def _answer(self, data, *args):
        """``data(connection, *args)``; its input errors as osc's."""
        try:
            return data(self.app.client_manager.vfio_compat, *args)
        except _ERRORS as e:
            raise exceptions.CommandError(str(e))

    def _say(self, notes):
        # On standard error, so that -f json|yaml|csv stays the rows.
        for note in notes:
            self.app.stderr.write(note + '\n')


class Drain(_Planning, command.Lister):
    """Pre-flight of emptying HOST by live migration, one row per server.

    As ``nova-vfio-compat drain``: read-only. ``status`` is ``placed``,
    ``stranded`` or ``not checked`` (its devices publish no stream).
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', metavar='<host>',
                            help='the compute node, as Placement names its '
                                 'root provider')
        # osc's own metavar style.
        maintenance.add_assume(parser, metavar='<host=document>')
        return parser

    def take_action(self, parsed_args):
        result = self._answer(maintenance.drain_data, parsed_args.host,
                              _assumptions(parsed_args))
        self._say(maintenance.drain_notes(result))
        return DRAIN_COLUMNS, drain_rows(result)


def drain_rows(result):
    """The rows of ``openstack vfio drain`` from :func:`drain_data`."""
    rows = []
    for server in result['servers']:
        plan = server['plan']
        if plan:
            status, where = 'placed', '%s (%s)' % (
                plan['host'], ', '.join(plan['providers']))
        else:
            status, where = 'stranded', None
        rows.append((
            server['name'], server['consumer'], status,
            _list([d['provider_name'] for d in server['devices']]),
            _list(sorted({d['host'] for d in server['destinations']})),
            where,
            server['stranded'] and server['stranded']['reason'],
            _list(['%s: %s' % (u['host'], u['reason'])
                   for u in server['not_used']])))
    for entry in result['unchecked']:
        rows.append((entry['name'], entry['consumer'], NOT_CHECKED,
                     _list(entry['providers']), _list([]), None,
                     UNCHECKED_REASON, _list([])))
    return rows


UPGRADE_COLUMNS = ('wave', 'upgrade', 'action', 'name', 'consumer',
                   'source', 'destination', 'reason')


class PlanUpgrade(_Planning, command.Lister):
    """A rolling upgrade, wave by wave: one row per server to act on.

    As ``nova-vfio-compat plan-upgrade``: read-only. ``action`` is
    ``move`` (live-migrate to ``destination`` before the wave's hosts are
    upgraded), ``downtime (forced)`` (no order of the upgrade keeps it
    running), ``downtime (avoidable)`` or ``not checked`` (its devices,
    named in ``reason``, publish no stream: a row with no wave); a wave
    with no server to act on is one row with no action.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        # osc's own metavar style.
        maintenance.add_assume(parser, metavar='<host=document>')
        parser.add_argument(
            '--target', action='append', default=[], metavar='<document>',
            help='upgrade every host with a device of the document\'s '
                 'device family to it (repeatable)')
        parser.add_argument(
            '--wave-size', type=int, default=1, metavar='<n>',
            help='hosts upgraded together in a wave (default: 1)')
        return parser

    def take_action(self, parsed_args):
        assumptions = _assumptions(parsed_args)
        targets = [_load(path) for path in parsed_args.target]
        result = self._answer(maintenance.upgrade_data, assumptions,
                              targets, parsed_args.wave_size)
        self._say(maintenance.upgrade_notes(result))
        return UPGRADE_COLUMNS, upgrade_rows(result)


def upgrade_rows(result):
    """The rows of ``openstack vfio upgrade plan`` from its data."""
    rows = []
    for wave in result['waves']:
        hosts = _list([h['host'] for h in wave['hosts']])
        for move in wave['moves']:
            rows.append((wave['wave'], hosts, 'move', move['name'],
                         move['consumer'], move['source']['host'],
                         '%s (%s)' % (move['destination']['host'], ', '.join(
                             move['destination']['providers'])), None))
        for down in wave['downtime']:
            rows.append((wave['wave'], hosts, 'downtime (%s)' % (
                'forced' if down['forced'] else 'avoidable'), down['name'],
                down['consumer'], down['host']['host'], None,
                down['reason']))
        if not (wave['moves'] or wave['downtime']):
            rows.append((wave['wave'], hosts, None, None, None, None, None,
                         None))
    for entry in result['unchecked']:
        rows.append((None, None, NOT_CHECKED, entry['name'],
                     entry['consumer'], None, None, '%s: %s' % (
                         ', '.join(entry['providers']), UNCHECKED_REASON)))
    return rows


FLEET_COLUMNS = ('family', 'host', 'emits', 'accepts', 'group',
                 'can_move_to', 'stream', 'mdev_type')


class Fleet(_Planning, command.Lister):
    """Which hosts can receive servers from which, per family and host.

    As ``nova-vfio-compat fleet``: ``group`` numbers the groups of hosts
    that can exchange servers both ways, per family.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        # osc's own metavar style.
        maintenance.add_assume(parser, metavar='<host=document>')
        return parser

    def take_action(self, parsed_args):
        result, _ = self._answer(maintenance.fleet_data,
                                 _assumptions(parsed_args))
        return FLEET_COLUMNS, fleet_rows(result)


def _versions(texts):
    return nvc_fleet.format_versions(
        tuple(int(n) for n in text.split('.')) for text in texts)


def fleet_rows(result):
    """The rows of ``openstack vfio fleet`` from :func:`fleet_data`."""
    rows = []
    for family in result['families']:
        group_of = {h: i + 1 for i, g in enumerate(family['groups'])
                    for h in g}
        for host, versions in sorted(family['hosts'].items()):
            rows.append((family['family'], host,
                         _versions(versions['emits']),
                         _versions(versions['accepts']),
                         group_of.get(host),
                         _list(family['can_move_to'].get(host, [])),
                         ' '.join(sorted({nvc_fleet.stream_id(e) for e in
                                          versions['emit_traits']})),
                         ' '.join(versions['mdev_types'])))
    return rows
