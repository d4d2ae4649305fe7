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

"""What every console script of the project does around its own work.

:func:`configure` parses the command line and the configuration files and
checks every configured value once; :func:`run` runs the command so that
it never ends in a traceback: an expected error is one line and exit
status 2, an unexpected one (a bug) one line and exit status 3, and a
reader that closes standard output early (``| head -1``) ends the output
quietly.
"""

import argparse
import copy
import os
import sys
import traceback

from oslo_config import cfg
from oslo_log import log as logging

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.conf import validation
from nova_vfio_compat.host import files

# The program name of the CLI, which its sub-command modules print
# errors under.
CLI_PROG = 'nova-vfio-compat'
EXIT_INVALID = 2
# 1 is a negative answer ("not compatible"); a crash must never look like
# one.
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def fail(prog, message):
    """Print a one-line error (never a traceback); return exit status 2."""
    print('%s: error: %s' % (prog, message), file=sys.stderr)
    return EXIT_INVALID


class ConfigurationError(ValueError):
    """The command line or the configuration cannot be used."""


verbose_opt = cfg.BoolOpt(
    'verbose', short='v', default=False,
    help='Log at INFO level. Without it (or --debug) only warnings and '
         'errors are logged, so that what the command prints stands alone.')


def _say_the_quiet_default(conf):
    """Make --debug's help say the default level this command has.

    oslo.log's help says "instead of the default INFO level"; a quiet
    command's default is WARNING.  The option is replaced by a copy (the
    original object is oslo.log's, shared by every program).
    """
    debug = conf._opts['debug']['opt']
    quiet_debug = copy.copy(debug)
    quiet_debug.help = ('Log at DEBUG level (and print the traceback of '
                        'an internal error). Without it or --verbose only '
                        'warnings and errors are logged.')
    conf.unregister_opt(debug)
    conf.register_cli_opt(quiet_debug)


# oslo.config's own options, which it adds when it parses the command line.
_CONFIG_FILE_FLAGS = {'--config-file': True, '--config-dir': True}


def _global_flags(conf):
    """``{option string: takes a value}`` of the options before a command.

    oslo.config has no public list of its command-line options;
    tests/unit/test_cli_options.py checks every one ``--help`` shows.
    """
    flags = dict(_CONFIG_FILE_FLAGS)
    for opt, group in conf._all_cli_opts():
        if group is not None or isinstance(opt, cfg.SubCommandOpt):
            continue
        takes_value = not isinstance(opt, cfg.BoolOpt)
        names = [opt.name] + [d.name for d in opt.deprecated_opts
                              if d.name and d.group in (None, 'DEFAULT')]
        for name in names:
            flags['--' + name] = takes_value
            if not takes_value:
                flags['--no' + name] = False
        if opt.short:
            flags['-' + opt.short] = takes_value
    return flags


def options_first(argv, flags, commands):
    """``argv`` with the global options after a command moved before it.

    ``nova-vfio-compat fleet --config-file X`` means what
    ``nova-vfio-compat --config-file X fleet`` does.  An option the
    command itself has (``commands[name]``, a set of option strings)
    stays where it is, as does everything after ``--``.

    :param flags: ``{option string: takes a value}`` of the global options.
    :param commands: ``{command name: its own option strings}``.
    """
    argv = list(argv)
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == '--':
            return argv
        if token in commands:
            break
        if token.split('=', 1)[0] in flags and '=' not in token and (
                flags[token]):
            i += 1
        i += 1
    else:
        return argv
    before, command, rest = argv[:i], argv[i], argv[i + 1:]
    own = commands[command]
    moved, kept = [], []
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == '--':
            kept.extend(rest[j:])
            break
        name = token.split('=', 1)[0]
        if name in flags and name not in own:
            moved.append(token)
            if flags[name] and '=' not in token and j + 1 < len(rest):
                moved.append(rest[j + 1])
                j += 1
        else:
            kept.append(token)
        j += 1
    return before + moved + [command] + kept


def configure(prog, argv, cli_opts, quiet=False, commands=None):
    """A parsed and checked ConfigOpts of its own, with logging set up.

    A ConfigOpts per run, so that ``main()`` can be called again (tests
    do) and never sees options parsed for another program.  Logs go to
    stderr unless a log file is configured, so that JSON or a plan on
    stdout stays parseable.

    :param commands: ``{command name: its own option strings}`` of a
        program with sub-commands: the global options are then accepted
        after the command too (:func:`options_first`).
    :param quiet: a command whose output is for a person (the operator's
        command line, not a service): add ``--verbose`` and log only
        warnings and errors unless ``--verbose`` or ``--debug`` is given,
        as OpenStack's command line clients do.

    :raises ConfigurationError: for a bad command line, configuration file
        or configured value (naming the option), or logging that cannot
        be set up.
    """
    conf = parsed(prog, argv, cli_opts, quiet, commands)
    try:
        logging.setup(conf, prog)
        # A logging configuration file of the operator's says itself
        # what to show.
        if quiet and not (conf.verbose or conf.debug
                          or conf.log_config_append):
            _log_warnings_only()
    except (OSError, ValueError) as e:
        # A log file that cannot be opened, a broken logging config.
        raise ConfigurationError('cannot set up logging: %s' % e)
    return conf


def parsed(prog, argv, cli_opts, quiet=False, commands=None):
    """The ConfigOpts of :func:`configure`, parsed and checked, no logging.

    Also what the reporter parses on SIGHUP to check the files before it
    reloads them into the configuration in use.

    :raises ConfigurationError: for a bad command line, configuration file
        or configured value (naming the option).
    """
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf.register_cli_opts(cli_opts)
    if quiet:
        conf.register_cli_opt(verbose_opt)
    logging.register_options(conf)
    if quiet:
        _say_the_quiet_default(conf)
    logging.set_defaults(default_log_levels=logging.get_default_log_levels())
    conf.set_default('use_stderr', True)
    if commands:
        argv = options_first(argv, _global_flags(conf), commands)
    try:
        for path in _config_files(argv, prog):
            files.check_regular(path)
    except files.Unreadable as e:
        raise ConfigurationError(str(e))
    try:
        conf(argv, project='nova-vfio-compat', prog=prog)
        validation.check(conf)
    except (cfg.Error, validation.InvalidOption) as e:
        raise ConfigurationError(str(e))
    return conf


def _config_files(argv, prog):
    """The existing configuration files oslo.config will open for argv.

    Checked first (:func:`files.check_regular`), so that a FIFO in a
    configuration file's place is an error naming it rather than a
    program blocked at start.  Those of ``--config-file`` (else the
    default ones) and the ``*.conf`` of ``--config-dir`` (else the
    default directories), as oslo.config finds them; a missing one is
    left to oslo.config's own error.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument('--config-file', action='append', default=[])
    parser.add_argument('--config-dir', action='append', default=[])
    known, _rest = parser.parse_known_args(argv)
    project = 'nova-vfio-compat'
    paths = list(known.config_file or
                 cfg.find_config_files(project=project, prog=prog))
    for directory in (known.config_dir or
                      cfg.find_config_dirs(project=project, prog=prog)):
        try:
            paths.extend(files.config_dir_files(directory))
        except OSError:
            pass        # oslo.config's own error names the directory
    return [p for p in paths if os.path.lexists(p)]


def _log_warnings_only():
    # On the handlers rather than the root logger: oslo.log gives some
    # libraries' loggers a level of their own (default_log_levels), and a
    # caller may lower one to collect its records (the demo collects the
    # filter's DEBUG lines); neither must reach the output.
    for handler in logging.getLogger().logger.handlers:
        handler.setLevel(logging.WARNING)


class _ReaderAwareStdout:
    """Standard output that stops writing once its reader has gone.

    A closed pipe (``nova-vfio-compat traits DOC | head -1``) makes the
    next write fail with EPIPE; the rest of the output is discarded and
    the command ends normally, with the exit status of its answer.
    """

    def __init__(self, stream):
        self.stream = stream
        self.reader_gone = False

    def write(self, text):
        if not self.reader_gone:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._discard()
        return len(text)

    def flush(self):
        if not self.reader_gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._discard()

    def _discard(self):
        self.reader_gone = True
        # What is still buffered is flushed again at exit: point the file
        # descriptor at /dev/null so that flush succeeds quietly.
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def run(prog, conf, func, expected=()):
    """``func(conf)``'s exit status; never a traceback.

    An exception in ``expected`` (bad input) is one line and exit status
    2; any other exception is a bug: one line and exit status 3, with the
    traceback only when ``--debug`` is given.
    """
    real_stdout = sys.stdout
    stdout = sys.stdout = _ReaderAwareStdout(real_stdout)
    try:
        status = func(conf)
        stdout.flush()
        return status
    except expected as e:
        return fail(prog, e)
    except KeyboardInterrupt:
        print('%s: interrupted' % prog, file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        if getattr(conf, 'debug', False):
            traceback.print_exc()
            hint = ''
        else:
            hint = ' (run with --debug for the traceback)'
        print('%s: internal error: %s: %s%s'
              % (prog, type(e).__name__, ' '.join(str(e).split()), hint),
              file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        sys.stdout = real_stdout
