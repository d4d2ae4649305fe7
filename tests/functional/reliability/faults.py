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

"""A faulty network in front of the real Placement app.

Placement cannot be made to answer 5xx, to stall or to lose a response on
demand, so :class:`FaultyNetwork`, a WSGI middleware around the real
Placement app, does that: the app behind it and its database are real and
every request it lets through is answered by them.  That is a real
Placement seen through a bad network, not a mock of it.

Generation conflicts (409) are *not* made up: :class:`FaultyNetwork` makes
them real by having another agent write to the provider (through the same
app) right before it passes the reporter's traits PUT on, so Placement
itself refuses the stale write.

The middleware also checks the ownership invariant at every observable
point: for every traits PUT that Placement accepts, the traits not owned
by the reporter are the same before and after it.  A violation is
recorded in ``violations`` (the tests assert there is none).
"""

import json
import random
import re
import threading
import time

import webob

from nova_vfio_compat.model import traits as nvc_traits

TRAITS_PUT = re.compile(r'^(?:/placement)?/resource_providers/([^/]+)/traits$')

# What fault to inject, in :meth:`FaultyNetwork.plan`.
ERROR_5XX = 'error-5xx'          # answered by the network, never reaches
LOST_ANSWER = 'lost-answer'      # applied by Placement, answer lost (502)
CONFLICT = 'conflict'            # another agent writes first: a real 409
STALL = 'stall'                  # no answer within the client's timeout
GARBAGE = 'garbage'              # 200 with a body that is not Placement's
MALFORMED = 'malformed'          # Placement's 200 body with a field changed


def foreign(names):
    return frozenset(n for n in names if not nvc_traits.is_owned(n))


class FaultyNetwork:
    """WSGI middleware injecting faults before the real Placement app.

    :param app: the Placement WSGI app.
    :param stall_seconds: how long a :data:`STALL` holds the request.
    """

    def __init__(self, app, stall_seconds=1.0):
        self.app = app
        self.stall_seconds = stall_seconds
        self.violations = []
        self.injected = {}
        self.other_agent_traits = set()
        self._lock = threading.Lock()
        self._faults = []
        self._rate = 0.0
        self._rate_kinds = ()
        self._random = random.Random(0)

    # Configuring faults ----------------------------------------------

    def plan(self, kind, count=1, method=None, path=None, malform=None):
        """Inject ``kind`` into the next ``count`` matching requests.

        ``method`` and ``path`` (a regular expression searched in the
        path) narrow which requests match; None matches every one.  For
        :data:`MALFORMED`, ``malform`` turns the decoded JSON body of
        Placement's real 200 answer into the one the client gets.
        """
        with self._lock:
            self._faults.append([kind, count, method,
                                 re.compile(path) if path else None,
                                 malform])

    def random_faults(self, rate, kinds, seed=0):
        """Inject one of ``kinds`` into a fraction ``rate`` of requests."""
        with self._lock:
            self._rate = rate
            self._rate_kinds = tuple(kinds)
            self._random = random.Random(seed)

    def heal(self):
        """No more faults."""
        with self._lock:
            self._faults = []
            self._rate = 0.0

    def _pick(self, method, path):
        with self._lock:
            for fault in self._faults:
                kind, count, want_method, want_path, malform = fault
                if count <= 0:
                    continue
                if want_method and want_method != method:
                    continue
                if want_path and not want_path.search(path):
                    continue
                fault[1] -= 1
                return kind, malform
            if self._rate and self._random.random() < self._rate:
                return self._random.choice(self._rate_kinds), None
        return None, None

    # Talking to the real app directly --------------------------------

    def call_app(self, method, path, body=None, version='1.6'):
        """A request straight to the Placement app, past the faults."""
        req = webob.Request.blank(path, method=method)
        req.headers['X-Auth-Token'] = 'admin'
        req.headers['OpenStack-API-Version'] = 'placement %s' % version
        req.headers['Accept'] = 'application/json'
        if body is not None:
            req.body = json.dumps(body).encode()
            req.content_type = 'application/json'
        resp = req.get_response(self.app)
        return resp.status_int, (resp.json if resp.body else None)

    def _traits(self, prefix, rp_uuid):
        status, body = self.call_app(
            'GET', '%s/resource_providers/%s/traits' % (prefix, rp_uuid))
        return body if status == 200 else None

    def other_agent_writes(self, prefix, rp_uuid):
        """Another agent adds a trait of its own to the provider."""
        name = 'CUSTOM_OTHER_AGENT_%d' % len(self.other_agent_traits)
        self.call_app('PUT', '%s/traits/%s' % (prefix, name))
        current = self._traits(prefix, rp_uuid)
        status, _ = self.call_app(
            'PUT', '%s/resource_providers/%s/traits' % (prefix, rp_uuid),
            {'traits': sorted(set(current['traits']) | {name}),
             'resource_provider_generation':
                 current['resource_provider_generation']})
        if status == 200:
            with self._lock:
                self.other_agent_traits.add(name)

    # WSGI ----------------------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ['REQUEST_METHOD']
        path = environ.get('PATH_INFO', '')
        kind, malform = self._pick(method, path)
        if kind is not None:
            with self._lock:
                self.injected[kind] = self.injected.get(kind, 0) + 1
        if kind == ERROR_5XX:
            return _error(start_response, '503 Service Unavailable')
        if kind == STALL:
            time.sleep(self.stall_seconds)
            return _error(start_response, '504 Gateway Timeout')
        if kind == GARBAGE:
            # A captive portal or a misrouted proxy answering for Placement.
            start_response('200 OK', [('Content-Type', 'text/html')])
            return [b'<html><body>Please log in</body></html>']
        prefix = '/placement' if path.startswith('/placement') else ''
        match = TRAITS_PUT.match(path) if method == 'PUT' else None
        if kind == CONFLICT and match:
            self.other_agent_writes(prefix, match.group(1))
        before = self._traits(prefix, match.group(1)) if match else None
        status = []

        def recording(status_line, headers, *args):
            status.append(int(status_line.split()[0]))
            if kind == LOST_ANSWER:
                return start_response('502 Bad Gateway',
                                      [('Content-Type', 'text/plain')])
            return start_response(status_line, headers, *args)

        if kind == MALFORMED:
            return self._malformed(environ, start_response, malform)
        body = self.app(environ, recording)
        if kind == LOST_ANSWER:
            # Placement did the work; the client never hears of it.
            b''.join(body)
            body = [b'bad gateway']
        if match and status and status[0] == 200:
            self._check(prefix, match.group(1), before)
        return body

    def _malformed(self, environ, start_response, malform):
        """Placement's real answer, with ``malform`` applied to a 200 body.

        ``malform`` returns the new body, or its bytes.

        A write is applied by Placement as usual; only its answer is
        changed.
        """
        answer = []

        def recording(status_line, headers, *args):
            answer.append((status_line, headers))

        body = b''.join(self.app(environ, recording))
        status_line, headers = answer[0]
        if status_line.startswith('200') and body:
            body = malform(json.loads(body))
            # bytes as they are: what json.dumps cannot make (nesting
            # deeper than the interpreter recurses).
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            headers = [(k, v) for k, v in headers
                       if k.lower() != 'content-length']
            headers.append(('Content-Length', str(len(body))))
        start_response(status_line, headers)
        return [body]

    def _check(self, prefix, rp_uuid, before):
        after = self._traits(prefix, rp_uuid)
        if before is None or after is None:
            return
        lost = foreign(before['traits']) - frozenset(after['traits'])
        if lost:
            with self._lock:
                self.violations.append((rp_uuid, sorted(lost)))


def _error(start_response, status):
    start_response(status, [('Content-Type', 'application/json')])
    return [json.dumps({'errors': [{'status': int(status.split()[0]),
                                    'title': status,
                                    'detail': 'injected by the test '
                                              'network'}]}).encode()]
