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

"""``openstack vfio ...``: the real openstack client, with the plugin as
installed (its entry points), against a real Placement on loopback
reached through clouds.yaml.

Each answer is compared with what ``nova-vfio-compat`` prints for the
same input: one implementation, two front ends.  The client runs in this
process (its ``main``, which loads the plugin from its entry points as
the console script does), as a child process in one test: starting the
client costs seconds of CPU, and what is tested is what the plugin's
commands print, not the process.
"""

import contextlib
import importlib.metadata
import io
import json
import logging
import os
import subprocess
import sys
import types
import warnings

from openstackclient import shell as osc_shell
import pytest
import yaml

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.demo import local_placement
from nova_vfio_compat import samples
from tests.functional.planning import conftest as planning

CLOUD = 'vfc-local'
GVT_AGGR = samples.path('gvt-i915-v1.2-aggr3.yaml')
GVT_TYPE4 = samples.path('gvt-i915-v1.3-type4.yaml')
MLX5_OLD = samples.path('mlx5-vf-fw28.41.yaml')


def _registered():
    names = {ep.name for ep in importlib.metadata.entry_points(
        group='openstack.cli.extension')}
    if 'vfio_compat' not in names:
        pytest.fail('the openstack client plugin is not registered in this '
                    'environment: install the package again (pip install '
                    '-e .) so that its entry points are')


@pytest.fixture(scope='module')
def cloud(tmp_path_factory):
    _registered()
    workdir = tmp_path_factory.mktemp('osc')
    with local_placement.LocalPlacement() as placement:
        path = workdir / 'clouds.yaml'
        path.write_text(yaml.safe_dump({'clouds': {CLOUD: {
            'auth_type': 'admin_token',
            'auth': {'endpoint': placement.endpoint,
                     'token': local_placement.TOKEN}}}}))
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(path),
                   HOME=str(workdir))
        for name in list(env):
            if name.startswith('OS_') and name != 'OS_CLIENT_CONFIG_FILE':
                del env[name]
        yield types.SimpleNamespace(placement=placement, env=env,
                                    clouds=str(path))


def openstack_process(cloud, *argv, cloud_name=CLOUD):
    """``openstack --os-cloud CLOUD ARGV`` in a child process."""
    prefix = ('--os-cloud', cloud_name) if cloud_name else ()
    return subprocess.run(
        [sys.executable, '-m', 'openstackclient.shell', *prefix, *argv],
        env=cloud.env, capture_output=True, text=True, timeout=120)


def openstack(cloud, *argv, cloud_name=CLOUD):
    """``openstack --os-cloud CLOUD ARGV``: the client's main, in-process.

    In the child process's environment; the logging and warning settings
    the client makes for itself are undone afterwards.
    """
    argv = [*(('--os-cloud', cloud_name) if cloud_name else ()), *argv]
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved_env, saved_root = dict(os.environ), (root.level, root.handlers[:])
    os.environ.clear()
    os.environ.update(cloud.env)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            try:
                status = osc_shell.main(argv)
            except SystemExit as e:     # argparse refusing the command line
                status = e.code
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
    return subprocess.CompletedProcess(argv, status, out.getvalue(),
                                       err.getvalue())


def nvc_json(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(list(argv) + ['--json'])
    assert status in (0, 1)
    return json.loads(out.getvalue())


def test_check_json_is_check_json(cloud):
    got = openstack(cloud, 'vfio', 'compat', 'check', GVT_AGGR, GVT_TYPE4,
                    '-f', 'json', cloud_name=None)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == nvc_json('check', GVT_AGGR, GVT_TYPE4)


def test_traits_yaml_and_value(cloud):
    got = openstack(cloud, 'vfio', 'compat', 'traits', MLX5_OLD, '-f',
                    'yaml', cloud_name=None)
    assert got.returncode == 0, got.stderr
    assert yaml.safe_load(got.stdout) == nvc_json('traits', MLX5_OLD)
    got = openstack(cloud, 'vfio', 'compat', 'traits', MLX5_OLD, '-f',
                    'value', '-c', 'resource_class', cloud_name=None)
    assert got.stdout.strip() == nvc_json('traits', MLX5_OLD)[
        'resource_class']


def test_matrix_rows_are_matrix_cells(cloud):
    got = openstack(cloud, 'vfio', 'compat', 'matrix', GVT_AGGR, GVT_TYPE4,
                    '-f', 'json', cloud_name=None)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == nvc_json('matrix', GVT_AGGR, GVT_TYPE4)


def test_a_bad_document_is_one_line_naming_it(cloud, tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('emits: [')
    got = openstack(cloud, 'vfio', 'compat', 'traits', str(bad),
                    cloud_name=None)
    assert got.returncode == 1
    assert str(bad) in got.stderr
    assert 'Traceback' not in got.stderr


@pytest.fixture(scope='module')
def fleet(cloud):
    placement = types.SimpleNamespace(conn=cloud.placement.sdk)
    f = planning.Fleet(placement)
    src = f.host('osc-src', planning.gpu(1))
    f.host('osc-new', planning.gpu(2))
    f.host('osc-other', planning.gpu(0, major=2))
    f.host('osc-full', planning.gpu(1, total=1, used=1))
    f.allocate('osc-vm1', src[0])
    return f


def test_drain_through_clouds_yaml(cloud, fleet, monkeypatch):
    # The one run of the client as a process: the console's way in.
    got = openstack_process(cloud, 'vfio', 'drain', 'osc-src', '-f', 'json')
    assert got.returncode == 0, got.stderr
    (row,) = json.loads(got.stdout)
    assert row['status'] == 'placed'
    assert row['plan'].startswith('osc-new ')
    assert row['can_go'] == ['osc-new']
    (full,) = row['not_used']
    assert full.startswith('osc-full: full: ')
    # The same answer as nova-vfio-compat's, from the same cloud.
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', cloud.clouds)
    (server,) = nvc_json('drain', 'osc-src', '--os-cloud', CLOUD)['servers']
    assert server['consumer'] == row['consumer']
    assert server['plan']['host'] == 'osc-new'


def test_drain_of_an_unknown_host_is_one_line(cloud, fleet):
    got = openstack(cloud, 'vfio', 'drain', 'no-such-host')
    assert got.returncode == 1
    assert 'no-such-host' in got.stderr
    assert 'Traceback' not in got.stderr


def test_fleet_table_and_json(cloud, fleet):
    got = openstack(cloud, 'vfio', 'fleet', '-f', 'json')
    assert got.returncode == 0, got.stderr
    rows = {r['host']: r for r in json.loads(got.stdout)}
    assert rows['osc-src']['emits'] == '1.1'
    assert rows['osc-new']['accepts'] == '1.1-1.2'
    assert rows['osc-src']['can_move_to'] == ['osc-full', 'osc-new']
    assert rows['osc-new']['group'] != rows['osc-src']['group']
    assert rows['osc-new']['mdev_type'] == 'nvidia-222'
    got = openstack(cloud, 'vfio', 'fleet')
    assert got.returncode == 0, got.stderr
    assert '| family' in got.stdout and 'osc-new' in got.stdout


def test_drain_says_what_its_rows_do_not(cloud, fleet):
    """Disabled hosts and what is not checked go to standard error.

    The rows stay the formatter's.
    """
    src = fleet.host('osc-src2', planning.gpu(1))
    off = fleet.host('osc-off', planning.gpu(1))
    root = next(iter(cloud.placement.sdk.placement.resource_providers(
        name='osc-off')))
    planning.reporter_conftest.set_traits(
        cloud.placement.sdk, root,
        ('COMPUTE_NODE', 'OWNER_NOVA', 'COMPUTE_STATUS_DISABLED'))
    assert off
    fleet.allocate('osc-vm2', src[0])
    got = openstack(cloud, 'vfio', 'drain', 'osc-src2', '-f', 'json')
    assert got.returncode == 0, got.stderr
    (row,) = json.loads(got.stdout)
    assert 'osc-off' not in row['can_go']
    assert 'Disabled, not destinations: osc-off' in got.stderr
    assert "Not checked (Nova's scheduler" in got.stderr


def _both_upgrade_plans(cloud, tmp_path, monkeypatch, host):
    """``openstack vfio upgrade plan`` and ``plan-upgrade --json``, alike.

    Both assume ``host`` upgraded to version 3; returns the openstack
    command's completed process, its JSON rows and plan-upgrade's JSON.
    """
    assume = '%s=%s' % (host, planning.document_file(tmp_path, 3))
    got = openstack(cloud, 'vfio', 'upgrade', 'plan', '--assume', assume,
                    '-f', 'json')
    assert got.returncode == 0, got.stderr
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', cloud.clouds)
    result = nvc_json('plan-upgrade', '--assume', assume, '--os-cloud', CLOUD)
    return got, json.loads(got.stdout), result


def test_upgrade_plan_rows_are_plan_upgrade(cloud, fleet, tmp_path,
                                            monkeypatch):
    got, rows, result = _both_upgrade_plans(cloud, tmp_path, monkeypatch,
                                            'osc-src')
    want = [(w['wave'], 'move', m['consumer'], m['destination']['host'])
            for w in result['waves'] for m in w['moves']]
    assert want, result
    assert [(r['wave'], r['action'], r['consumer'],
             r['destination'].split(' ')[0]) for r in rows
            if r['action'] == 'move'] == want
    assert rows[0]['upgrade'] == ['osc-src']
    assert 'Downtime: 0 servers planned' in got.stderr


def test_upgrade_plan_lists_the_servers_it_does_not_check(
        cloud, fleet, tmp_path, monkeypatch):
    """A server on devices with no stream is a row, as drain has it.

    ``plan-upgrade`` prints it as a "Not checked" paragraph.
    """
    described, undescribed = fleet.host('osc-mixed', planning.gpu(1),
                                        planning.gpu(None))
    moved = fleet.allocate('osc-vm3', described)
    blind = fleet.allocate('osc-vm4', undescribed)
    got, rows, result = _both_upgrade_plans(cloud, tmp_path, monkeypatch,
                                            'osc-mixed')
    (entry,) = result['unchecked']
    assert entry['consumer'] == blind
    (row,) = [r for r in rows if r['action'] == 'not checked']
    assert (row['wave'], row['consumer'], row['name']) == (
        None, blind, entry['name'])
    assert row['reason'].startswith(
        '%s: its devices publish no stream' % ', '.join(entry['providers']))
    assert moved in {r['consumer'] for r in rows if r['action'] == 'move'}
