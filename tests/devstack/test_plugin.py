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

"""The devstack plugin's phases, run in bash against a throw-away nova.conf.

devstack/settings and devstack/plugin.sh are sourced the way stack.sh,
unstack.sh and clean.sh source them, on top of fake-devstack.sh (the ini
functions for real, the install/start functions recorded in a log).  The
nova.conf they leave is read with oslo.config the way nova-scheduler reads
it, and the reporter's config file and command line with the reporter's
own options.
"""

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
import pytest

from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat import conf as nvc_conf

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLUGIN_FILES = [os.path.join(REPO, 'devstack', name)
                for name in ('settings', 'plugin.sh')]

FILTER_CLASS = 'nova_vfio_compat.scheduler.VFIOCompatFilter'
ALL_FILTERS = 'nova.scheduler.filters.all_filters'
SERVICE = 'nova-vfio-compat-reporter'

# Nova's defaults for the two options (nova/conf/scheduler.py); the plugin
# must write these out when the options are unset, since setting an option
# replaces its default.
NOVA_DEFAULT_ENABLED = ['ComputeFilter', 'ComputeCapabilitiesFilter',
                        'ImagePropertiesFilter',
                        'ServerGroupAntiAffinityFilter',
                        'ServerGroupAffinityFilter']

EXISTING_ENABLED = ('ComputeFilter, ComputeCapabilitiesFilter, '
                    'ImagePropertiesFilter, PciPassthroughFilter, '
                    'SameHostFilter')

NOVA_CONF = textwrap.dedent("""\
    [DEFAULT]
    debug = True

    [filter_scheduler]
    available_filters = %s
    available_filters = othervendor.scheduler.OtherFilter
    enabled_filters = %s
    track_instance_changes = False

    [placement]
    auth_type = password
    auth_url = http://127.0.0.1/identity
    username = placement
    password = secret
    user_domain_name = Default
    """ % (ALL_FILTERS, EXISTING_ENABLED))

RUN = textwrap.dedent("""\
    set -o errexit -o pipefail
    declare -A GITDIR PROJECT_VENV
    GITDIR[nova-vfio-compat]=$REPO
    if [[ -n "${NOVA_VENV:-}" ]]; then PROJECT_VENV[nova]=$NOVA_VENV; fi
    source "$REPO/tests/devstack/fake-devstack.sh"
    source "$REPO/devstack/settings"
    source "$REPO/devstack/plugin.sh" "$@"
    """)


class Stack:
    """A throw-away devstack host: its files, environment and call log."""

    def __init__(self, tmp_path, nova_conf=NOVA_CONF, **env):
        self.root = tmp_path
        self.nova_conf = tmp_path / 'nova.conf'
        self.nova_cpu_conf = tmp_path / 'nova-cpu.conf'
        self.conf_dir = tmp_path / 'etc-nova-vfio-compat'
        self.log = tmp_path / 'calls.log'
        if nova_conf is not None:
            self.nova_conf.write_text(nova_conf)
        self.env = {
            'PATH': os.environ['PATH'],
            'HOME': str(tmp_path),
            'REPO': REPO,
            'DEST': str(tmp_path / 'opt-stack'),
            'STACK_USER': _user(),
            'ENABLED_SERVICES': 'key,placement-api,n-api,n-cond,n-sch,n-cpu',
            'ENABLE_DEBUG_LOG_LEVEL': 'True',
            'NOVA_CONF': str(self.nova_conf),
            'NOVA_CPU_CONF': str(self.nova_cpu_conf),
            'NOVA_VFIO_COMPAT_CONF_DIR': str(self.conf_dir),
            'FAKE_DEVSTACK_LOG': str(self.log),
            # The reporter's console script of this test's environment.
            'FAKE_PYTHON_PREFIX': os.path.dirname(sys.executable),
        }
        self.env.update(env)

    def run(self, *phase, check=True):
        result = subprocess.run(
            ['bash', '-c', RUN, 'plugin', *phase], env=self.env,
            capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, (
                'plugin.sh %s failed:\n%s%s'
                % (' '.join(phase), result.stdout, result.stderr))
        return result

    def merge_local_conf(self, section, option, value):
        """Merge one option of a local.conf section into nova.conf.

        What stack.sh's merge_config_group does with it: iniset.
        """
        subprocess.run(
            ['bash', '-c', 'source "$REPO/tests/devstack/fake-devstack.sh"; '
             'iniset "$NOVA_CONF" "$1" "$2" "$3"', 'merge', section, option,
             value], env=self.env, check=True)

    def calls(self, name=None):
        if not self.log.exists():
            return []
        calls = [line.split('\t')
                 for line in self.log.read_text().splitlines()]
        return [c for c in calls if name is None or c[0] == name]

    @property
    def reporter_conf(self):
        return self.conf_dir / 'nova-vfio-compat.conf'


def _user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def scheduler_filters(path):
    """The two options as nova-scheduler sees them.

    Nova is not imported in this test process (its eventlet patching must
    stay out of the main test run), so the options are registered here with
    the types and defaults nova/conf/scheduler.py gives them; oslo.config
    does the parsing, MultiStrOpt lines and ListOpt commas included.
    """
    conf = cfg.ConfigOpts()
    conf.register_opts([
        cfg.MultiStrOpt('available_filters', default=[ALL_FILTERS]),
        cfg.ListOpt('enabled_filters', default=NOVA_DEFAULT_ENABLED),
    ], group='filter_scheduler')
    conf([], default_config_files=[str(path)])
    return (list(conf.filter_scheduler.available_filters),
            list(conf.filter_scheduler.enabled_filters))


def raw_options(path):
    """{section: {option: [values]}} exactly as written in the file."""
    sections = {}
    cfg.ConfigParser(str(path), sections).parse()
    return sections


@pytest.fixture
def stack(tmp_path):
    return Stack(tmp_path)


def test_install_installs_the_package_into_novas_environment(stack):
    stack.run('stack', 'install')

    assert stack.calls() == [
        ['setup_develop', 'PIP_VIRTUAL_ENV=', REPO]]


def test_install_uses_novas_own_venv_with_use_venv(tmp_path):
    stack = Stack(tmp_path, USE_VENV='True', NOVA_VENV='/opt/stack/nova.venv')

    stack.run('stack', 'install')
    stack.run('stack', 'extra')

    assert stack.calls('setup_develop') == [
        ['setup_develop', 'PIP_VIRTUAL_ENV=/opt/stack/nova.venv', REPO]]
    (command,) = [c[2] for c in stack.calls('run_process')]
    assert shlex.split(command)[0] == (
        '/opt/stack/nova.venv/bin/nova-vfio-compat-reporter')


def test_post_config_adds_the_filter_and_keeps_existing_filters(stack):
    stack.run('stack', 'post-config')

    available, enabled = scheduler_filters(stack.nova_conf)
    assert available == [ALL_FILTERS, 'othervendor.scheduler.OtherFilter',
                         FILTER_CLASS]
    assert enabled == ['ComputeFilter', 'ComputeCapabilitiesFilter',
                       'ImagePropertiesFilter', 'PciPassthroughFilter',
                       'SameHostFilter', 'VFIOCompatFilter']
    # Nothing else in nova.conf changed.
    before = raw_options_of_text(stack.root, NOVA_CONF)
    after = raw_options(stack.nova_conf)
    for section in before:
        for option, values in before[section].items():
            if option not in ('available_filters', 'enabled_filters'):
                assert after[section][option] == values


def raw_options_of_text(tmp_path, text):
    path = tmp_path / 'expected.conf'
    path.write_text(text)
    return raw_options(path)


def test_post_config_twice_changes_nothing_the_second_time(stack):
    stack.run('stack', 'post-config')
    once = stack.nova_conf.read_text()
    once_reporter = stack.reporter_conf.read_text()

    stack.run('stack', 'post-config')

    assert stack.nova_conf.read_text() == once
    assert stack.reporter_conf.read_text() == once_reporter
    available, enabled = scheduler_filters(stack.nova_conf)
    assert available.count(FILTER_CLASS) == 1
    assert enabled.count('VFIOCompatFilter') == 1


def test_post_config_with_unset_filters_keeps_novas_defaults(tmp_path):
    stack = Stack(tmp_path, nova_conf='[DEFAULT]\ndebug = True\n')

    stack.run('stack', 'post-config')

    available, enabled = scheduler_filters(stack.nova_conf)
    assert available == [ALL_FILTERS, FILTER_CLASS]
    assert enabled == NOVA_DEFAULT_ENABLED + ['VFIOCompatFilter']


def test_post_config_with_unset_filters_uses_devstacks_nova_filters(
        tmp_path):
    stack = Stack(tmp_path, nova_conf='[DEFAULT]\ndebug = True\n',
                  NOVA_FILTERS='ComputeFilter,SameHostFilter')

    stack.run('stack', 'post-config')

    assert scheduler_filters(stack.nova_conf)[1] == [
        'ComputeFilter', 'SameHostFilter', 'VFIOCompatFilter']


def test_a_filter_whose_name_contains_ours_is_not_mistaken_for_it(tmp_path):
    conf = NOVA_CONF.replace(EXISTING_ENABLED,
                             'ComputeFilter,OldVFIOCompatFilterShim')
    stack = Stack(tmp_path, nova_conf=conf)

    stack.run('stack', 'post-config')

    assert scheduler_filters(stack.nova_conf)[1] == [
        'ComputeFilter', 'OldVFIOCompatFilterShim', 'VFIOCompatFilter']


def test_filter_already_enabled_by_the_operator_is_not_added_again(tmp_path):
    conf = NOVA_CONF.replace(EXISTING_ENABLED,
                             'VFIOCompatFilter, ComputeFilter')
    stack = Stack(tmp_path, nova_conf=conf)

    stack.run('stack', 'post-config')

    assert scheduler_filters(stack.nova_conf)[1] == [
        'VFIOCompatFilter', 'ComputeFilter']


@pytest.mark.parametrize('env', [
    {'NOVA_VFIO_COMPAT_ENABLE_FILTER': 'False'},
    {'ENABLED_SERVICES': 'n-cpu,nova-vfio-compat-reporter'},
], ids=['filter-disabled', 'no-scheduler-on-this-host'])
def test_post_config_leaves_nova_conf_alone(tmp_path, env):
    stack = Stack(tmp_path, **env)

    stack.run('stack', 'post-config')

    assert stack.nova_conf.read_text() == NOVA_CONF


def test_post_config_writes_the_reporter_config(tmp_path):
    stack = Stack(tmp_path,
                  NOVA_VFIO_COMPAT_ROOT_PROVIDER_NAME='compute-1.example',
                  NOVA_VFIO_COMPAT_DEVICE_LIST='/etc/devices.yaml')

    stack.run('stack', 'post-config')

    assert (stack.conf_dir / 'capabilities.d').is_dir()
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf.register_opt(cfg.BoolOpt('debug'))
    conf([], default_config_files=[str(stack.reporter_conf)])
    assert conf.reporter.root_provider_name == 'compute-1.example'
    assert conf.reporter.device_list == '/etc/devices.yaml'
    assert conf.debug is True
    # nova-compute's own file, for the mdev type Nova uses per GPU.
    assert conf.nova.config_files == [str(stack.nova_cpu_conf)]
    # Discovery reads the capability files from the directory created.
    assert conf.discovery.capability_dirs == [
        str(stack.conf_dir / 'capabilities.d')]
    # Every option written is one the reporter knows.
    for section, options in raw_options(stack.reporter_conf).items():
        for option in options:
            if section == 'DEFAULT':
                assert option == 'debug'
            else:
                assert option in conf[section], (section, option)
    assert stack.calls('setup_logging') == [
        ['setup_logging', str(stack.reporter_conf)]]


def test_post_config_writes_only_set_reporter_options(stack):
    stack.run('stack', 'post-config')

    assert raw_options(stack.reporter_conf) == {
        'DEFAULT': {'debug': ['True']},
        'discovery': {'capability_dirs': [
            str(stack.conf_dir / 'capabilities.d')]},
        'nova': {'config_files': [str(stack.nova_cpu_conf)]}}


def test_extra_starts_the_reporter_with_novas_placement_credentials(stack):
    stack.nova_cpu_conf.write_text(NOVA_CONF)
    stack.run('stack', 'post-config')

    stack.run('stack', 'extra')

    (call,) = stack.calls('run_process')
    assert call[1] == SERVICE
    argv = shlex.split(call[2])
    assert argv[0] == os.path.join(os.path.dirname(sys.executable),
                                   'nova-vfio-compat-reporter')
    assert os.access(argv[0], os.X_OK), 'console script not installed'
    assert argv[1:] == ['--config-file', str(stack.nova_cpu_conf),
                        '--config-file', str(stack.reporter_conf)]
    # The command line and both files parse with the reporter's options,
    # and [placement] comes from nova-compute's file.
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf.register_cli_opts(reporter_cmd.cli_opts)
    conf(argv[1:], project='nova-vfio-compat')
    auth = ks_loading.load_auth_from_conf_options(conf, 'placement')
    assert auth.auth_url == 'http://127.0.0.1/identity'
    assert conf.once is False


@pytest.mark.parametrize('env', [
    {'ENABLED_SERVICES': 'n-api,n-sch,n-cond'},
    {'DISABLED_SERVICES': SERVICE},
], ids=['not-a-compute-host', 'disable_service-in-local.conf'])
def test_extra_starts_no_reporter(tmp_path, env):
    stack = Stack(tmp_path, **env)

    stack.run('stack', 'post-config')
    stack.run('stack', 'extra')

    assert stack.calls('run_process') == []
    assert not stack.reporter_conf.exists()


def test_settings_enable_the_reporter_service(stack):
    result = subprocess.run(
        ['bash', '-c', RUN.replace('source "$REPO/devstack/plugin.sh" "$@"',
                                   'echo "$ENABLED_SERVICES"')],
        env=stack.env, capture_output=True, text=True, check=True)
    assert SERVICE in result.stdout.strip().split(',')


def test_unstack_stops_the_reporter(stack):
    stack.run('unstack')

    assert stack.calls() == [['stop_process', SERVICE]]


def test_clean_removes_what_post_config_added(stack):
    stack.run('stack', 'post-config')
    stack.run('unstack')

    stack.run('clean')

    assert not stack.conf_dir.exists()
    assert scheduler_filters(stack.nova_conf) == (
        [ALL_FILTERS, 'othervendor.scheduler.OtherFilter'],
        ['ComputeFilter', 'ComputeCapabilitiesFilter',
         'ImagePropertiesFilter', 'PciPassthroughFilter', 'SameHostFilter'])


def test_unknown_phases_do_nothing(stack):
    for phase in ('pre-install', 'override_defaults'):
        stack.run('stack', phase)

    assert stack.calls() == []
    assert stack.nova_conf.read_text() == NOVA_CONF
    assert not stack.conf_dir.exists()


# stack.sh runs the plugins' post-config phase, then merges local.conf's
# [[post-config|$NOVA_CONF]] sections, then starts nova-scheduler; the
# usual SR-IOV devstack local.conf sets enabled_filters there.
SRIOV_LOCAL_CONF_FILTERS = 'ComputeFilter,PciPassthroughFilter'


def test_local_conf_enabled_filters_do_not_drop_the_filter(stack):
    stack.run('stack', 'post-config')
    stack.merge_local_conf('filter_scheduler', 'enabled_filters',
                           SRIOV_LOCAL_CONF_FILTERS)

    result = stack.run('stack', 'extra')

    assert scheduler_filters(stack.nova_conf)[1] == [
        'ComputeFilter', 'PciPassthroughFilter', 'VFIOCompatFilter']
    # nova-scheduler started with local.conf's list: it is restarted, and
    # the operator is told why.
    assert stack.calls('restart_service') == [
        ['restart_service', 'devstack@n-sch.service']]
    assert 'dropped VFIOCompatFilter' in result.stderr
    # The stack then passes the last check.
    stack.run('stack', 'test-config')


def test_local_conf_available_filters_do_not_drop_the_filter(stack):
    stack.run('stack', 'post-config')
    stack.merge_local_conf('filter_scheduler', 'available_filters',
                           ALL_FILTERS)

    stack.run('stack', 'extra')

    # iniset rewrites every line of the option, as devstack's does.
    available = scheduler_filters(stack.nova_conf)[0]
    assert set(available) == {ALL_FILTERS, FILTER_CLASS}
    assert available[-1] == FILTER_CLASS
    assert len(stack.calls('restart_service')) == 1


def test_extra_restarts_nothing_when_the_filter_is_still_there(stack):
    stack.run('stack', 'post-config')
    configured = stack.nova_conf.read_text()

    stack.run('stack', 'extra')

    assert stack.calls('restart_service') == []
    assert stack.nova_conf.read_text() == configured
    stack.run('stack', 'test-config')


def test_a_filter_dropped_after_the_extra_phase_fails_the_stack(stack):
    stack.run('stack', 'post-config')
    stack.run('stack', 'extra')
    # A [[post-extra|$NOVA_CONF]] section of local.conf.
    stack.merge_local_conf('filter_scheduler', 'enabled_filters',
                           SRIOV_LOCAL_CONF_FILTERS)

    result = stack.run('stack', 'test-config', check=False)

    assert result.returncode != 0
    assert 'VFIOCompatFilter is not in' in result.stderr
    assert 'NOVA_VFIO_COMPAT_ENABLE_FILTER=False' in result.stderr


@pytest.mark.parametrize('phase', ['extra', 'test-config'])
def test_a_disabled_filter_is_not_enforced(tmp_path, phase):
    stack = Stack(tmp_path, NOVA_VFIO_COMPAT_ENABLE_FILTER='False')

    stack.run('stack', 'post-config')
    stack.run('stack', phase)

    assert stack.calls('restart_service') == []
    assert stack.nova_conf.read_text() == NOVA_CONF


VF_SPEC = {'address': '0000:81:00.*', 'physical_network': None,
           'live_migratable': 'yes'}
ALIASES = [{'name': 'mlx5-vf', 'vendor_id': '15b3', 'product_id': '101e',
            'device_type': 'type-VF', 'live_migratable': 'yes'},
           {'name': 't4', 'vendor_id': '10de', 'product_id': '1eb8'}]


def test_post_config_configures_novas_devices(tmp_path):
    stack = Stack(
        tmp_path, NOVA_VFIO_COMPAT_PCI_DEVICE_SPEC=json.dumps(VF_SPEC),
        NOVA_VFIO_COMPAT_PCI_ALIAS=json.dumps(ALIASES),
        NOVA_VFIO_COMPAT_MDEV_TYPES=(
            'nvidia-222=0000:3b:00.0,0000:3c:00.0 nvidia-223=0000:3d:00.0'))

    stack.run('stack', 'post-config')
    stack.run('stack', 'post-config')

    raw = raw_options(stack.nova_conf)
    assert [json.loads(v) for v in raw['pci']['device_spec']] == [VF_SPEC]
    assert [json.loads(v) for v in raw['pci']['alias']] == ALIASES
    assert raw['devices'] == {'enabled_mdev_types': ['nvidia-222,nvidia-223']}
    assert raw['mdev_nvidia-222'] == {
        'device_addresses': ['0000:3b:00.0,0000:3c:00.0']}
    assert raw['mdev_nvidia-223'] == {'device_addresses': ['0000:3d:00.0']}
    # Nova's own parsers take what was written.
    script = textwrap.dedent("""\
        import sys
        import nova.conf
        from nova.pci import request
        from nova.pci import whitelist
        CONF = nova.conf.CONF
        CONF([], default_config_files=[sys.argv[1]])
        specs = whitelist.Whitelist(CONF.pci.device_spec).specs
        aliases = request.get_alias_from_config()
        nova.conf.devices.register_dynamic_opts(CONF)
        print(len(specs), sorted(aliases),
              CONF['mdev_nvidia-222'].device_addresses)
        """)
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1')
    result = subprocess.run(
        [sys.executable, '-c', script, str(stack.nova_conf)],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(None, 1) == [
        '1', "['mlx5-vf', 't4'] ['0000:3b:00.0', '0000:3c:00.0']\n"]


def test_post_config_leaves_novas_devices_alone_by_default(stack):
    stack.run('stack', 'post-config')

    raw = raw_options(stack.nova_conf)
    assert 'pci' not in raw and 'devices' not in raw


@pytest.mark.parametrize('value, message', [
    ('{"address": ', 'is not JSON'),
    ('["0000:81:00.1"]', 'must be a JSON object or a list of objects'),
])
def test_a_bad_device_variable_fails_naming_it(tmp_path, value, message):
    stack = Stack(tmp_path, NOVA_VFIO_COMPAT_PCI_DEVICE_SPEC=value)

    result = stack.run('stack', 'post-config', check=False)

    assert result.returncode != 0
    assert 'NOVA_VFIO_COMPAT_PCI_DEVICE_SPEC %s' % message in result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec('nova_vfio_compat.scheduler') is None,
    reason='nova_vfio_compat.scheduler (the filter) is not in this tree')
def test_nova_scheduler_loads_the_configured_filters(tmp_path):
    """Nova's own filter loading, on the nova.conf the plugin left."""
    # Without othervendor's filter, which does not exist.
    stack = Stack(tmp_path, nova_conf=NOVA_CONF.replace(
        'available_filters = othervendor.scheduler.OtherFilter\n', ''))
    stack.run('stack', 'post-config')
    script = textwrap.dedent("""\
        import sys
        import nova.conf
        from nova.scheduler import filters
        CONF = nova.conf.CONF
        CONF([], default_config_files=[sys.argv[1]])
        classes = filters.HostFilterHandler().get_matching_classes(
            CONF.filter_scheduler.available_filters)
        names = {c.__name__ for c in classes}
        missing = [f for f in CONF.filter_scheduler.enabled_filters
                   if f not in names]
        print('not loadable: %s' % missing)
        sys.exit(1 if missing else 0)
        """)
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1')
    result = subprocess.run(
        [sys.executable, '-c', script, str(stack.nova_conf)],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_passes_on_the_plugin():
    shellcheck = shutil.which('shellcheck')
    if shellcheck is None:
        pytest.skip('shellcheck is not installed (bindep.txt lists it)')
    result = subprocess.run(
        [shellcheck, '--shell=bash', '--severity=style', *PLUGIN_FILES,
         os.path.join(HERE, 'fake-devstack.sh')],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
