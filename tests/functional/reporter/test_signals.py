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

"""Real signals to the real service process: SIGTERM whatever it waits
on, SIGHUP reloads the configuration."""

import configparser
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat.demo import local_placement
from tests.functional.reporter import conftest as c
from tests.functional.reporter import test_service_process as sp

UNIT = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'etc',
                    'systemd', 'nova-vfio-compat-reporter.service')


class SilentServer:
    """A TCP server that accepts connections and never answers.

    Or, with ``drip``, answers one byte of an HTTP response a second: a
    stalled Placement that a per-read timeout does not end.
    """

    def __init__(self, drip=False):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.url = 'http://127.0.0.1:%d' % self.sock.getsockname()[1]
        self.drip = drip
        self.accepted = 0
        self._conns = []
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._closed.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            if self.drip:
                threading.Thread(target=self._drip, args=(conn,),
                                 daemon=True).start()

    def _drip(self, conn):
        for byte in b'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + \
                b' ' * 100000:
            if self._closed.wait(1):
                return
            try:
                conn.send(bytes([byte]))
            except OSError:
                return

    def close(self):
        self._closed.set()
        for conn in self._conns:
            conn.close()
        self.sock.close()


def _start(tmp_path, endpoint, extra=''):
    devices = tmp_path / 'devices.yaml'
    sp._write_devices(devices, *sp.OLD)
    conf = tmp_path / 'reporter.conf'
    conf.write_text(
        '[placement]\nauth_type = admin_token\nendpoint = %s\n'
        'token = admin\ntimeout = 60\n'
        '[reporter]\nroot_provider_name = %s\nresync_interval = 1\n'
        'max_backoff = 2\ndevice_list = %s\n%s%s'
        % (endpoint, sp.HOST, devices, sp.PRECREATED, extra))
    log_path = tmp_path / 'reporter.log'
    log = open(log_path, 'wb')
    proc = subprocess.Popen(
        [sp._script('nova-vfio-compat-reporter'), '--config-file',
         str(conf)], stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log_path
    proc.log_file = log
    proc.conf = conf
    return proc


def _stop_time(proc):
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail('still running 30 s after SIGTERM: %s'
                    % proc.log_path.read_text()[-2000:])
    finally:
        proc.log_file.close()
    return status, time.monotonic() - start


@pytest.mark.parametrize('drip', [False, True], ids=['silent', 'dripping'])
def test_sigterm_ends_a_service_stuck_in_a_placement_request(tmp_path,
                                                             drip):
    server = SilentServer(drip=drip)
    proc = _start(tmp_path, server.url)
    try:
        sp._wait(lambda: server.accepted >= 1, 20,
                 'the reporter to connect to Placement')
        time.sleep(1)
        assert proc.poll() is None
    finally:
        status, took = _stop_time(proc)
        server.close()
    text = proc.log_path.read_text()
    assert status == 0, text[-2000:]
    assert took < reporter_cmd.STOP_GRACE + 3, (took, text[-2000:])
    print('stopped %.1fs after SIGTERM' % took)
    assert 'Traceback' not in text
    assert 'stopping without it' in text


def test_the_unit_files_stop_timeout_leaves_room_for_the_grace():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(UNIT)
    timeout = int(unit['Service']['TimeoutStopSec'])
    # Room for the grace and the interpreter's exit, not much more.
    assert reporter_cmd.STOP_GRACE + 5 <= timeout <= 3 * (
        reporter_cmd.STOP_GRACE)
    assert unit['Service']['ExecReload'] == '/bin/kill -HUP $MAINPID'


def test_sighup_reloads_the_configuration(tmp_path):
    port = sp._free_port()
    server = local_placement.LocalPlacement(port=port,
                                            workdir=str(tmp_path))
    server.url = 'http://127.0.0.1:%d' % port
    try:
        server.start()
        conn = c.sdk(server.url)
        c.nova_layout(conn, host=sp.HOST, mdev_parents=[sp.rd.GVT_PARENT])
        proc = _start(tmp_path, server.url)
        try:
            sp._wait(lambda: sp._owned_on(conn, sp.HOST) ==
                     sp._on_root(sp.OLD), 30, 'the first publication')
            # A new device list, named by the configuration only: a
            # service that did not reload keeps publishing the old one.
            new_devices = tmp_path / 'new-devices.yaml'
            sp._write_devices(new_devices, *sp.NEW)
            text = proc.conf.read_text().replace(
                str(tmp_path / 'devices.yaml'), str(new_devices))
            proc.conf.write_text(text)
            proc.send_signal(signal.SIGHUP)
            sp._wait(lambda: sp._owned_on(conn, sp.HOST) ==
                     sp._on_root(sp.NEW), 30, 'the reloaded device list')
            assert proc.poll() is None

            # A broken configuration on SIGHUP: logged, service goes on.
            proc.conf.write_text(text + '[reporter\n')
            proc.send_signal(signal.SIGHUP)
            sp._wait(lambda: 'could not be reloaded' in
                     proc.log_path.read_text(), 20, 'the reload error')
            assert proc.poll() is None

            # A value that parses as a file but not as its option: never
            # in force, the service goes on with the values it had (it
            # resyncs every second, reading resync_interval each time).
            proc.conf.write_text(text.replace(
                'resync_interval = 1', 'resync_interval = soon'))
            proc.send_signal(signal.SIGHUP)
            sp._wait(lambda: 'resync_interval' in
                     proc.log_path.read_text(), 20, 'the invalid value')
            time.sleep(3)
            assert proc.poll() is None, proc.log_path.read_text()[-2000:]
        finally:
            status, took = _stop_time(proc)
    finally:
        server.close()
    log = proc.log_path.read_text()
    assert status == 0, log[-2000:]
    assert 'Configuration reloaded' in log
    assert 'Traceback' not in log
