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

"""Every option has help text and appears in the generated sample."""

import importlib.metadata

from oslo_config import cfg
from oslo_config import generator

from nova_vfio_compat.conf import opts


def _all_opts():
    return [(group, opt) for group, group_opts in opts.list_opts()
            for opt in group_opts]


def test_every_option_has_help_text():
    for group, opt in _all_opts():
        name = '[%s] %s' % (getattr(group, 'name', group), opt.dest)
        assert opt.help and len(opt.help.strip()) > 20, name


def test_the_entry_point_lists_the_options():
    eps = importlib.metadata.entry_points(group='oslo.config.opts')
    (ep,) = [e for e in eps if e.name == 'nova_vfio_compat']
    assert ep.load() is opts.list_opts


def test_every_option_is_in_the_generated_sample(tmp_path):
    out = tmp_path / 'sample.conf'
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(['--namespace', 'nova_vfio_compat', '--output-file', str(out)])
    generator.generate(conf)
    sample = out.read_text()
    for group, opt in _all_opts():
        assert '[%s]' % getattr(group, 'name', group) in sample
        assert any('#%s =' % name in sample
                   for name in (opt.dest, opt.name)), opt.dest


def test_option_values_do_not_leak_between_config_objects():
    """Each ConfigOpts (the CLI makes one per run) has its own values."""
    from nova_vfio_compat import conf as nvc_conf

    first, second = cfg.ConfigOpts(), cfg.ConfigOpts()
    nvc_conf.register_all(first)
    nvc_conf.register_all(second)
    first([], default_config_files=[])
    second([], default_config_files=[])
    for group, opt in _all_opts():
        name = getattr(group, 'name', group)
        if name == 'placement':
            continue    # keystoneauth's options, loaded on connection
        first.set_override(opt.dest, _other_value(opt), group=name)
        assert getattr(first, name)[opt.dest] == _other_value(opt)
        assert getattr(second, name)[opt.dest] == opt.default, \
            (name, opt.dest)


def _other_value(opt):
    if isinstance(opt, cfg.BoolOpt):
        return not opt.default
    if isinstance(opt, (cfg.IntOpt, cfg.FloatOpt)):
        return opt.type.min if opt.type.min is not None and \
            opt.type.min != opt.default else (opt.default or 0) + 1
    if isinstance(opt, cfg.ListOpt):
        return ['/elsewhere']
    if getattr(opt.type, 'choices', None):
        return [c for c in opt.type.choices if c != opt.default][0]
    return 'other'


def test_discovery_debounce_in_an_old_file_sets_the_one_debounce(tmp_path):
    # [discovery] debounce was the udev monitor's own wait, added to
    # [reporter] debounce; it is now read as [reporter] debounce.
    from nova_vfio_compat import conf as nvc_conf

    path = tmp_path / 'old.conf'
    path.write_text('[discovery]\ndebounce = 0.7\n')
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf([], default_config_files=[str(path)])
    assert conf.reporter.debounce == 0.7
    assert 'debounce' not in conf.discovery
    # The new name wins when both are set.
    path.write_text('[discovery]\ndebounce = 0.7\n'
                    '[reporter]\ndebounce = 3\n')
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf([], default_config_files=[str(path)])
    assert conf.reporter.debounce == 3.0
