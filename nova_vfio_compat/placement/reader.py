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

"""The one way this project reads Placement: :class:`Reader`.

Every reader (the scheduler filter, ``drain`` and ``fleet``, the demo,
the benchmarks) reads Placement through a ``get(url, microversion)``
callable that returns the decoded body *checked against the shape
Placement documents for that route*
(:mod:`nova_vfio_compat.placement.answers`), or raises one
:exc:`PlacementUnavailable` naming the request: Placement unreachable,
an error answer, a body that is not JSON or is nested too deeply, a
malformed answer (:exc:`placement_answers.MalformedAnswer` is one), a
route with no known shape.  :meth:`Reader.over_responses` builds one over
any client whose ``send()`` returns a response (keystoneauth, requests,
openstacksdk); :func:`checking` makes one of a callable that returns
bodies (a test's or a benchmark's cache).  :func:`existing_traits` is the
one chunked ``GET /traits?name=in:...``, used by those readers and by the
reporter.

No I/O here: the callers pass the call that does it, with its deadline
(:mod:`nova_vfio_compat.placement.sessions`).
"""

from nova_vfio_compat.placement import answers as placement_answers

# GET /traits?name=in:... from 1.6.
TRAITS_MICROVERSION = '1.6'
# How many names go in one "GET /traits?name=in:..." (keeps URLs short,
# about 4 kB): the accept names of one stream (traits.accept_traits_for,
# 34) fit in one request.
TRAIT_QUERY_CHUNK = 36

PlacementUnavailable = placement_answers.PlacementUnavailable
MalformedAnswer = placement_answers.MalformedAnswer


def body_of(url, send, errors=()):
    """The decoded JSON body of ``send()``, which performs ``GET url``.

    ``send`` returns a response with ``status_code``, ``text`` and
    ``content`` or ``json()`` (requests' and keystoneauth's do).  The
    body is not checked here: :class:`Reader` does that.

    :param errors: the exception classes of the client that mean the
        request failed (a refused connection, a timeout, a deadline).
    :raises PlacementUnavailable: when ``send`` raises one of ``errors``,
        or the answer is not a 200 with a JSON body.
    """
    what = 'Placement GET %s' % url
    try:
        response = send()
    except PlacementUnavailable:
        raise
    except errors as e:
        raise PlacementUnavailable('%s failed: %s' % (what, e)) from e
    if response is None or response.status_code != 200:
        raise PlacementUnavailable('%s answered %s: %s' % (
            what, getattr(response, 'status_code', None),
            (getattr(response, 'text', '') or '').strip()[:200]))
    content = getattr(response, 'content', None)
    if isinstance(content, (bytes, str)):
        return placement_answers.decode(content, 'GET %s' % url)
    try:
        return response.json()
    except ValueError as e:
        raise MalformedAnswer('GET %s' % url, 'the body is not JSON') from e
    except RecursionError as e:
        raise MalformedAnswer('GET %s' % url,
                              'the body is nested too deeply') from e


# check(url, body, microversion=None): ``body``, the answer to ``GET
# url``, if it has the route's shape.  The one answer-validation policy:
# every route the project reads has a shape (a route without one is
# refused), allocation candidates also name only providers they
# describe.  Raises MalformedAnswer naming the request.  It is
# placement_answers.check_read itself: a small answer costs json.loads a
# few microseconds, a call layer a good part of that.
check = placement_answers.check_read
# check_route(route, url, body, microversion=None): the same, for a
# reader that says which route it reads (a name of
# placement_answers.NAMED_ROUTES): no pattern is matched on the URL.
check_route = placement_answers.check_route


class Reader:
    """``reader(url, microversion, route=None)``: a checked answer's body.

    A caller that knows which route it reads names it (``route``, a name
    of :data:`placement_answers.NAMED_ROUTES`, the shape of what it
    uses): its check is found by name.  Without a name the route is
    found from the URL.  Either way every answer is checked; there is
    no name that skips the check.

    :param get_body: ``get_body(url, microversion)`` returns the decoded
        body or raises :exc:`PlacementUnavailable`.
    """

    checks_answers = True

    def __init__(self, get_body):
        self._get_body = get_body

    def __call__(self, url, microversion, route=None):
        if route is None:
            return check(url, self._get_body(url, microversion),
                         microversion)
        return check_route(route, url, self._get_body(url, microversion),
                           microversion)

    get = __call__

    @classmethod
    def over_responses(cls, send, errors=()):
        """A reader over ``send(url, microversion)``.

        ``send`` returns a response (see :func:`body_of`).
        """
        return cls(lambda url, microversion: body_of(
            url, lambda: send(url, microversion), errors))


def checking(get):
    """``get`` as a :class:`Reader`, unless it already is one.

    :param get: ``get(url, microversion)`` returning a decoded body.
    """
    if getattr(get, 'checks_answers', False):
        return get
    return Reader(get)


def name_filters(names):
    """The ``name`` values of ``GET /traits`` that ask for ``names``.

    ``in:<name>,<name>...``, at most :data:`TRAIT_QUERY_CHUNK` names each,
    in sorted order.
    """
    names = sorted(set(names))
    return ['in:' + ','.join(names[i:i + TRAIT_QUERY_CHUNK])
            for i in range(0, len(names), TRAIT_QUERY_CHUNK)]


def existing_traits(names, list_traits):
    """The names among ``names`` that Placement knows.

    Placement refuses a ``required`` trait it does not know (400), and
    refuses to put one on a provider, so readers and the reporter ask
    first.

    :param list_traits: ``list_traits(name_filter)`` returns the trait
        names of ``GET /traits?name=<name_filter>``.
    """
    known = set()
    for name_filter in name_filters(names):
        known.update(list_traits(name_filter))
    return known
