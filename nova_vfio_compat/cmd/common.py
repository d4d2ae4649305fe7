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

"""What every console script of the project does before its own work."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from nova_vfio_compat import conf as nvc_conf

EXIT_INVALID = 2


def fail(prog, message):
    """Print a one-line error (never a traceback); return exit status 2."""
    print('%s: error: %s' % (prog, message), file=sys.stderr)
    return EXIT_INVALID


def configure(prog, argv, cli_opts):
    """A parsed ConfigOpts of its own, with logging set up.

    A ConfigOpts per run, so that ``main()`` can be called again (tests
    do) and never sees options parsed for another program.  Logs go to
    stderr unless a log file is configured, so that JSON or a plan on
    stdout stays parseable.

    :raises cfg.Error: for a bad command line or configuration file.
    """
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf.register_cli_opts(cli_opts)
    logging.register_options(conf)
    logging.set_defaults(default_log_levels=logging.get_default_log_levels())
    conf.set_default('use_stderr', True)
    conf(argv, project='nova-vfio-compat', prog=prog)
    logging.setup(conf, prog)
    return conf
