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

"""The HTTP side of reading Placement: deadlines and checked connections.

A client's ``timeout`` bounds each read from the socket, not a request: a
Placement (or a proxy) that answers one byte a second never trips it.
:func:`within` gives a call a total deadline; :class:`DeadlineAdapter`
gives one to every request of a requests session (openstacksdk's and
keystoneauth's), and :func:`guard` installs it on an openstacksdk
connection together with the check of every Placement answer it gets
(:mod:`nova_vfio_compat.placement.answers`), on every connection path.

A request past its deadline raises :exc:`DeadlineExceeded` (a
:exc:`placement_reader.PlacementUnavailable`) in the caller; the abandoned
read runs on in a daemon thread until the per-read timeout or the server
ends it, and its answer is dropped.
"""

import threading
from urllib import parse

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
import requests

from nova_vfio_compat.placement import answers as placement_answers
from nova_vfio_compat.placement import reader as placement_reader

# What a client raises when a request fails (refused, timed out, a 200
# that is not JSON for requests' json()), beside PlacementUnavailable.
CLIENT_ERRORS = (ks_exceptions.ClientException,
                 sdk_exceptions.SDKException,
                 requests.exceptions.RequestException)


class DeadlineExceeded(placement_reader.PlacementUnavailable):
    """A Placement request did not complete within its total deadline."""


def within(seconds, call, what):
    """``call()``, or :exc:`DeadlineExceeded` after ``seconds``.

    :param seconds: the total deadline; None or 0 waits as long as
        ``call`` takes.
    :param what: names the request in the message.
    """
    if not seconds:
        return call()
    outcome = {}
    done = threading.Event()

    def run():
        try:
            outcome['value'] = call()
        except BaseException as e:  # handed to the caller below
            outcome['error'] = e
        finally:
            done.set()

    worker = threading.Thread(target=run, name='placement-request',
                              daemon=True)
    worker.start()
    if not done.wait(seconds):
        raise DeadlineExceeded(
            '%s: no complete answer within the deadline of %g s '
            '(Placement or a proxy answers too slowly)' % (what, seconds))
    if 'error' in outcome:
        raise outcome['error']
    return outcome['value']


class DeadlineAdapter(requests.adapters.BaseAdapter):
    """A requests transport adapter that gives ``inner`` a deadline.

    The whole request, the body included, completes within ``seconds``
    or :exc:`DeadlineExceeded` is raised (keystoneauth and openstacksdk
    pass it on unchanged).
    """

    def __init__(self, inner, seconds):
        super().__init__()
        self.inner = inner
        self.seconds = seconds

    def send(self, request, stream=False, **kwargs):
        def call():
            response = self.inner.send(request, stream=stream, **kwargs)
            if not stream:
                response.content  # read the body within the deadline
            return response

        return within(self.seconds, call, '%s %s' % (
            request.method, request.url))

    def close(self):
        self.inner.close()


def _microversion(request):
    header = request.headers.get('OpenStack-API-Version', '')
    name, _, version = header.strip().partition(' ')
    return version.strip() if name.lower() == 'placement' else None


def _check_response(response, *args, **kwargs):
    """A requests response hook: raise MalformedAnswer for a bad body."""
    if response.status_code != 200 or response.request is None:
        return response
    method = response.request.method
    path = parse.urlsplit(response.request.url).path
    microversion = _microversion(response.request)
    if placement_answers.schema_for(method, path, microversion) is None:
        return response
    what = '%s %s' % (method, path)
    body = placement_answers.decode(response.content, what)
    placement_answers.check_answer(method, path, body, what,
                                   microversion=microversion)
    return response


def guard(conn, deadline):
    """Make ``conn`` check every Placement answer, within ``deadline``.

    The check runs as a response hook of the connection's HTTP session,
    before keystoneauth and openstacksdk see the answer, so a malformed
    answer raises :exc:`placement_answers.MalformedAnswer` from the SDK
    call that read it and nothing is built (or written back) from it.
    Every request of the session gets the total ``deadline`` (seconds;
    None for none).  Idempotent; returns ``conn``.
    """
    session = conn.session.session
    hooks = session.hooks.setdefault('response', [])
    if _check_response not in hooks:
        hooks.append(_check_response)
    for prefix, adapter in list(session.adapters.items()):
        if isinstance(adapter, DeadlineAdapter):
            adapter.seconds = deadline
        else:
            session.mount(prefix, DeadlineAdapter(adapter, deadline))
    return conn


def deadline_of(conn):
    """The deadline :func:`guard` gave ``conn``, or None."""
    for adapter in conn.session.session.adapters.values():
        if isinstance(adapter, DeadlineAdapter):
            return adapter.seconds
    return None


def sdk_reader(conn):
    """The :class:`placement_reader.Reader` of an openstacksdk connection."""
    return placement_reader.Reader.over_responses(
        lambda url, microversion: conn.placement.get(
            url, microversion=microversion), CLIENT_ERRORS)
