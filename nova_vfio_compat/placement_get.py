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

"""Placement reads as plain callables, shared by every reader.

The scheduler filter, the planning commands and the demo read Placement
through a ``get(url, microversion)`` callable over different clients
(Nova's report client, openstacksdk); :func:`body_of` is how each turns
an answer into its decoded body or one :exc:`PlacementUnavailable`
naming the request.  :func:`existing_traits` is the one chunked
``GET /traits?name=in:...``, used by those readers and by the reporter.

No I/O here: the callers pass the call that does it.
"""

# GET /traits?name=in:... from 1.6.
TRAITS_MICROVERSION = '1.6'
# How many names go in one "GET /traits?name=in:..." (keeps URLs short,
# about 4 kB): the accept names of one stream (traits.accept_traits_for,
# 34) fit in one request.
TRAIT_QUERY_CHUNK = 36


class PlacementUnavailable(Exception):
    """Placement could not answer a read; the message names the request."""


def body_of(url, send, errors=()):
    """The decoded JSON body of ``send()``, which performs ``GET url``.

    ``send`` returns a response with ``status_code``, ``text`` and
    ``json()`` (requests' and keystoneauth's do).

    :param errors: the exception classes of the client that mean the
        request failed (a refused connection, a timeout).
    :raises PlacementUnavailable: when ``send`` raises one of ``errors``,
        or the answer is not a 200 with a JSON body.
    """
    try:
        response = send()
    except errors as e:
        raise PlacementUnavailable('Placement GET %s failed: %s'
                                   % (url, e)) from e
    if response is None or response.status_code != 200:
        raise PlacementUnavailable('Placement GET %s answered %s: %s' % (
            url, getattr(response, 'status_code', None),
            (getattr(response, 'text', '') or '').strip()[:200]))
    try:
        return response.json()
    except ValueError as e:
        raise PlacementUnavailable(
            'Placement GET %s answered with no JSON: %s' % (url, e)) from e


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
