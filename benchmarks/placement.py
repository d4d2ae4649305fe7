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

"""The real Placement app, in this process, with a request counter.

``placement.tests.functional.fixtures.placement.PlacementFixture`` gives
the app its configuration and a fresh in-memory sqlite database; the app is
served through wsgi-intercept (no socket), wrapped in :class:`Counting` so
the benchmarks can say how many requests something made.
"""

import threading

from keystoneauth1 import adapter
from keystoneauth1 import session
from keystoneauth1 import token_endpoint
from openstack import connection
from oslo_utils import uuidutils
from placement import deploy
from placement.tests.functional.fixtures import placement as pfix
from wsgi_intercept import interceptor


class Counting:
    """WSGI middleware that counts requests, by method."""

    def __init__(self, app):
        self.app = app
        self.counts = {}
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        method = environ['REQUEST_METHOD']
        with self._lock:
            self.counts[method] = self.counts.get(method, 0) + 1
        return self.app(environ, start_response)

    def reset(self):
        with self._lock:
            self.counts = {}

    @property
    def total(self):
        return sum(self.counts.values())

    @property
    def writes(self):
        return sum(n for m, n in self.counts.items()
                   if m not in ('GET', 'HEAD'))


class InProcessPlacement:
    """Placement on in-memory sqlite, reachable at ``endpoint``.

    ``sdk`` is an openstacksdk connection (what the reporter uses);
    :meth:`nova_adapter` a keystoneauth adapter of the kind Nova's report
    client wraps (what the filter uses).
    """

    def __init__(self):
        self._fixture = pfix.PlacementFixture(use_intercept=False)
        self._fixture.setUp()
        self.app = Counting(deploy.loadapp(self._fixture.conf_fixture.conf))
        self.endpoint = 'http://%s/placement' % uuidutils.generate_uuid()
        self._intercept = interceptor.RequestsInterceptor(
            lambda: self.app, url=self.endpoint)
        self._intercept.install_intercept()
        self.sdk = connection.Connection(
            auth_type='admin_token',
            auth={'endpoint': self.endpoint, 'token': 'admin'})

    def nova_adapter(self):
        auth = token_endpoint.Token(self.endpoint, 'admin')
        # Nova's report client checks status codes itself.
        return adapter.Adapter(session.Session(auth=auth),
                               service_type='placement', raise_exc=False)

    def close(self):
        self._intercept.uninstall_intercept()
        self._fixture.cleanUp()
