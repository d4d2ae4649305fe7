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

"""The shapes of the Placement answers this project reads, and their check.

An answer is checked against the shape the Placement API reference
documents before anything is decided or written from it: a traits PUT
replaces a provider's whole set, so writing back from a misread answer
(``"traits": "X"``, which a client library happily turns into a list)
would drop traits this project does not own.  Placement's own schemas
(``placement.schemas``) describe requests, not answers, hence these.

Every route the project reads has its shape here (:data:`ROUTES`), and
there is one policy: a GET answer of a route with no shape is refused
(:func:`check_answer` with ``strict``), a malformed answer is a
:exc:`MalformedAnswer`, which is a :exc:`PlacementUnavailable` naming the
request.  Every reader goes through :mod:`nova_vfio_compat.placement_get`;
every openstacksdk connection checks its answers as they arrive
(:mod:`nova_vfio_compat.placement_http`).

Pure: no I/O.
"""

import copy
import json
import re

import jsonschema

from nova_vfio_compat import records


class PlacementUnavailable(Exception):
    """Placement could not answer a read; the message names the request."""


class MalformedAnswer(PlacementUnavailable, ValueError):
    """A Placement answer that is not shaped as Placement documents it."""

    def __init__(self, what, message):
        self.what = what
        super().__init__('%s: malformed answer from Placement: %s'
                         % (what, message))


GENERATION = {'type': 'integer', 'minimum': 0}
UUID = {
    'type': 'string',
    'pattern': '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?'
               '[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\\Z',
}
# Standard and custom trait and resource class names alike.
NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255,
        'pattern': '^[A-Z0-9_]+\\Z'}
NAMES = {'type': 'array', 'items': NAME}
LINKS = {
    'type': 'array',
    'items': {'type': 'object',
              'properties': {'href': {'type': 'string'},
                             'rel': {'type': 'string'}}},
}

# One resource provider (GET /resource_providers/{uuid}, and each item of
# a listing); parent and root from microversion 1.14.
PROVIDER = {
    'type': 'object',
    'required': ['uuid', 'name', 'generation'],
    'properties': {
        'uuid': UUID,
        'name': {'type': 'string', 'minLength': 1, 'maxLength': 200},
        'generation': GENERATION,
        'parent_provider_uuid': {'oneOf': [UUID, {'type': 'null'}]},
        'root_provider_uuid': UUID,
        'links': LINKS,
    },
}

# GET /resource_providers
PROVIDERS = {
    'type': 'object',
    'required': ['resource_providers'],
    'properties': {'resource_providers': {'type': 'array',
                                          'items': PROVIDER}},
}

# GET /resource_providers at 1.14 or later, where the filter needs each
# provider's root.
PROVIDERS_WITH_ROOTS = {
    'type': 'object',
    'required': ['resource_providers'],
    'properties': {
        'resource_providers': {
            'type': 'array',
            'items': dict(PROVIDER, required=PROVIDER['required'] + [
                'root_provider_uuid']),
        },
    },
}

# GET and PUT /resource_providers/{uuid}/traits
PROVIDER_TRAITS = {
    'type': 'object',
    'required': ['traits', 'resource_provider_generation'],
    'properties': {'traits': NAMES,
                   'resource_provider_generation': GENERATION},
}

# GET /traits
TRAITS = {
    'type': 'object',
    'required': ['traits'],
    'properties': {'traits': NAMES},
}

# GET /resource_classes
RESOURCE_CLASSES = {
    'type': 'object',
    'required': ['resource_classes'],
    'properties': {
        'resource_classes': {
            'type': 'array',
            'items': {'type': 'object', 'required': ['name'],
                      'properties': {'name': NAME, 'links': LINKS}},
        },
    },
}

# GET /allocations/{consumer_uuid} (1.28: generations and consumer fields)
ALLOCATIONS = {
    'type': 'object',
    'required': ['allocations'],
    'properties': {
        'allocations': {
            'type': 'object',
            'propertyNames': UUID,
            'additionalProperties': {
                'type': 'object',
                'required': ['resources'],
                'properties': {
                    'generation': GENERATION,
                    'resources': {
                        'type': 'object',
                        'propertyNames': NAME,
                        'additionalProperties': {'type': 'integer',
                                                 'minimum': 0},
                    },
                },
            },
        },
        'consumer_generation': {'oneOf': [GENERATION, {'type': 'null'}]},
    },
}

# GET /resource_providers/{uuid}/allocations
PROVIDER_ALLOCATIONS = {
    'type': 'object',
    'required': ['allocations'],
    'properties': {
        'allocations': {
            'type': 'object',
            'propertyNames': UUID,
            'additionalProperties': {
                'type': 'object',
                'required': ['resources'],
                'properties': {'resources': ALLOCATIONS['properties'][
                    'allocations']['additionalProperties']['properties'][
                        'resources']},
            },
        },
        'resource_provider_generation': GENERATION,
    },
}

# GET /resource_providers/{uuid}/inventories
INVENTORIES = {
    'type': 'object',
    'required': ['inventories', 'resource_provider_generation'],
    'properties': {
        'inventories': {
            'type': 'object',
            'propertyNames': NAME,
            'additionalProperties': {
                'type': 'object',
                'required': ['total'],
                'properties': {
                    'total': {'type': 'integer', 'minimum': 1},
                    'reserved': {'type': 'integer', 'minimum': 0},
                    'min_unit': {'type': 'integer', 'minimum': 1},
                    'max_unit': {'type': 'integer', 'minimum': 1},
                    'step_size': {'type': 'integer', 'minimum': 1},
                },
            },
        },
        'resource_provider_generation': GENERATION,
    },
}

# GET /allocation_candidates at 1.34 or later: mappings (which provider
# satisfies which numbered group) and, from 1.29, provider summaries
# with the traits, parent and root of every provider of a candidate
# (the filter reads Nova's own query at 1.36 to tell a truncated answer).
ALLOCATION_CANDIDATES = {
    'type': 'object',
    'required': ['allocation_requests', 'provider_summaries'],
    'properties': {
        'allocation_requests': {
            'type': 'array',
            'items': {
                'type': 'object',
                'required': ['allocations', 'mappings'],
                'properties': {
                    'allocations': PROVIDER_ALLOCATIONS['properties'][
                        'allocations'],
                    'mappings': {
                        'type': 'object',
                        'additionalProperties': {'type': 'array',
                                                 'items': UUID},
                    },
                },
            },
        },
        'provider_summaries': {
            'type': 'object',
            'propertyNames': UUID,
            'additionalProperties': {
                'type': 'object',
                'required': ['resources', 'traits', 'root_provider_uuid'],
                'properties': {
                    'resources': {
                        'type': 'object',
                        'propertyNames': NAME,
                        'additionalProperties': {
                            'type': 'object',
                            'required': ['capacity', 'used'],
                            'properties': {
                                'capacity': {'type': 'integer',
                                             'minimum': 0},
                                'used': {'type': 'integer', 'minimum': 0},
                            },
                        },
                    },
                    'traits': NAMES,
                    'parent_provider_uuid': {'oneOf': [UUID,
                                                       {'type': 'null'}]},
                    'root_provider_uuid': UUID,
                },
            },
        },
    },
}


def _loosened(schema, path, drop):
    """A copy of ``schema`` whose object at ``path`` requires less."""
    schema = copy.deepcopy(schema)
    node = schema
    for key in path:
        node = node[key]
    node['required'] = [k for k in node['required'] if k not in drop]
    return schema


# The same before 1.34 (no mappings) and 1.29 (summaries without traits
# and roots), for a client that asks at an older microversion.
ALLOCATION_CANDIDATES_BEFORE_1_34 = _loosened(_loosened(
    ALLOCATION_CANDIDATES,
    ('properties', 'allocation_requests', 'items'), ('mappings',)),
    ('properties', 'provider_summaries', 'additionalProperties'),
    ('traits', 'root_provider_uuid'))

_UUID_PART = '[0-9a-fA-F-]{32,36}'
# (method, path pattern, schema): which answers are checked, by request.
ROUTES = (
    ('GET', re.compile('/resource_providers\\Z'), PROVIDERS),
    ('GET', re.compile('/resource_providers/%s\\Z' % _UUID_PART), PROVIDER),
    ('GET', re.compile('/resource_providers/%s/traits\\Z' % _UUID_PART),
     PROVIDER_TRAITS),
    ('PUT', re.compile('/resource_providers/%s/traits\\Z' % _UUID_PART),
     PROVIDER_TRAITS),
    ('GET', re.compile('/traits\\Z'), TRAITS),
    ('GET', re.compile('/resource_classes\\Z'), RESOURCE_CLASSES),
    ('GET', re.compile('/allocations/%s\\Z' % _UUID_PART), ALLOCATIONS),
    ('GET', re.compile('/resource_providers/%s/allocations\\Z' % _UUID_PART),
     PROVIDER_ALLOCATIONS),
    ('GET', re.compile('/resource_providers/%s/inventories\\Z' % _UUID_PART),
     INVENTORIES),
    ('GET', re.compile('/allocation_candidates\\Z'), ALLOCATION_CANDIDATES),
)


# GET / of Placement: its version document.
VERSIONS = {
    'type': 'object',
    'required': ['versions'],
    'properties': {
        'versions': {
            'type': 'array',
            'items': {
                'type': 'object',
                'required': ['max_version'],
                'properties': {'max_version': {
                    'type': 'string', 'pattern': '^[0-9]+\\.[0-9]+\\Z'}},
            },
        },
    },
}

# Routes the readers check but a session's response hook does not: the
# root of every service on a shared session (Keystone's version document
# is another shape) is "/".
READER_ROUTES = (
    ('GET', re.compile('^/?\\Z'), VERSIONS),
)

# Answers that have less in them when asked at an older microversion.
_OLDER = {id(ALLOCATION_CANDIDATES): ((1, 34),
                                      ALLOCATION_CANDIDATES_BEFORE_1_34)}


def _version(microversion):
    try:
        major, minor = str(microversion).split('.')
        return int(major), int(minor)
    except ValueError:
        return None


def schema_for(method, path, microversion=None, reader=False):
    """The schema of the answer to ``method path``, or None if unchecked.

    :param microversion: the one asked at (``'1.39'``); None for a
        request that did not say (Placement answers at 1.0).
    :param reader: include :data:`READER_ROUTES` (``path`` is then
        relative to Placement's endpoint).
    """
    for want_method, pattern, schema in ROUTES + (
            READER_ROUTES if reader else ()):
        if method == want_method and pattern.search(path):
            older = _OLDER.get(id(schema))
            if older is not None:
                version = _version(microversion) or (1, 0)
                if version < older[0]:
                    return older[1]
            return schema
    return None


_TYPES = {
    'object': lambda v: isinstance(v, dict),
    'array': lambda v: isinstance(v, list),
    'string': lambda v: isinstance(v, str),
    'integer': lambda v: isinstance(v, int) and not isinstance(v, bool),
    'null': lambda v: v is None,
}
_PATTERNS = {}


def _pattern(text):
    compiled = _PATTERNS.get(text)
    if compiled is None:
        compiled = _PATTERNS[text] = re.compile(text)
    return compiled


def conforms(value, schema):
    """Does ``value`` have the shape ``schema``?  Fast, no message.

    A listing of a thousand providers costs jsonschema about a millisecond
    per provider, too much for the filter's per-request reads.  This
    evaluates the few keywords the schemas of this module use, the way
    jsonschema (with records.Validator's exact integers) does; a property
    test holds the two to the same answers, and jsonschema still says what
    is wrong when this says no.
    """
    for keyword, arg in schema.items():
        if keyword == 'type':
            if not _TYPES[arg](value):
                return False
        elif keyword == 'oneOf':
            if sum(conforms(value, s) for s in arg) != 1:
                return False
        elif isinstance(value, dict):
            if keyword == 'required':
                if any(k not in value for k in arg):
                    return False
            elif keyword == 'properties':
                if any(k in value and not conforms(value[k], s)
                       for k, s in arg.items()):
                    return False
            elif keyword == 'propertyNames':
                if not all(conforms(k, arg) for k in value):
                    return False
            elif keyword == 'additionalProperties':
                known = schema.get('properties', {})
                if not all(conforms(v, arg) for k, v in value.items()
                           if k not in known):
                    return False
        elif isinstance(value, list):
            if keyword == 'items':
                if not all(conforms(v, arg) for v in value):
                    return False
        elif isinstance(value, str):
            if keyword == 'pattern':
                if not _pattern(arg).search(value):
                    return False
            elif keyword == 'minLength':
                if len(value) < arg:
                    return False
            elif keyword == 'maxLength':
                if len(value) > arg:
                    return False
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if keyword == 'minimum' and value < arg:
                return False
    return True


def check(body, schema, what):
    """Return ``body`` if it has the shape ``schema``.

    :param what: names the request in the message (``GET /traits``).
    :raises MalformedAnswer: naming ``what`` and the place in the body.
    """
    if _plain(body) and conforms(body, schema):
        return body
    try:
        records.check_plain(body, what)
        records.validate(body, schema, what)
    except records.InvalidDocument as e:
        where = ('at %s: ' % e.path) if e.path else ''
        raise MalformedAnswer(what, where + _short(e.message))
    except (jsonschema.exceptions.ValidationError, RecursionError) as e:
        raise MalformedAnswer(what, _short(str(e)))
    return body


def check_answer(method, path, body, what=None, strict=False,
                 microversion=None):
    """:func:`check` with the schema of ``method path``.

    :param strict: refuse an answer of a route with no schema here (what
        the readers do: every route the project reads has one); else
        such an answer is returned unchecked (answers to Nova's API on
        the same connection).
    :raises MalformedAnswer: naming ``what`` (default ``method path``).
    """
    what = what or '%s %s' % (method, path)
    schema = schema_for(method, path, microversion, reader=strict)
    if schema is None:
        if strict:
            raise MalformedAnswer(what, 'no shape is known for this route, '
                                        'so the answer cannot be checked')
        return body
    check(body, schema, what)
    if schema is ALLOCATION_CANDIDATES or \
            schema is ALLOCATION_CANDIDATES_BEFORE_1_34:
        _candidates_consistent(body, what)
    return body


def _candidates_consistent(body, what):
    """Every provider a candidate names is described by the summaries."""
    summaries = body['provider_summaries']
    for n, request in enumerate(body['allocation_requests']):
        named = set(request['allocations'])
        for uuids in request.get('mappings', {}).values():
            named.update(uuids)
        unknown = sorted(u for u in named if u not in summaries)
        if unknown:
            raise MalformedAnswer(
                what, 'allocation_requests[%d] names provider(s) %s that '
                      'provider_summaries does not describe'
                      % (n, ', '.join(unknown)))


def decode(content, what):
    """The JSON value of an answer's body, or :exc:`MalformedAnswer`.

    A body nested deeper than the interpreter can decode
    (``RecursionError``) is malformed too.
    """
    try:
        return json.loads(content)
    except (ValueError, TypeError):
        raise MalformedAnswer(what, 'the body is not JSON')
    except RecursionError:
        raise MalformedAnswer(what, 'the body is nested too deeply')


def _plain(value, depth=0):
    """JSON-decoded data with well-formed text, shallow (fast path)."""
    if isinstance(value, str):
        return value.isascii() or _encodes(value)
    if isinstance(value, dict):
        return depth < 16 and all(
            isinstance(k, str) and _plain(k) and _plain(v, depth + 1)
            for k, v in value.items())
    if isinstance(value, list):
        return depth < 16 and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() <= 128
    return value is None or isinstance(value, (bool, float))


def _encodes(text):
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def _short(text, limit=300):
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[:limit] + '...'
