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

A shape holds what the readers use of an answer (the fields they read,
with their types and bounds), not everything Placement documents: what
no reader uses cannot mislead one.  It is checked by code compiled from
it (:class:`_Compiler`); jsonschema, the reference, writes the message
of a refusal.  A reader that says which route it reads has its check
found by name (:func:`check_route`, :data:`NAMED_ROUTES`); any other
reader's answer finds its route by one regular expression
(:func:`check_read`).

Every route the project reads has its shape here (:data:`ROUTES`), and
there is one policy: a GET answer of a route with no shape is refused
(:func:`check_answer` with ``strict``), a malformed answer is a
:exc:`MalformedAnswer`, which is a :exc:`PlacementUnavailable` naming the
request.  Every reader goes through :mod:`nova_vfio_compat.placement.reader`;
every openstacksdk connection checks its answers as they arrive
(:mod:`nova_vfio_compat.placement.sessions`).

Pure: no I/O.
"""

import copy
import itertools
import json
import operator
import re
from urllib import parse

import jsonschema

from nova_vfio_compat.model import records


class PlacementUnavailable(Exception):
    """Placement could not answer a read; the message names the request."""


class MalformedAnswer(PlacementUnavailable, ValueError):
    """A Placement answer that is not shaped as Placement documents it."""

    def __init__(self, what, message):
        self.what = what
        super().__init__('%s: malformed answer from Placement: %s'
                         % (what, message))


# The integers the readers use (generations, totals, amounts): no larger
# than Placement's widest column (a SQL BIGINT).
COUNT_MAX = 2 ** 63 - 1
GENERATION = {'type': 'integer', 'minimum': 0, 'maximum': COUNT_MAX}
AMOUNT = {'type': 'integer', 'minimum': 0, 'maximum': COUNT_MAX}
UUID = {
    'type': 'string',
    'pattern': '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?'
               '[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\\Z',
}
NULLABLE_UUID = {'oneOf': [UUID, {'type': 'null'}]}
# Standard and custom trait and resource class names alike.  The readers
# only compare them with names they make (of at most 255 characters), so
# a longer one would be unknown, not harmful: the length is not checked
# (a pass over every name of every provider summary).
NAME = {'type': 'string', 'minLength': 1, 'pattern': '^[A-Z0-9_]+\\Z'}
NAMES = {'type': 'array', 'items': NAME}
# Text shown to an operator (a provider's name): well-formed Unicode, no
# lone surrogate (which cannot be printed or encoded).
TEXT_PATTERN = '^[^\\ud800-\\udfff]*\\Z'

# One resource provider (GET /resource_providers/{uuid}, and each item of
# a listing), as far as the readers use it: not its links.  Parent and
# root are in every answer from microversion 1.14 (:data:`_OLDER`), and
# the readers use them from there.
PROVIDER = {
    'type': 'object',
    'required': ['uuid', 'name', 'generation', 'parent_provider_uuid',
                 'root_provider_uuid'],
    'properties': {
        'uuid': UUID,
        'name': {'type': 'string', 'minLength': 1, 'maxLength': 200,
                 'pattern': TEXT_PATTERN},
        'generation': GENERATION,
        'parent_provider_uuid': NULLABLE_UUID,
        'root_provider_uuid': UUID,
    },
}

# GET /resource_providers
PROVIDERS = {
    'type': 'object',
    'required': ['resource_providers'],
    'properties': {'resource_providers': {'type': 'array',
                                          'items': PROVIDER}},
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
                      'properties': {'name': NAME}},
        },
    },
}

# What a consumer holds on a provider: {resource class: amount}.
RESOURCES = {
    'type': 'object',
    'propertyNames': NAME,
    'additionalProperties': AMOUNT,
}
# {provider: {"resources": ...}}: a consumer's allocations, a provider's
# (by consumer) and an allocation candidate's.
ALLOCATED = {
    'type': 'object',
    'propertyNames': UUID,
    'additionalProperties': {
        'type': 'object',
        'required': ['resources'],
        'properties': {'resources': RESOURCES},
    },
}

# GET /allocations/{consumer_uuid}: the readers use the resources (not
# the generations or the consumer's fields of 1.28).
ALLOCATIONS = {
    'type': 'object',
    'required': ['allocations'],
    'properties': {'allocations': ALLOCATED},
}

# GET /resource_providers/{uuid}/allocations
PROVIDER_ALLOCATIONS = ALLOCATIONS

# GET /resource_providers/{uuid}/inventories: the readers use the totals.
INVENTORIES = {
    'type': 'object',
    'required': ['inventories'],
    'properties': {
        'inventories': {
            'type': 'object',
            'propertyNames': NAME,
            'additionalProperties': {
                'type': 'object',
                'required': ['total'],
                'properties': {
                    'total': {'type': 'integer', 'minimum': 1,
                              'maximum': COUNT_MAX},
                },
            },
        },
    },
}

# GET /allocation_candidates at 1.34 or later: mappings (which provider
# satisfies which numbered group) and, from 1.29, provider summaries
# with the traits, resources and root of every provider of a candidate
# (the filter reads Nova's own query at 1.36 to tell a truncated answer).
# The readers use a candidate's providers (its allocations' keys, its
# mappings), not the amounts: the providers are checked by being
# described in the summaries (check_answer), whose keys are UUIDs.
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
                    'allocations': {'type': 'object'},
                    'mappings': {
                        'type': 'object',
                        'additionalProperties': {'type': 'array'},
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
                                'capacity': AMOUNT,
                                'used': AMOUNT,
                            },
                        },
                    },
                    'traits': NAMES,
                    'root_provider_uuid': UUID,
                },
            },
        },
    },
}


# What the scheduler filter uses of allocation candidates (Nova's own
# query, read again to tell a truncated answer,
# :meth:`nova_vfio_compat.selection.placement_reads.RequestReads.candidates`):
# how many allocation requests there are, and the root of every provider
# the summaries describe.  Checking what is used: the whole shape
# (:data:`ALLOCATION_CANDIDATES`) costs most of json.loads of 2.3 MB at
# 1,000 hosts, this a few hundredths.  ``drain`` uses the whole shape.
ALLOCATION_CANDIDATES_COUNTED = {
    'type': 'object',
    'required': ['allocation_requests', 'provider_summaries'],
    'properties': {
        'allocation_requests': {'type': 'array'},
        'provider_summaries': {
            'type': 'object',
            'additionalProperties': {
                'type': 'object',
                'required': ['root_provider_uuid'],
                'properties': {'root_provider_uuid': UUID},
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

# Providers before 1.14: no parent, no root.
PROVIDER_BEFORE_1_14 = _loosened(PROVIDER, (), ('parent_provider_uuid',
                                                'root_provider_uuid'))
PROVIDERS_BEFORE_1_14 = dict(PROVIDERS, properties={
    'resource_providers': {'type': 'array', 'items': PROVIDER_BEFORE_1_14}})

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

# The routes by the name a reader gives when it says which route it
# reads (:func:`check_route`): the caller knows it, so no pattern is
# matched.  A reader names the shape of what it uses; "candidates
# counted" is a shape of allocation candidates for a reader that uses
# only their count and roots (:data:`ALLOCATION_CANDIDATES_COUNTED`).
NAMED_ROUTES = {
    'providers': PROVIDERS,
    'provider': PROVIDER,
    'provider traits': PROVIDER_TRAITS,
    'traits': TRAITS,
    'resource classes': RESOURCE_CLASSES,
    'allocations': ALLOCATIONS,
    'provider allocations': PROVIDER_ALLOCATIONS,
    'inventories': INVENTORIES,
    'allocation candidates': ALLOCATION_CANDIDATES,
    'candidates counted': ALLOCATION_CANDIDATES_COUNTED,
    'versions': VERSIONS,
}

# Answers that have less in them when asked at an older microversion.
_OLDER = {id(ALLOCATION_CANDIDATES): ((1, 34),
                                      ALLOCATION_CANDIDATES_BEFORE_1_34),
          id(PROVIDERS): ((1, 14), PROVIDERS_BEFORE_1_14),
          id(PROVIDER): ((1, 14), PROVIDER_BEFORE_1_14)}


# {microversion as asked: (major, minor) or None}; a client asks at a few.
_VERSIONS = {}


def _version(microversion):
    found = _VERSIONS.get(microversion, False)
    if found is not False:
        return found
    try:
        major, minor = str(microversion).split('.')
        found = int(major), int(minor)
    except ValueError:
        found = None
    if len(_VERSIONS) < 64:
        _VERSIONS[microversion] = found
    return found


def _segments(pattern):
    """The path segments a route's pattern ends with; None for an id."""
    text = pattern.pattern
    if text == '^/?\\Z':
        return ('',)
    if not text.startswith('/') or not text.endswith('\\Z'):
        raise ValueError('no segments in route %r' % text)
    segments = tuple(None if part == _UUID_PART else part
                     for part in text[1:-2].split('/'))
    if not all(part is None or re.fullmatch('[a-z_]+', part)
               for part in segments):
        raise ValueError('no segments in route %r' % text)
    return segments


def _by_last_segment(routes):
    """``{last path segment: [(method, segments, schema)]}``.

    Under None the routes whose path ends in a value (an id).  Finding a
    route by the word its path ends with, then comparing a segment or
    two, costs less than matching every pattern: the route of a small
    answer cost more to find than the answer to decode.
    """
    found = {}
    for method, pattern, schema in routes:
        segments = _segments(pattern)
        found.setdefault(segments[-1], []).append(
            (method, segments, schema))
    return found


_ROUTES_BY_LAST = _by_last_segment(ROUTES)
_READER_ROUTES_BY_LAST = _by_last_segment(ROUTES + READER_ROUTES)
_ID_CHARS = '0123456789abcdefABCDEF-'


def _matches(segments, path):
    """Does ``path`` end with ``segments`` (as the route's pattern)?"""
    if segments == ('',):
        return path in ('', '/')
    parts = path.rsplit('/', len(segments))
    if len(parts) <= len(segments):
        return False
    for want, part in zip(segments, parts[1:]):
        if want is None:
            # [0-9a-fA-F-]{32,36}
            if not 32 <= len(part) <= 36 or part.strip(_ID_CHARS):
                return False
        elif part != want:
            return False
    return True


def _route_of(method, path, microversion, reader):
    """``(schema, its check)`` of ``method path``, or None."""
    by_last = _READER_ROUTES_BY_LAST if reader else _ROUTES_BY_LAST
    routes = by_last.get(path[path.rfind('/') + 1:]) or by_last.get(None, ())
    for want_method, segments, schema in routes:
        if method == want_method and _matches(segments, path):
            return _ROUTE_CHECKS[id(_schema_at(schema, microversion))]
    return None


def schema_for(method, path, microversion=None, reader=False):
    """The schema of the answer to ``method path``, or None if unchecked.

    :param microversion: the one asked at (``'1.39'``); None for a
        request that did not say (Placement answers at 1.0).
    :param reader: include :data:`READER_ROUTES` (``path`` is then
        relative to Placement's endpoint).
    """
    found = _route_of(method, path, microversion, reader)
    return None if found is None else found[0]


# Checking an answer is compiled, not interpreted by jsonschema: a listing
# of 4,000 providers cost jsonschema about a second and a keyword-by-
# keyword evaluator 3.8 times its json.loads, more than Placement took to
# answer; and a regular expression per UUID or trait name costs more than
# decoding it.  _compile turns a schema into a check of a whole column of
# values at once (every provider's uuid, every summary's traits), each
# step a builtin that loops in C: the types of a column are one
# set(map(type, ...)), the bounds one min() and max(), and the patterns
# that carry the volume (UUIDs, names) are checked on the column joined
# by newlines with str and bytes methods (_UUIDS, _NAMES).  jsonschema
# stays the reference (a property test holds the two to the same
# answers) and writes the message when the compiled check says no.
# A compiled validator was measured instead and is not used:
# pydantic-core (Rust; pinned by upper-constraints from 2025.2 only)
# checks drain's allocation candidates in 0.8 to 1.6 times their
# json.loads in the runs measured, 1.7 to 2.8 times what the check
# written by hand here takes (benchmarks/validators.py).

_TYPES = {'object': dict, 'array': list, 'string': str, 'integer': int,
          'null': type(None)}
# The keywords the compiled check knows; a schema with another one is an
# error when this module is imported, not a check that passes silently.
_KNOWN = frozenset(['type', 'required', 'properties', 'propertyNames',
                    'additionalProperties', 'items', 'pattern', 'minLength',
                    'maxLength', 'minimum', 'maximum', 'oneOf'])
_HEX = b'0123456789abcdefABCDEF'
_UUID_SEARCH = re.compile(UUID['pattern']).search
# Columns of at most this many values are walked value by value.
_SHORT = 8
_NAME_CHARS = b'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'


def _uuids(values):
    """Are all canonical UUIDs (36 characters, hyphens at 8, 13, 18, 23)?

    Placement writes them so; other spellings the pattern allows are left
    to the regular expression.  The values are joined by newlines and
    encoded (a value that is not a string is a TypeError): a character
    that is not ASCII becomes bytes that are neither hex digits nor
    hyphens, so it cannot pass the tests of the bytes below.
    """
    n = len(values)
    if n == 1:
        # One (the consumer of an allocation): the regular expression
        # costs less.
        return type(values[0]) is str and _UUID_SEARCH(values[0]) is not None
    try:
        data = '\n'.join(values).encode()
    except (TypeError, UnicodeEncodeError):
        return False
    return (len(data) == 37 * n - 1 and
            data[36::37] == b'\n' * (n - 1) and
            data[8::37] == data[13::37] == data[18::37] ==
            data[23::37] == b'-' * n and
            data.translate(None, _HEX) == b'----\n' * (n - 1) + b'----')


def _names(values):
    """Do all match ``^[A-Z0-9_]+\\Z`` (:data:`NAME`)?

    None empty, and nothing but name characters in them all (as for
    :func:`_uuids`, a character that is not ASCII is encoded as bytes
    that are not name characters).
    """
    try:
        data = ''.join(values).encode()
    except (TypeError, UnicodeEncodeError):
        return False
    return all(values) and not data.translate(None, _NAME_CHARS)


def _single_match(pattern):
    """The fastest equivalent test of one string against ``pattern``.

    ``test(value)`` is true iff the string ``value`` matches.  A name
    (:data:`NAME`) is one ``str.strip``: nothing is left of a name once
    its characters are stripped, and anything else (a lower-case letter,
    a newline, a character that is not ASCII) is left; a third of the
    cost of a regular expression, which is most of the check of a small
    answer (a consumer's allocations).  The other patterns here are
    anchored (``^...\\Z``): ``fullmatch`` of the pattern without its
    anchors is the same test, one call.
    """
    if pattern == NAME['pattern']:
        return _is_name
    if pattern.startswith('^') and pattern.endswith('\\Z') and \
            '|' not in pattern:
        return re.compile(pattern[1:-2]).fullmatch
    return re.compile(pattern).search


_NAME_STR = _NAME_CHARS.decode()


def _is_name(value):
    """Does the string ``value`` match ``^[A-Z0-9_]+\\Z`` (:data:`NAME`)?"""
    return bool(value) and not value.strip(_NAME_STR)


def _text(values):
    """No lone surrogate in any (:data:`TEXT_PATTERN`)."""
    try:
        '\n'.join(values).encode()
    except (TypeError, UnicodeEncodeError):
        return False
    return True


# pattern: (a check of a column that says yes only if every value is a
# string that matches, the minimum length that implies).
_FAST_PATTERNS = {UUID['pattern']: (_uuids, 36), NAME['pattern']: (_names, 1),
                  TEXT_PATTERN: (_text, 0)}


class _Compiler:
    """Python source of one function that checks a value against a schema.

    The function is generated, not a tree of closures, because a small
    answer (one provider's traits, 150 bytes) costs json.loads a few
    microseconds, and a call per keyword costs as much.  While the
    generated code holds one value (the body, an object's property) it
    tests that value (``type(v) is dict``, ``'uuid' in v``); below an
    array or a mapping's values it tests the whole column (every
    provider's uuid) with builtins that loop in C.
    """

    def __init__(self):
        self.lines = []
        self.names = {'set': set, 'map': map, 'type': type, 'len': len,
                      'min': min, 'max': max, 'all': all, 'list': list,
                      'contains': operator.contains,
                      'repeat': itertools.repeat,
                      'itemgetter': operator.itemgetter,
                      'chain': itertools.chain.from_iterable,
                      'values_of': dict.values}
        self.count = 0

    def const(self, value):
        self.count += 1
        name = 'k%d' % self.count
        self.names[name] = value
        return name

    def var(self):
        self.count += 1
        return 'v%d' % self.count

    def emit(self, depth, text):
        self.lines.append('    ' * depth + text)

    def fail_if(self, depth, condition):
        self.emit(depth, 'if %s:' % condition)
        self.emit(depth + 1, 'return False')

    def function(self, schema):
        self.emit(0, 'def check(v0):')
        self.value(schema, 'v0', 1)
        self.emit(1, 'return True')
        code = compile('\n'.join(self.lines) + '\n', '<answer check>',
                       'exec')
        exec(code, self.names)
        return self.names['check']

    def _unknown(self, schema):
        unknown = set(schema) - _KNOWN
        if unknown:
            raise ValueError('no compiled check for %s' % sorted(unknown))

    def _nullable(self, schema):
        """The shape of ``{"oneOf": [shape, {"type": "null"}]}``.

        Only "this or null": a value matches exactly one of them iff it
        is null or has the shape (which never allows null).
        """
        shapes = [s for s in schema['oneOf'] if s != {'type': 'null'}]
        if (len(schema['oneOf']) != 2 or len(shapes) != 1 or
                set(schema) != {'oneOf'} or
                shapes[0].get('type') in (None, 'null')):
            raise ValueError('no compiled check for %r' % schema)
        return shapes[0]

    def value(self, schema, v, depth):
        """Code that returns False unless the value ``v`` has the shape."""
        self._unknown(schema)
        if 'oneOf' in schema:
            self.emit(depth, 'if %s is not None:' % v)
            self.value(self._nullable(schema), v, depth + 1)
            return
        kind = schema['type']
        self.fail_if(depth, 'type(%s) is not %s' % (
            v, self.const(_TYPES[kind])))
        if kind == 'object':
            self._object(schema, v, depth, column=False)
        elif kind == 'array':
            if 'items' in schema:
                self.column(schema['items'], v, depth)
        elif kind == 'string':
            # One string: inline tests, no call of a column's check.
            pattern = schema.get('pattern')
            if schema.get('minLength', 0) > (
                    1 if pattern == NAME['pattern'] else 0):
                # (A name is tested not empty with its pattern.)
                self.fail_if(depth, 'len(%s) < %d' % (v, schema['minLength']))
            if 'maxLength' in schema:
                self.fail_if(depth, 'len(%s) > %d' % (v, schema['maxLength']))
            if pattern == TEXT_PATTERN:
                # Only a lone surrogate cannot be encoded.
                self.emit(depth, 'try:')
                self.emit(depth + 1, '%s.encode()' % v)
                self.emit(depth, 'except UnicodeEncodeError:')
                self.emit(depth + 1, 'return False')
            elif pattern == NAME['pattern']:
                # _is_name, inline (a call costs as much as the test).
                self.fail_if(depth, 'not %s or %s.strip(%s)' % (
                    v, v, self.const(_NAME_STR)))
            elif pattern is not None:
                self.fail_if(depth, 'not %s(%s)' % (self.const(
                    _single_match(pattern)), v))
        elif kind == 'integer':
            self._bounds(schema, v, v, depth)

    def column(self, schema, c, depth):
        """Code that returns False unless every value of ``c`` has it.

        ``c`` is a list.  A short one (at most :data:`_SHORT` values: the
        consumers of one provider, the resources of one allocation) is
        walked value by value, which costs less than the builtins a
        column takes; strings are always tested as a column (one call).
        """
        self._unknown(schema)
        if 'oneOf' in schema:
            inner = self.var()
            self.emit(depth, '%s = [v for v in %s if v is not None]'
                      % (inner, c))
            self.column(self._nullable(schema), inner, depth)
            return
        kind = schema['type']
        if kind == 'string':
            self._strings(schema, c, depth)
            return
        each = self.var()
        self.emit(depth, 'if len(%s) <= %d:' % (c, _SHORT))
        self.emit(depth + 1, 'for %s in %s:' % (each, c))
        self.value(schema, each, depth + 2)
        self.emit(depth, 'else:')
        depth += 1
        if kind == 'object' and schema.get('required'):
            # Taking each required property of every value tests that
            # every value is an object (a JSON value that is not one
            # cannot be indexed by a string) that has it: one pass.
            self._object(schema, c, depth, column=True)
            return
        self.fail_if(depth, 'not set(map(type, %s)) <= {%s}' % (
            c, self.const(_TYPES[kind])))
        if kind == 'object':
            self._object(schema, c, depth, column=True)
        elif kind == 'array':
            if 'items' in schema:
                inner = self.var()
                self.emit(depth, '%s = list(chain(%s))' % (inner, c))
                self.column(schema['items'], inner, depth)
        elif kind == 'integer':
            self._bounds(schema, 'min(%s)' % c, 'max(%s)' % c, depth,
                         guard=c)

    def _strings(self, schema, c, depth):
        """Every value of ``c`` a string of the lengths and the pattern.

        For the patterns that carry the volume, one pass of
        :data:`_FAST_PATTERNS` (which also tests the type, and the
        lengths the pattern implies) and the maximum length; the generic
        test only when that says no.
        """
        low = schema.get('minLength', 0)
        high = schema.get('maxLength')
        pattern = schema.get('pattern')
        if pattern == NAME['pattern'] and low <= 1 and high is None:
            # Names (a provider's traits): _names, inline (a call costs
            # as much as the test of a few names).  Joining raises
            # TypeError on a value that is not a string; encoding, on a
            # lone surrogate.
            self.emit(depth, 'if %s:' % c)
            self.emit(depth + 1, 'try:')
            self.fail_if(depth + 2, "'' in %s or ''.join(%s).encode()"
                         ".translate(None, %s)" % (
                             c, c, self.const(_NAME_CHARS)))
            self.emit(depth + 1, 'except (TypeError, UnicodeEncodeError):')
            self.emit(depth + 2, 'return False')
            return
        each = re.compile(pattern).search if pattern else None

        def exact(values):
            return (set(map(type, values)) <= {str} and
                    min(map(len, values)) >= low and
                    (high is None or max(map(len, values)) <= high) and
                    (each is None or all(map(each, values))))
        fast, implied = _FAST_PATTERNS.get(pattern, (None, 0))
        test = '%s(%s)' % (self.const(exact), c)
        if fast is not None:
            test = '%s(%s)%s%s or %s' % (
                self.const(fast), c,
                '' if low <= implied else
                ' and min(map(len, %s)) >= %d' % (c, low),
                '' if high is None else
                ' and max(map(len, %s)) <= %d' % (c, high), test)
        self.fail_if(depth, '%s and not (%s)' % (c, test))

    def _bounds(self, schema, low, high, depth, guard=None):
        tests = []
        if 'minimum' in schema:
            tests.append('%s < %r' % (low, schema['minimum']))
        if 'maximum' in schema:
            tests.append('%s > %r' % (high, schema['maximum']))
        if tests:
            test = ' or '.join(tests)
            self.fail_if(depth, '%s and (%s)' % (guard, test) if guard
                         else test)

    def _object(self, schema, v, depth, column):
        required = schema.get('required', ())
        properties = schema.get('properties', {})
        taken = {}
        if column and required:
            self.emit(depth, 'try:')
            for key in required:
                taken[key] = self.var()
                self.emit(depth + 1, '%s = list(map(itemgetter(%r), %s))'
                          % (taken[key], key, v))
            self.emit(depth, 'except (KeyError, TypeError):')
            self.emit(depth + 1, 'return False')
        elif not column and required:
            # Each required property taken once (``v`` is a dict).
            self.emit(depth, 'try:')
            for key in required:
                taken[key] = self.var()
                self.emit(depth + 1, '%s = %s[%r]' % (taken[key], v, key))
            self.emit(depth, 'except KeyError:')
            self.emit(depth + 1, 'return False')
        for key, shape in properties.items():
            if key in taken:
                if column:
                    self.column(shape, taken[key], depth)
                else:
                    self.value(shape, taken[key], depth)
                continue
            inner = self.var()
            if column:
                self.emit(depth, '%s = [v[%r] for v in %s if %r in v]' % (
                    inner, key, v, key))
                self.column(shape, inner, depth)
            else:
                self.emit(depth, 'if %r in %s:' % (key, v))
                self.emit(depth + 1, '%s = %s[%r]' % (inner, v, key))
                self.value(shape, inner, depth + 1)
        if not column and not properties and (
                'propertyNames' in schema or
                'additionalProperties' in schema):
            # A short mapping (one consumer's resources) item by item.
            key, each = self.var(), self.var()
            self.emit(depth, 'if len(%s) <= %d:' % (v, _SHORT))
            self.emit(depth + 1, 'for %s, %s in %s.items():' % (key, each, v))
            if 'propertyNames' in schema:
                self.value(schema['propertyNames'], key, depth + 2)
            if 'additionalProperties' in schema:
                self.value(schema['additionalProperties'], each, depth + 2)
            else:
                self.emit(depth + 2, 'pass')
            self.emit(depth, 'else:')
            depth += 1
        if 'propertyNames' in schema:
            inner = self.var()
            self.emit(depth, ('%s = list(chain(%s))' if column else
                              '%s = list(%s)') % (inner, v))
            self.column(schema['propertyNames'], inner, depth)
        if 'additionalProperties' in schema:
            inner = self.var()
            if properties:
                known = self.const(frozenset(properties))
                self.emit(depth, (
                    '%s = [x for y in %s for k, x in y.items() '
                    'if k not in %s]' if column else
                    '%s = [x for k, x in %s.items() if k not in %s]') % (
                        inner, v, known))
            else:
                self.emit(depth, (
                    '%s = list(chain(map(values_of, %s)))' if column else
                    '%s = list(%s.values())') % (inner, v))
            self.column(schema['additionalProperties'], inner, depth)


def _compile(schema):
    """``check(value)``: does ``value`` have the shape ``schema``?

    Evaluates the keywords of :data:`_KNOWN` as jsonschema does (with
    records.Validator's exact integers).
    """
    return _Compiler().function(schema)


# id(schema): (schema, its compiled check); the schema is kept so that
# its id is never reused.
_COMPILED = {}


def _compiled(schema):
    found = _COMPILED.get(id(schema))
    if found is None:
        found = _COMPILED[id(schema)] = (schema, _compile(schema))
    return found[1]


def _route_check(schema):
    """``(schema, check)`` of a route.

    Allocation candidates must also name only providers they describe
    (:func:`_candidates_named`).
    """
    shaped = _compiled(schema)
    if schema is ALLOCATION_CANDIDATES:
        return schema, _candidates
    if schema is ALLOCATION_CANDIDATES_BEFORE_1_34:
        return schema, lambda value: (shaped(value) and
                                      _candidates_named(value))
    if schema is ALLOCATIONS:
        return schema, _allocations
    return schema, shaped


def _allocations(body):
    """The check of :data:`ALLOCATIONS`, written by hand.

    The allocations of one consumer or of one provider: a few providers
    or consumers, each with a resource or two, whose json.loads costs a
    few microseconds.  The compiled check tests the type of every value
    before it uses it; here a value of the wrong JSON type is refused by
    what is done with it (an object's property taken from anything else
    raises ``TypeError``, ``items`` of anything else ``AttributeError``,
    a regular expression or ``str.strip`` on a key that is not a string
    one or the other), which saves a third of the check.  More than
    :data:`_SHORT` of them: the compiled check.  A property test holds
    it to jsonschema.
    """
    try:
        allocations = body['allocations'].items()
        if len(allocations) > _SHORT:
            return _LONG_ALLOCATIONS(body)
        for uuid, held in allocations:
            resources = held['resources'].items()
            if not _UUID_MATCH(uuid):
                return False
            for name, amount in resources:
                # (_is_name, inline: a call costs as much as the test.)
                if (type(amount) is not int or not name or
                        name.strip(_NAME_STR) or
                        not 0 <= amount <= COUNT_MAX):
                    return False
    except (KeyError, TypeError, AttributeError):
        return False
    return True


def _all_uuids(values):
    """Is every value a string that matches :data:`UUID`?"""
    return _uuids(values) or (set(map(type, values)) <= {str} and
                              all(map(_UUID_SEARCH, values)))


def _candidates(body):
    """The check of :data:`ALLOCATION_CANDIDATES`, written by hand.

    Has ``body`` the shape, naming only providers it describes
    (:func:`_candidates_named`)?  The largest answer the readers ask
    for again and again (Nova's own query, megabytes at 1,000 hosts), read
    whole by ``drain``.  Its check costs about what it touches, so each
    candidate and each summary is walked once (a pass of builtins per
    column, every summary's traits, then every summary's resources,
    fetched each object again and measured 12 to 18% slower), in the
    order json.loads laid them out, taking what the columns need: a
    candidate's providers are looked up among the summaries
    (an unhashable one raises ``TypeError``), a summary's traits and
    resource classes gathered for one test of their distinct names (a
    name that is not a string raises ``TypeError`` when they are
    joined, a lone surrogate ``UnicodeEncodeError``), its resources'
    amounts for one test of their types and bounds (a resource that is
    not an object with both amounts raises).  A provider a candidate
    names, or a root, found among the summaries' keys (checked as
    UUIDs) is a UUID.  A property test holds it to jsonschema and
    :func:`_candidates_consistent`.
    """
    if type(body) is not dict:
        return False
    try:
        requests = body['allocation_requests']
        summaries = body['provider_summaries']
        if type(requests) is not list or type(summaries) is not dict:
            return False
        if summaries and not _all_uuids(list(summaries)):
            return False
        for request in requests:
            allocations = request['allocations']
            mappings = request['mappings']
            if type(allocations) is not dict or type(mappings) is not dict:
                return False
            for provider in allocations:
                if provider not in summaries:
                    return False
            for providers in mappings.values():
                if type(providers) is not list:
                    return False
                for provider in providers:
                    if provider not in summaries:
                        return False
        held, named, undescribed = [], [], []
        for summary in summaries.values():
            resources = summary['resources']
            traits = summary['traits']
            root = summary['root_provider_uuid']
            if type(resources) is not dict or type(traits) is not list:
                return False
            if root not in summaries:
                undescribed.append(root)
            named.append(traits)
            if resources:
                held += resources.values()
                named.append(resources)
        # The distinct names: traits repeat from provider to provider
        # (tens of thousands at 1,000 hosts, a few dozen distinct), and
        # hashing each costs less than joining them all.
        names = set(_chain(named))
        if names and ('' in names or ''.join(names).encode().translate(
                None, _NAME_CHARS)):
            return False
        if held:
            amounts = list(map(_CAPACITY, held))
            amounts += map(_USED, held)
            if not (set(map(type, amounts)) <= _INT and
                    min(amounts) >= 0 and max(amounts) <= COUNT_MAX):
                return False
    except (KeyError, TypeError, UnicodeEncodeError):
        return False
    return not undescribed or _all_uuids(undescribed)


_chain = itertools.chain.from_iterable
_INT = {int}
_CAPACITY = operator.itemgetter('capacity')
_USED = operator.itemgetter('used')
_UUID_MATCH = _single_match(UUID['pattern'])
_LONG_ALLOCATIONS = _compiled(ALLOCATIONS)


def conforms(value, schema):
    """Does ``value`` have the shape ``schema``?  Fast, no message."""
    return _compiled(schema)(value)


def check(body, schema, what):
    """Return ``body`` if it has the shape ``schema``.

    :param what: names the request in the message (``GET /traits``).
    :raises MalformedAnswer: naming ``what`` and the place in the body.
    """
    if conforms(body, schema):
        return body
    return _refuse(body, schema, what)


def _refuse(body, schema, what):
    """Raise the :exc:`MalformedAnswer` that says what is wrong."""
    try:
        records.validate(body, schema, what)
    except records.InvalidDocument as e:
        where = ('at %s: ' % e.path) if e.path else ''
        raise MalformedAnswer(what, where + _short(e.message))
    except (jsonschema.exceptions.ValidationError, RecursionError) as e:
        raise MalformedAnswer(what, _short(str(e)))
    if schema is ALLOCATION_CANDIDATES or \
            schema is ALLOCATION_CANDIDATES_BEFORE_1_34:
        _candidates_consistent(body, what)
    return body


def check_answer(method, path, body, what=None, strict=False,
                 microversion=None):
    """:func:`check` with the schema of ``method path``.

    Allocation candidates must also name only providers they describe.

    :param strict: refuse an answer of a route with no schema here (what
        the readers do: every route the project reads has one); else
        such an answer is returned unchecked (answers to Nova's API on
        the same connection).
    :raises MalformedAnswer: naming ``what`` (default ``method path``).
    """
    found = _route_of(method, path, microversion, strict)
    if found is None:
        if strict:
            raise MalformedAnswer(what or '%s %s' % (method, path),
                                  'no shape is known for this route, so '
                                  'the answer cannot be checked')
        return body
    if found[1](body):
        return body
    return _refuse(body, found[0], what or '%s %s' % (method, path))


def check_read(url, body, microversion=None):
    """``body``, the answer to a reader's ``GET url``, if it has its shape.

    :func:`check_answer` with ``strict`` (``url`` relative to Placement's
    endpoint), by the shortest way: a small answer costs json.loads a few
    microseconds, as much as a few calls.  A URL of the exact shape of a
    route (``/resource_providers/{uuid}/traits?...``) is found by one
    regular expression (:data:`_EXACT_MATCH`, its alternatives factored
    by path segment), its check at ``microversion`` by two lookups
    (:func:`_checks_at`); any other URL is left to :func:`check_answer`.
    """
    found = _EXACT_MATCH(url)
    if found is not None:
        checks = _CHECKS_AT.get(microversion)
        if checks is None:
            checks = _checks_at(microversion)
        if checks[found.lastindex](body):
            return body
    return check_answer('GET', parse.urlsplit(url).path, body,
                        'GET %s' % url, True, microversion)


def check_route(route, url, body, microversion=None):
    """``body``, the answer to a reader's ``GET url``, if it has its shape.

    :func:`check_read` for a reader that says which route it reads:
    ``route`` names it in :data:`NAMED_ROUTES`, so the check is found by
    two lookups and no pattern (a small answer costs json.loads a few
    microseconds, a regular expression on its URL a tenth of that).

    :raises MalformedAnswer: naming ``GET url``.
    :raises KeyError: for a route that :data:`NAMED_ROUTES` does not name
        (a programming error: there is no route without a check).
    """
    checks = _NAMED_AT.get(microversion)
    if checks is None:
        checks = _named_at(microversion)
    if checks[route](body):
        return body
    return _refuse(body, _schema_at(NAMED_ROUTES[route], microversion),
                   'GET %s' % url)


def _schema_at(schema, microversion):
    """``schema`` as Placement answers it at ``microversion``."""
    older = _OLDER.get(id(schema))
    if older is not None and (_version(microversion) or (1, 0)) < older[0]:
        return older[1]
    return schema


# {microversion as asked: {route name: its check}}; a client asks at a
# few.
_NAMED_AT = {}


def _named_at(microversion):
    checks = {route: _ROUTE_CHECKS[id(_schema_at(schema, microversion))][1]
              for route, schema in NAMED_ROUTES.items()}
    if len(_NAMED_AT) < 64:
        _NAMED_AT[microversion] = checks
    return checks


# {microversion as asked: (None, the check of each route of _EXACT_MATCH
# by its group's index)}; a client asks at a few.
_CHECKS_AT = {}


def _checks_at(microversion):
    checks = (None,) + tuple(
        _ROUTE_CHECKS[id(_schema_at(schema, microversion))][1]
        for schema in _EXACT)
    if len(_CHECKS_AT) < 64:
        _CHECKS_AT[microversion] = checks
    return checks


def _exact(routes):
    """``(match, [schema])``, the list by group.

    The GET routes of :func:`check_read` as one regular expression over
    a URL relative to Placement's endpoint: what the routes' patterns
    match, from the first segment on, then the query or nothing.  The
    alternatives are factored by segment (``/resource_providers`` is
    read once for its four routes), and each route ends with an empty
    group: the match's ``lastindex`` says which route, the list's item
    ``lastindex - 1``.  Each route's schema, as the current
    microversion has it (:func:`_schema_at` gives an older one's).
    """
    trie, found, root = {}, [], None
    for method, pattern, schema in routes:
        if method != 'GET':
            continue
        found.append(schema)
        segments = _segments(pattern)
        if segments == ('',):
            root = len(found)
            continue
        node = trie
        for segment in segments:
            node = node.setdefault(segment, {})
        node[''] = len(found)

    def alternatives(node):
        out = []
        for segment, child in sorted(node.items(), key=lambda i: (
                i[0] == '', i[0] or '')):
            if segment == '':
                out.append('(?P<r%d>)' % child)
            else:
                out.append('/%s%s' % (
                    _UUID_PART if segment is None else re.escape(segment),
                    alternatives(child)))
        return out[0] if len(out) == 1 else '(?:%s)' % '|'.join(out)
    text = alternatives(trie)
    if root is not None:
        text = '(?:%s|/?(?P<r%d>))' % (text, root)
    pattern = re.compile('%s(?:\\?|\\Z)' % text)
    # The routes in the order of their groups in the pattern.
    by_group = [found[int(name[1:]) - 1] for name, _ in sorted(
        pattern.groupindex.items(), key=operator.itemgetter(1))]
    return pattern.match, by_group


def _candidates_named(body):
    """Is every provider a candidate names described by the summaries?"""
    requests = body['allocation_requests']
    named = set(itertools.chain.from_iterable(map(
        operator.itemgetter('allocations'), requests)))
    mappings = map(dict.get, requests, itertools.repeat('mappings'),
                   itertools.repeat(_NO_MAPPINGS))
    try:
        named.update(itertools.chain.from_iterable(
            itertools.chain.from_iterable(map(dict.values, mappings))))
    except TypeError:
        # A list or an object where a provider should be.
        return False
    return body['provider_summaries'].keys() >= named


_NO_MAPPINGS = {}


def _candidates_consistent(body, what):
    """Raise unless every provider a candidate names is described.

    The reference of :func:`_candidates_named`, which says no without
    saying where.
    """
    summaries = body['provider_summaries']
    for n, request in enumerate(body['allocation_requests']):
        named = set(request['allocations'])
        for group, uuids in request.get('mappings', {}).items():
            named.update(u for u in uuids if isinstance(u, str))
            if not all(isinstance(u, str) for u in uuids):
                raise MalformedAnswer(
                    what, 'allocation_requests[%d].mappings[%r] names a '
                          'provider that is not a string' % (n, group))
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


def _short(text, limit=300):
    text = ' '.join(text.split())
    return text if len(text) <= limit else text[:limit] + '...'


# Every schema of a route compiles when this module is imported.
_ROUTE_CHECKS = {id(schema): _route_check(schema) for schema in [
    route[2] for route in ROUTES + READER_ROUTES] + [
    older[1] for older in _OLDER.values()] + list(NAMED_ROUTES.values())}
_EXACT_MATCH, _EXACT = _exact(ROUTES + READER_ROUTES)
