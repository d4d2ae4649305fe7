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

"""A real, throw-away Placement service on 127.0.0.1 and a sqlite file.

For the demo, benchmarks and tests that need a real HTTP server: the
``openstack-placement`` WSGI application, its schema created on start
(``sync_on_startup``), ``noauth2`` (the token ``admin`` is the admin user),
served by the standard library's threaded WSGI server in a child process
that :class:`LocalPlacement` stops again.  Not for production: deploy
Placement as its documentation says.
"""

import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from wsgiref import simple_server

CONFIG = """[DEFAULT]
debug = False
[api]
auth_strategy = noauth2
[placement_database]
connection = sqlite:///%(db)s
sync_on_startup = True
sqlite_synchronous = False
"""


class LocalPlacement(object):
    """Start (and always stop) a Placement server process.

    ``with LocalPlacement() as placement: placement.endpoint`` is the URL.
    ``stop()`` and ``start()`` may be called again, e.g. to test how a
    client survives Placement going away; the database file is kept
    across restarts and removed at the end.
    """

    def __init__(self, port=0, workdir=None, start_timeout=60):
        self.port = port
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix='nvc-placement-')
        self.start_timeout = start_timeout
        self.process = None
        self.endpoint = None
        with open(os.path.join(self.workdir, 'placement.conf'), 'w') as f:
            f.write(CONFIG % {'db': os.path.join(self.workdir,
                                                 'placement.sqlite')})

    def start(self):
        env = dict(os.environ, OS_PLACEMENT_CONFIG_DIR=self.workdir)
        # The server logs to stdout and stderr; a file, unlike a pipe that
        # nobody reads, never fills up and blocks it.
        self.log_path = os.path.join(self.workdir, 'placement.log')
        with open(self.log_path, 'ab') as log:
            offset = log.tell()
            self.process = subprocess.Popen(
                [sys.executable, '-m', __name__, str(self.port)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        self.port = self._read_port(offset)
        self.endpoint = 'http://127.0.0.1:%d' % self.port
        self._wait_ready()
        return self

    def _read_port(self, offset):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            with open(self.log_path) as log:
                log.seek(offset)
                for line in log:
                    if line.startswith('listening '):
                        return int(line.split()[1])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        with open(self.log_path) as log:
            log.seek(offset)
            raise RuntimeError('Placement did not start:\n%s'
                               % log.read()[-2000:])

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with urllib.request.urlopen(self.endpoint, timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('Placement at %s did not answer'
                                       % self.endpoint)
                time.sleep(0.05)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class _ThreadingServer(socketserver.ThreadingMixIn,
                       simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def make_server(app, port=0):
    """A threaded WSGI server for ``app`` on 127.0.0.1 (0: any port)."""
    return simple_server.make_server('127.0.0.1', port, app,
                                     server_class=_ThreadingServer,
                                     handler_class=_QuietHandler)


def _serve(port):
    from placement import wsgi

    httpd = make_server(wsgi.init_application(), port)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print('listening %d' % httpd.server_address[1], flush=True)
    httpd.serve_forever(poll_interval=0.1)


if __name__ == '__main__':
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
