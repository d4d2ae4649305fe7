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

"""``nova-vfio-compat``'s global options, before or after the command."""

import re

from hypothesis import given
from hypothesis import strategies as st
from oslo_config import cfg
from oslo_log import log as logging
import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.cmd import common
from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat import samples

_sample = samples.path


def run(capsys, *argv):
    try:
        status = cli.main(list(argv))
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def test_config_file_after_the_command(capsys, tmp_path):
    conf = tmp_path / 'x.conf'
    conf.write_text('[traits]\nmax_traits_per_provider = 1\n')
    doc = _sample('mlx5-vf-fw28.43.yaml')
    status, out, err = run(capsys, 'traits', doc, '--config-file',
                           str(conf))
    # The option was read: the bound of one trait refuses the document
    # (before the fix: 30 lines of usage, "unrecognized arguments").
    assert status == 2, err
    assert 'usage' not in err
    assert 'max_traits_per_provider' in err or 'trait' in err
    assert len(err.splitlines()) == 1


def test_config_file_equals_form_after_the_command(capsys, tmp_path):
    conf = tmp_path / 'x.conf'
    conf.write_text('[traits]\nmax_traits_per_provider = 1\n')
    doc = _sample('mlx5-vf-fw28.43.yaml')
    before = run(capsys, '--config-file=%s' % conf, 'traits', doc)
    after = run(capsys, 'traits', doc, '--config-file=%s' % conf)
    assert before == after


@pytest.mark.parametrize('flag', ['--debug', '-d', '--verbose', '-v',
                                  '--nodebug', '--noverbose'])
def test_logging_flags_after_the_command(capsys, flag):
    a, b = _sample('mlx5-vf-fw28.41.yaml'), _sample('mlx5-vf-fw28.43.yaml')
    status, out, err = run(capsys, 'check', a, b, flag)
    assert status == 0, err
    assert out.startswith('compatible')


def test_a_command_option_of_the_same_name_stays_with_the_command():
    flags = {'--json': False, '--config-file': True}
    argv = common.options_first(['x', '--json', '--config-file', 'f'],
                                flags, {'x': {'--json'}})
    assert argv == ['--config-file', 'f', 'x', '--json']


def test_a_value_that_names_a_command_is_not_the_command():
    flags = {'--config-file': True}
    argv = common.options_first(
        ['--config-file', 'fleet', 'drain', 'h', '--config-file', 'g'],
        flags, {'fleet': set(), 'drain': set()})
    assert argv == ['--config-file', 'fleet', '--config-file', 'g',
                    'drain', 'h']


def test_after_double_dash_nothing_moves():
    flags = {'--debug': False}
    argv = common.options_first(['x', '--', '--debug'], flags, {'x': set()})
    assert argv == ['x', '--', '--debug']


def _help_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(['--help'])
    usage = capsys.readouterr().out.split('\noptions:')[0]
    return set(re.findall(r'\[(-{1,2}[\w-]+)', usage)) - {'-h'}


def test_every_global_option_of_help_is_movable(capsys):
    """The private oslo.config list the mover reads is complete."""
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf.register_cli_opts([cli.command_opt])
    conf.register_cli_opt(common.verbose_opt)
    logging.register_options(conf)
    flags = common._global_flags(conf)
    missing = _help_options(capsys) - set(flags)
    assert not missing


@given(st.permutations(['--debug', '--verbose', '--config-file']),
       st.integers(0, 3))
def test_global_options_anywhere_mean_the_same(order, cut):
    units = [[t, 'F'] if t == '--config-file' else [t] for t in order]
    flat = [t for u in units for t in u]
    mixed = [t for u in units[:cut] for t in u] + ['check', 'A'] + [
        t for u in units[cut:] for t in u]
    flags = {'--debug': False, '--verbose': False, '--config-file': True}
    got = common.options_first(mixed, flags, {'check': set()})
    assert got == flat + ['check', 'A']
