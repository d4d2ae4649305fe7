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

"""The console script against a real Placement server process that goes
away and comes back."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

HOST = 'compute-proc.example.com'
GVT_RP = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)


def _script(name):
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else shutil.which(name)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail('timed out after %ss waiting for %s' % (timeout, what))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """The real Placement API on 127.0.0.1 (sqlite file, noauth2).

    In a process of its own that the test stops and starts again.  The
    port is chosen up front: the reporter is configured (and started)
    before Placement first comes up.
    """
    port = _free_port()
    srv = local_placement.LocalPlacement(port=port, workdir=str(tmp_path))
    srv.url = 'http://127.0.0.1:%d' % port
    yield srv
    srv.close()


def _write_devices(path, *entries):
    lines = ['devices:']
    for address, kind, mdev_type, sample in entries:
        lines += ["  - address: '%s'" % address, '    kind: %s' % kind,
                  '    document: %s' % os.path.join(rd.SAMPLES, sample)]
        if mdev_type:
            # Every mdev the GPU can hold exists (precreated_mdev_attrs).
            lines += ['    mdev_type: %s' % mdev_type,
                      '    mdevs: [%s-mdev]' % address,
                      '    available_instances: 0']
    path.write_text('\n'.join(lines) + '\n')


OLD = [(rd.GVT_PARENT, 'mdev_type', 'i915-GVTg_V5_8',
        'gvt-i915-v1.2-aggr3.yaml'),
       (rd.VF, 'pci', None, 'mlx5-vf-fw28.41.yaml')]
NEW = [OLD[0], (rd.VF, 'pci', None, 'mlx5-vf-fw28.43.yaml')]
# The GVT-g sample accepts its stream only on an mdev created with
# aggregation=3, which is published only where the site pre-creates every
# mdev of the GPU; these tests publish whole documents.
PRECREATED = '[nova]\nprecreated_mdev_attrs = true\n'


def _expected(entries):
    out = frozenset()
    for _addr, kind, mdev_type, sample in entries:
        out |= rd.sample_traits(kind, mdev_type, sample)
    return out


def _on_root(entries):
    """What the compute node provider carries for ``entries``.

    The PCI devices' traits: an mdev type's are on its GPU's provider.
    """
    return _expected([e for e in entries if e[1] == 'pci'])


def _owned_on(conn, name):
    try:
        return frozenset(n for n in c.traits_of(conn, name)
                         if traits.is_owned(n))
    except StopIteration:
        return None


def test_placement_down_at_start_and_mid_run_then_sigterm(tmp_path, server):
    devices = tmp_path / 'devices.yaml'
    _write_devices(devices, *OLD)
    conf = tmp_path / 'nova.conf'
    # The [placement] section as nova.conf has it, with the token plugin
    # that noauth2 accepts instead of a keystone password.
    conf.write_text(
        '[placement]\nauth_type = admin_token\nendpoint = %s\n'
        'token = admin\n'
        '[reporter]\nroot_provider_name = %s\nresync_interval = 1\n'
        'max_backoff = 2\ndevice_list = %s\n%s'
        % (server.url, HOST, devices, PRECREATED))
    log_path = tmp_path / 'reporter.log'
    log = open(log_path, 'wb')
    reporter = subprocess.Popen(
        [_script('nova-vfio-compat-reporter'), '--config-file', str(conf)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        def failures():
            return log_path.read_text().count('retrying in')

        # 1. Placement is not there: the service says so and keeps going.
        _wait(lambda: failures() >= 2, 20, 'the reporter to retry')
        assert reporter.poll() is None
        assert 'Placement request failed' in log_path.read_text()

        # 2. Placement comes up and nova-compute registers the host.
        server.start()
        conn = c.sdk(server.url)
        c.nova_layout(conn, host=HOST, mdev_parents=[rd.GVT_PARENT])
        _wait(lambda: _owned_on(conn, HOST) == _on_root(OLD), 30,
              'the first publication')
        _wait(lambda: _owned_on(conn, GVT_RP) == _expected(OLD[:1]), 10,
              'the mdev parent traits')

        # 3. Placement goes away mid-run, the VF firmware is upgraded
        # meanwhile, and Placement comes back.
        server.stop()
        before = failures()
        _write_devices(devices, *NEW)
        _wait(lambda: failures() > before, 20, 'a failure to be logged')
        assert reporter.poll() is None
        server.start()
        conn = c.sdk(server.url)
        _wait(lambda: _owned_on(conn, HOST) == _on_root(NEW), 30,
              'convergence after Placement returned')
        root = c.traits_of(conn, HOST)
        assert c.NOVA_ROOT_TRAITS | {c.OTHER_AGENT_TRAIT} <= root
        assert c.NOVA_MDEV_TRAITS <= c.traits_of(conn, GVT_RP)
    finally:
        # 4. SIGTERM ends it cleanly.
        reporter.send_signal(signal.SIGTERM)
        status = reporter.wait(15)
        log.close()
    text = log_path.read_text()
    assert status == 0, text[-2000:]
    assert 'Traceback' not in text
    assert 'Stopped' in text


def test_once_and_dry_run_exit_status(tmp_path, server):
    server.start()
    conn = c.sdk(server.url)
    c.nova_layout(conn, host=HOST, mdev_parents=[rd.GVT_PARENT])
    devices = tmp_path / 'devices.yaml'
    _write_devices(devices, *OLD)
    conf = tmp_path / 'nova.conf'
    conf.write_text(
        '[placement]\nauth_type = admin_token\nendpoint = %s\n'
        'token = admin\n[reporter]\nroot_provider_name = %s\n'
        'device_list = %s\n%s' % (server.url, HOST, devices, PRECREATED))
    cmd = [_script('nova-vfio-compat-reporter'), '--config-file', str(conf)]

    dry = subprocess.run(cmd + ['--dry-run'], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert 'resource provider %s:' % HOST in dry.stdout
    assert 'resource provider %s:' % GVT_RP in dry.stdout
    for name in _expected(OLD):
        assert '  + %s' % name in dry.stdout
    assert _owned_on(conn, HOST) == frozenset()

    # The same through a clouds.yaml cloud instead of [placement].
    clouds = tmp_path / 'clouds.yaml'
    clouds.write_text(
        'clouds:\n  local:\n    auth_type: admin_token\n'
        '    auth: {endpoint: "%s", token: admin}\n' % server.url)
    cloud_conf = tmp_path / 'cloud.conf'
    cloud_conf.write_text('[reporter]\ncloud = local\n'
                          'root_provider_name = %s\ndevice_list = %s\n%s'
                          % (HOST, devices, PRECREATED))
    once = subprocess.run(
        [_script('nova-vfio-compat-reporter'), '--config-file',
         str(cloud_conf), '--once'], capture_output=True, text=True,
        env=dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds)))
    assert once.returncode == 0, once.stderr
    assert _owned_on(conn, HOST) == _on_root(OLD)

    dry = subprocess.run(cmd + ['--dry-run'], capture_output=True, text=True)
    assert dry.returncode == 0 and 'nothing to change' in dry.stdout

    # an mdev parent Nova has not created (a GPU without capacity for its
    # type has none): expected, the rest is published, exit 0
    _write_devices(devices, *(OLD + [('0000:3b:00.0', 'mdev_type',
                                      'nvidia-222',
                                      'nvidia-t4-grid16.9-222.yaml')]))
    once = subprocess.run(cmd + ['--once'], capture_output=True, text=True)
    assert once.returncode == 0, once.stderr
    assert 'compute-proc.example.com_pci_0000_3b_00_0' in once.stderr

    server.stop()
    once = subprocess.run(cmd + ['--once'], capture_output=True, text=True)
    assert once.returncode == 1
    assert 'Placement request failed' in once.stderr
    assert 'Traceback' not in once.stderr
