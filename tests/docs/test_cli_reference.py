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

"""doc/source/reference/cli.rst covers the real command line, all of it.

The commands and their options are read from the parsers the console
scripts build, so a new command or option without documentation (or a
documented one that no longer exists) fails here.
"""

import argparse
import os
import re

import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.cmd import reporter as reporter_cmd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CLI_RST = os.path.join(REPO, 'doc', 'source', 'reference', 'cli.rst')
PROG = 'nova-vfio-compat'
COMMON = 'Common options'


def sections():
    """{title: text} of the page's sections (titles underlined by ``=``)."""
    with open(CLI_RST) as f:
        lines = f.read().splitlines()
    out, title = {}, None
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ''
        if (line and re.fullmatch('=+', following)
                and len(following) >= len(line)
                and not re.fullmatch('=+', line)):
            title = line.strip()
            out[title] = []
        elif title is not None:
            out[title].append(line)
    return {t: '\n'.join(body) for t, body in out.items()}


def subcommands():
    """{name: argparse parser} of every ``nova-vfio-compat`` command."""
    parser = argparse.ArgumentParser(prog=PROG)
    subparsers = parser.add_subparsers()
    for module in cli.COMMAND_MODULES:
        module.register(subparsers)
    return dict(subparsers.choices)


def arguments(parser):
    """The option strings and upper-case positional names of a parser."""
    names = set()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            names.update(action.option_strings)
        else:
            names.add((action.metavar or action.dest).upper())
    return names


def documented(text, name):
    return re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(name), text)


def help_options(main, capsys):
    """The ``--options`` a console script's real --help lists."""
    with pytest.raises(SystemExit) as exit_info:
        main(['--help'])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out.split('\noptions:')[0]
    return set(re.findall(r'\[(-{1,2}[\w-]+)', usage))


@pytest.mark.parametrize('command', sorted(subcommands()))
def test_every_command_and_argument_is_documented(command):
    page = sections()
    title = '%s %s' % (PROG, command)
    assert title in page, 'cli.rst has no section "%s"' % title
    missing = sorted(a for a in arguments(subcommands()[command])
                     if not documented(page[title], a))
    assert not missing, 'section "%s" does not document %s' % (
        title, ', '.join(missing))


def test_no_section_documents_a_command_that_does_not_exist():
    commands = subcommands()
    for title in sections():
        if title.startswith(PROG + ' '):
            assert title[len(PROG) + 1:] in commands, title


def test_common_options_are_documented(capsys):
    options = help_options(cli.main, capsys)
    assert '--config-file' in options
    text = sections()[COMMON]
    missing = sorted(o for o in options if not documented(text, o))
    assert not missing, 'Common options do not document %s' % missing


def osc_commands():
    """``{"vfio compat check": parser, ...}`` from the installed plugin."""
    from importlib import metadata
    out = {}
    for ep in metadata.entry_points(group='openstack.vfio_compat.v1'):
        command = ep.load()(None, None)
        out[ep.name.replace('_', ' ')] = command.get_parser(ep.name)
    return out


def test_every_openstack_command_and_option_is_documented():
    from nova_vfio_compat.cmd import osc
    commands = osc_commands()
    assert set(commands) == {'vfio compat check', 'vfio compat traits',
                             'vfio compat matrix', 'vfio drain',
                             'vfio fleet', 'vfio upgrade plan'}, (
        'reinstall the package (pip install -e .) to register its entry '
        'points')
    text = sections()['openstack vfio commands']
    for name, parser in commands.items():
        assert documented(text, 'openstack %s' % name) or documented(
            text, name.split(' ', 1)[1]), name
        own = {s for a in parser._actions for s in a.option_strings
               if s in ('--assume', '--target', '--wave-size')}
        assert all(documented(text, o) for o in own)
    # matrix's columns are those of "nova-vfio-compat matrix --json".
    for columns in (osc.DRAIN_COLUMNS, osc.FLEET_COLUMNS,
                    osc.UPGRADE_COLUMNS):
        assert all(documented(text, c) for c in columns), columns


def test_reporter_options_are_documented(capsys):
    options = help_options(reporter_cmd.main, capsys)
    for opt in reporter_cmd.cli_opts:
        assert '--' + opt.name in options
    page = sections()
    text = page[COMMON] + page['nova-vfio-compat-reporter']
    missing = sorted(o for o in options if not documented(text, o))
    assert not missing, 'the reporter options %s are not documented' % (
        missing)
