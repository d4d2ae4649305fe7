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

"""A real Placement on this machine: for the demo, the benchmarks and tests.

The ``openstack-placement`` WSGI application on sqlite, with ``noauth2``
(the token ``admin`` is the admin user), run one of two ways by
:class:`LocalPlacement`:

* by default in a child process, from a sqlite file, served on 127.0.0.1
  by the standard library's threaded WSGI server: a real HTTP endpoint
  (the demo; tests of other processes, such as the reporter service), that
  :meth:`~LocalPlacement.stop` and :meth:`~LocalPlacement.start` take away
  and bring back as a real restart of the service;
* with ``in_process=True``, in this process on Placement's own fixture
  (in-memory sqlite, as Nova's functional tests run it), reached through
  wsgi-intercept at a made-up URL: no socket, no second process, and
  :attr:`~LocalPlacement.app` counts the requests (the benchmarks, tests
  that count requests).  This needs the test requirements (the fixture,
  wsgi-intercept), which the ``demo`` extra does not install.

Either way ``endpoint`` is the URL, ``sdk`` an openstacksdk connection (as
the reporter uses) and :meth:`~LocalPlacement.nova_adapter` a keystoneauth
adapter of the kind Nova's report client wraps (as the filter uses).  Not
for production: deploy Placement as its documentation says.
"""

import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from wsgiref import simple_server

from keystoneauth1 import adapter
from keystoneauth1 import session
from keystoneauth1 import token_endpoint
from openstack import connection

from nova_vfio_compat.conf import placement as placement_conf
from nova_vfio_compat.placement import sessions as placement_sessions

TOKEN = 'admin'

CONFIG = """[DEFAULT]
debug = False
[api]
auth_strategy = noauth2
[placement_database]
connection = sqlite:///%(db)s
sync_on_startup = True
sqlite_synchronous = False
"""


def sdk_connection(endpoint, timeout=None):
    """An openstacksdk connection to a Placement with ``noauth2``.

    :param timeout: seconds before a request is given up (``api_timeout``);
        None waits as long as the SDK does by default.
    """
    extra = {} if timeout is None else {'api_timeout': timeout}
    # Checked answers and a total deadline, as every connection has.
    return placement_sessions.guard(connection.Connection(
        auth_type='admin_token',
        auth={'endpoint': endpoint, 'token': TOKEN}, **extra),
        placement_conf.DEFAULT_DEADLINE)


class Counting(object):
    """WSGI middleware that counts the requests it passes on, by method.

    ``read_bytes`` counts the bytes of the bodies it answered GETs with.
    """

    def __init__(self, app):
        self.app = app
        self.counts = {}
        self.read_bytes = 0
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        method = environ['REQUEST_METHOD']
        with self._lock:
            self.counts[method] = self.counts.get(method, 0) + 1
        body = self.app(environ, start_response)
        if method != 'GET':
            return body
        return self._counted(body)

    def _counted(self, body):
        try:
            for chunk in body:
                with self._lock:
                    self.read_bytes += len(chunk)
                yield chunk
        finally:
            close = getattr(body, 'close', None)
            if close is not None:
                close()

    def reset(self):
        with self._lock:
            self.counts = {}
            self.read_bytes = 0

    @property
    def total(self):
        return sum(self.counts.values())

    @property
    def writes(self):
        return sum(n for m, n in self.counts.items()
                   if m not in ('GET', 'HEAD'))


class LocalPlacement(object):
    """Start (and always stop) a real Placement; see the module's doc.

    ``with LocalPlacement() as placement: placement.endpoint`` is the URL.

    :param in_process: run it in this process behind wsgi-intercept
        rather than in a child process behind a socket.
    :param port: the child process's port (0: any free one).
    :param workdir: the child process's configuration, database and log
        (default: a temporary directory, removed by :meth:`close`).

    For the child process, :meth:`stop` and :meth:`start` may be called
    again, e.g. to test how a client survives Placement going away; the
    database file is kept across restarts and removed at the end.
    """

    def __init__(self, in_process=False, port=0, workdir=None,
                 start_timeout=60):
        self.in_process = in_process
        self.port = port
        self.start_timeout = start_timeout
        self.process = None
        self.endpoint = None
        self.app = None
        self._sdk = None
        self._fixture = self._intercept = None
        self._own_dir = workdir is None and not in_process
        self.workdir = workdir
        if in_process:
            return
        self.workdir = workdir or tempfile.mkdtemp(prefix='nvc-placement-')
        with open(os.path.join(self.workdir, 'placement.conf'), 'w') as f:
            f.write(CONFIG % {'db': os.path.join(self.workdir,
                                                 'placement.sqlite')})

    @property
    def sdk(self):
        """An openstacksdk connection to :attr:`endpoint`."""
        if self._sdk is None:
            self._sdk = sdk_connection(self.endpoint)
        return self._sdk

    def nova_adapter(self):
        """A keystoneauth adapter of the kind Nova's report client wraps."""
        auth = token_endpoint.Token(self.endpoint, TOKEN)
        # Nova's report client checks status codes itself.
        return adapter.Adapter(session.Session(auth=auth),
                               service_type='placement', raise_exc=False)

    def start(self):
        """Start it (again, for the child process); returns ``self``."""
        if self.in_process:
            self._start_in_process()
        else:
            self._start_process()
        return self

    def _start_in_process(self):
        if self._fixture is not None:
            return
        # Test requirements: imported only when asked for.
        from oslo_utils import uuidutils
        from placement import deploy
        from placement.tests.functional.fixtures import placement as pfix
        from wsgi_intercept import interceptor

        self._fixture = pfix.PlacementFixture(token=TOKEN,
                                              use_intercept=False)
        self._fixture.setUp()
        # The database lives in memory on the pool's one connection;
        # oslo.db recycles a connection after an hour, and the new one
        # opens a new, empty database ("no such table"): a benchmark that
        # ran longer lost its Placement.  Set on the engine in use, which
        # the process's first Placement fixture (maybe a test's own)
        # configured; SQLAlchemy has no public setter.
        from placement import db_api
        db_api.placement_context_manager.writer.get_engine().pool._recycle = (
            -1)
        self.app = Counting(deploy.loadapp(self._fixture.conf_fixture.conf))
        self.endpoint = 'http://%s/placement' % uuidutils.generate_uuid()
        self._intercept = interceptor.RequestsInterceptor(
            lambda: self.app, url=self.endpoint)
        self._intercept.install_intercept()

    def _start_process(self):
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
        """Stop the child process; in this process, stop nothing."""
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
        if self._intercept is not None:
            self._intercept.uninstall_intercept()
            self._intercept = None
        if self._fixture is not None:
            self._fixture.cleanUp()
            self._fixture = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def in_process():
    """A started :class:`LocalPlacement` in this process."""
    return LocalPlacement(in_process=True).start()


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
