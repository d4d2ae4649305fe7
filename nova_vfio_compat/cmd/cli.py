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

"""``nova-vfio-compat``: the operator's command line.

Each sub-command lives in a module of this package with a
``register(subparsers)`` function that adds its parser and sets ``func``;
this module only wires them into oslo.config and runs the chosen one.

Exit status: 0 success (for ``check``: compatible), 1 a negative answer
(``check``: not compatible), 2 invalid input, configuration or usage, 3 an
internal error (a bug: one line, the traceback with ``--debug``).
"""

import argparse
import sys

from oslo_config import cfg
from oslo_log import log as logging

from nova_vfio_compat.cmd import common
from nova_vfio_compat.cmd import demo
from nova_vfio_compat.cmd import devices
from nova_vfio_compat.cmd import documents
from nova_vfio_compat.cmd import maintenance
from nova_vfio_compat.cmd import matrix
from nova_vfio_compat.cmd import nova_config
from nova_vfio_compat.cmd import validate
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits

LOG = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INVALID = common.EXIT_INVALID
EXIT_INTERNAL = common.EXIT_INTERNAL

# One entry per sub-command module, in the order `--help` lists them.
COMMAND_MODULES = (
    demo,
    devices,
    documents,
    maintenance,
    matrix,
    nova_config,
    validate,
)


def _add_commands(subparsers):
    for module in COMMAND_MODULES:
        module.register(subparsers)


command_opt = cfg.SubCommandOpt(
    'command', title='Commands', handler=_add_commands,
    help='Run "nova-vfio-compat COMMAND --help" for the options of one.')


PROG = common.CLI_PROG


def command_parsers():
    """``{command name: argparse parser}`` of every sub-command."""
    subparsers = argparse.ArgumentParser(prog=PROG).add_subparsers()
    _add_commands(subparsers)
    return dict(subparsers.choices)


def _command_options():
    return {name: {s for action in parser._actions
                   for s in action.option_strings}
            for name, parser in command_parsers().items()}


def fail(message):
    return common.fail(PROG, message)


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    try:
        conf = common.configure(PROG, argv, [command_opt], quiet=True,
                                commands=_command_options())
    except common.ConfigurationError as e:
        return fail(e)
    return common.run(PROG, conf, conf.command.func,
                      expected=(records.InvalidDocument,
                                traits.TraitLimitExceeded))


if __name__ == '__main__':
    sys.exit(main())
