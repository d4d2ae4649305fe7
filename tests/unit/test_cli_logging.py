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

"""What the operator's command logs: warnings unless --verbose or --debug.

The service (the reporter) is not quiet: it logs at INFO as before.
"""

import logging

import pytest

from nova_vfio_compat.cmd import common


def _shown(argv, quiet=True):
    """Which levels a library logger's records reach standard error at."""
    common.configure('prog', argv, [], quiet=quiet)
    root = logging.getLogger()
    library = logging.getLogger('some.library')
    shown = set()
    for level in (logging.DEBUG, logging.INFO, logging.WARNING):
        if library.isEnabledFor(level) and all(
                level >= h.level for h in root.handlers):
            shown.add(logging.getLevelName(level))
    return shown


@pytest.fixture(autouse=True)
def _restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_quiet_by_default():
    assert _shown([]) == {'WARNING'}


def test_verbose_shows_info():
    assert _shown(['--verbose']) == {'INFO', 'WARNING'}
    assert _shown(['-v']) == {'INFO', 'WARNING'}


def test_debug_shows_everything():
    assert _shown(['--debug']) == {'DEBUG', 'INFO', 'WARNING'}


def test_a_service_logs_info_and_has_no_verbose_option():
    assert _shown([], quiet=False) == {'INFO', 'WARNING'}
    # argparse's usage error: an unknown option.
    with pytest.raises(SystemExit):
        common.configure('prog', ['--verbose'], [], quiet=False)


def test_a_logging_configuration_file_decides_itself(tmp_path):
    config = tmp_path / 'logging.conf'
    config.write_text(
        '[loggers]\nkeys=root\n[handlers]\nkeys=stderr\n'
        '[formatters]\nkeys=plain\n'
        '[logger_root]\nlevel=INFO\nhandlers=stderr\n'
        '[handler_stderr]\nclass=StreamHandler\nargs=(sys.stderr,)\n'
        'formatter=plain\n[formatter_plain]\nformat=%(message)s\n')
    shown = _shown(['--log-config-append', str(config)])
    assert shown == {'INFO', 'WARNING'}


def test_help_states_the_default_level_the_command_has(capsys):
    # oslo.log's own help for --debug says INFO is the default level.
    with pytest.raises(SystemExit):
        common.configure('prog', ['--help'], [], quiet=True)
    text = ' '.join(capsys.readouterr().out.split())
    assert 'default INFO level' not in text
    assert 'Without it or --verbose only warnings and errors' in text
    assert _shown(['-d']) == {'DEBUG', 'INFO', 'WARNING'}
