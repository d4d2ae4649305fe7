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

"""The one Placement reader and its one answer-validation policy."""

import json
import pathlib
import re
import uuid as uuid_lib

from hypothesis import given
from hypothesis import strategies as st
import pytest

import nova_vfio_compat
from nova_vfio_compat.model import traits
from nova_vfio_compat.placement import answers as placement_answers
from nova_vfio_compat.placement import reader as placement_reader

PACKAGE = pathlib.Path(nova_vfio_compat.__file__).parent
UUID = '4e8e5957-649f-477b-9e5b-f1f75b21c03c'


class _Response:
    status_code = 200
    text = ''

    def __init__(self, content):
        self.content = content


def _reader(content):
    return placement_reader.Reader.over_responses(
        lambda url, microversion: _Response(content))


def test_a_route_with_no_shape_is_refused():
    with pytest.raises(placement_reader.PlacementUnavailable) as e:
        _reader(b'{}')('/usages', '1.9')
    assert 'GET /usages: malformed answer' in str(e.value)
    assert 'no shape is known' in str(e.value)


def test_every_route_the_readers_ask_for_has_a_shape():
    # The routes the filter, drain and fleet read, as they spell them.
    for url in ('/resource_providers?in_tree=%s' % UUID,
                '/resource_providers/%s/traits' % UUID,
                '/resource_providers/%s/allocations' % UUID,
                '/resource_providers/%s/inventories' % UUID,
                '/allocations/%s' % UUID,
                '/allocation_candidates?resources1=VGPU:1',
                '/traits?name=in:CUSTOM_X', '/resource_classes'):
        path = url.partition('?')[0]
        assert placement_answers.schema_for('GET', path) is not None, url
    # The version document: checked by the readers, not by the hook of a
    # session that also reaches Keystone's root.
    assert placement_answers.schema_for('GET', '/') is None
    assert placement_answers.schema_for('GET', '/', reader=True) is not None


def test_a_body_nested_too_deeply_is_a_malformed_answer():
    nested = b'{"allocations": ' + b'[' * 100000 + b']' * 100000 + b'}'
    with pytest.raises(placement_reader.MalformedAnswer) as e:
        _reader(nested)('/allocations/%s' % UUID, '1.28')
    assert 'GET /allocations/%s' % UUID in str(e.value)
    assert 'nested too deeply' in str(e.value)


def test_a_candidate_naming_an_undescribed_provider_is_malformed():
    other = '00000000-0000-0000-0000-000000000007'
    body = {'allocation_requests': [{'allocations': {other: {
        'resources': {'VGPU': 1}}}, 'mappings': {'1': [other]}}],
        'provider_summaries': {UUID: {
            'resources': {'VGPU': {'capacity': 1, 'used': 0}},
            'traits': [], 'root_provider_uuid': UUID}}}
    with pytest.raises(placement_reader.MalformedAnswer) as e:
        placement_reader.check('/allocation_candidates?x=1', body, '1.39')
    assert 'names provider(s) %s' % other in str(e.value)


def test_older_microversions_of_allocation_candidates_need_no_mappings():
    body = {'allocation_requests': [{'allocations': {UUID: {
        'resources': {'VGPU': 1}}}}],
        'provider_summaries': {UUID: {
            'resources': {'VGPU': {'capacity': 1, 'used': 0}}}}}
    placement_reader.check('/allocation_candidates', body, '1.17')
    with pytest.raises(placement_reader.MalformedAnswer):
        placement_reader.check('/allocation_candidates', body, '1.39')


def test_only_the_reader_turns_answers_into_bodies():
    # One reader: no other module of the package decodes a Placement
    # answer with its own wrapper.
    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        if path.relative_to(PACKAGE).as_posix() == 'placement/reader.py':
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r'\bbody_of\(|placement_answers\.check\(', line):
                found.append('%s:%d' % (path.relative_to(PACKAGE), n))
    assert found == []


@given(st.text(alphabet='ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_M',
               max_size=40))
def test_a_malformed_emit_trait_is_an_unknown_trait(suffix):
    # Anyone with trait write access may create any CUSTOM_VFC_1_E_...
    # name; whatever is taken for an emit trait has its accept names.
    name = traits.EMIT_PREFIX + suffix
    for emit in traits.emitted({name, 'COMPUTE_NODE'}):
        assert traits.accept_traits_for(emit)
    assert not traits.emitted({traits.EMIT_PREFIX + 'GARBAGE'})
    assert not traits.emitted({traits.EMIT_PREFIX + 'X_V1_AB_M%d'
                               % (traits.MAX_MINOR + 1)})


def test_a_provider_listing_without_the_roots_the_readers_use_is_refused():
    # From 1.14 every provider of an answer has a parent and a root, and
    # the filter reads each accepting provider's root: an answer without
    # it is malformed (it was a KeyError in the filter), named by route
    # and place.
    from nova_vfio_compat.selection import placement_reads
    provider = {'uuid': UUID, 'name': 'cn1', 'generation': 1,
                'parent_provider_uuid': None}
    (emit,) = traits.emitted(
        {'CUSTOM_VFC_1_E_NVIDIA_10DE_1EB8_V2_84E4783A7C38FA50_M0'})
    answers = {'/traits': {'traits': sorted(traits.accept_traits_for(emit))},
               '/resource_providers': {'resource_providers': [provider]}}
    reads = placement_reads.RequestReads(
        lambda url, version: answers[url.partition('?')[0]])
    with pytest.raises(placement_reader.MalformedAnswer) as e:
        reads.accepting([emit])
    assert 'GET /resource_providers?required=' in str(e.value)
    assert 'resource_providers[0]' in str(e.value)
    assert "'root_provider_uuid' is a required property" in str(e.value)
    # Before 1.14 neither is in an answer (the reporter's SDK listings).
    placement_reader.check('/resource_providers',
                           {'resource_providers': [provider]}, '1.0')


_UUID_LIKE = st.one_of(
    st.uuids().map(str), st.uuids().map(lambda u: u.hex),
    st.text(alphabet='0123456789abcdefABCDEF-\n', min_size=30, max_size=38),
    st.uuids().map(str).flatmap(lambda u: st.integers(0, 35).map(
        lambda i: u[:i] + '-' + u[i + 1:])),
    # A hyphen moved: still 36 characters, 4 of them hyphens.
    st.uuids().map(lambda u: str(u).replace('-', '', 1)).flatmap(
        lambda u: st.integers(0, 35).map(lambda i: u[:i] + '-' + u[i:])),
    st.text(max_size=40))
_NAME_LIKE = st.one_of(
    st.text(alphabet='ABCZ059_', min_size=1, max_size=12),
    st.text(alphabet='ABCZ059_\n-a\u00e9', max_size=12), st.text())


@given(st.lists(_UUID_LIKE, max_size=6), st.lists(_NAME_LIKE, max_size=6))
def test_the_compiled_column_checks_agree_with_the_patterns(uuids, names):
    # The compiled check tests a column of UUIDs or names joined by
    # newlines (placement_answers._uuids, _names); jsonschema, one value
    # at a time, is the reference.
    from nova_vfio_compat.model import records
    for values, schema in (
            (uuids, {'type': 'array', 'items': placement_answers.UUID}),
            (names, placement_answers.NAMES)):
        assert (placement_answers.conforms(values, schema) ==
                records.Validator(schema).is_valid(values)), values


# Strings near a UUID or a name: one character changed, added or dropped
# (an upper-case letter, a hyphen, a non-ASCII digit, a lone surrogate),
# a trailing newline (which "$" would let through), or cut.
_NEAR = ['\n', '-', '_', 'a', 'A', 'g', 'G', '0', '\u0663', '\uff10',
         '\u00e9', '\ud800', ' ', '']


def _near(strings):
    return st.tuples(strings, st.integers(0, 40), st.sampled_from(_NEAR),
                     st.sampled_from(['replace', 'insert', 'append', 'cut',
                                      'upper', 'lower', 'same'])).map(
        lambda t: {
            'replace': lambda s, i, c: s[:i] + c + s[i + 1:],
            'insert': lambda s, i, c: s[:i] + c + s[i:],
            'append': lambda s, i, c: s + c,
            'cut': lambda s, i, c: s[:i],
            'upper': lambda s, i, c: s.upper(),
            'lower': lambda s, i, c: s.lower(),
            'same': lambda s, i, c: s}[t[3]](t[0], t[1], t[2]))


_NEAR_UUIDS = _near(st.one_of(
    st.uuids().map(str), st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: str(u).replace('-', '', 2))))
_NEAR_NAMES = _near(st.one_of(
    st.from_regex('[A-Z0-9_]{1,12}', fullmatch=True),
    st.sampled_from(['VGPU', 'CUSTOM_VFC_1_E_X', 'MEMORY_MB', '_', '9'])))


@given(_NEAR_UUIDS | _NEAR_NAMES | st.text(max_size=40))
def test_the_tests_of_one_uuid_or_name_agree_with_the_patterns(value):
    # One UUID or name (a consumer, a resource class of a short mapping)
    # is tested without a regular expression where that costs less
    # (placement_answers._single_match, the compiled check's inline
    # test): the same strings as the schema's pattern, by jsonschema.
    from nova_vfio_compat.model import records
    for schema in (placement_answers.UUID, placement_answers.NAME):
        expected = records.Validator(schema).is_valid(value)
        assert placement_answers.conforms(value, schema) == expected, (
            schema, value)
        assert bool(placement_answers._single_match(schema['pattern'])(
            value)) == records.Validator(
                {'pattern': schema['pattern']}).is_valid(value), (
            schema, value)


def test_a_mapping_naming_no_provider_is_malformed_not_an_error():
    # A mapping's provider must be a UUID: one that is a list or an
    # object would break the test that every named provider is described.
    body = {'allocation_requests': [{'allocations': {UUID: {
        'resources': {'VGPU': 1}}}, 'mappings': {'1': [[UUID]]}}],
        'provider_summaries': {UUID: {
            'resources': {'VGPU': {'capacity': 1, 'used': 0}},
            'traits': [], 'root_provider_uuid': UUID}}}
    with pytest.raises(placement_reader.MalformedAnswer) as e:
        placement_reader.check('/allocation_candidates?x=1', body, '1.39')
    assert 'mappings' in str(e.value)


_URLS = st.one_of(
    st.sampled_from([
        '/resource_providers', '/resource_providers/%s' % UUID,
        '/resource_providers/%s/traits' % UUID, '/traits',
        '/resource_providers/%s/allocations' % UUID,
        '/resource_providers/%s/inventories' % UUID,
        '/allocations/%s' % UUID, '/allocation_candidates',
        '/resource_classes', '/', '', '/usages', '/x/traits',
        '//h/traits', '/traits#x', '/resource_providers/%s/' % UUID,
        'http://h/placement/resource_providers']),
    st.text(alphabet='/?#abcdefr_svt0-', max_size=30)).flatmap(
    lambda u: st.sampled_from([u, u + '?in_tree=x', u + '?a#b']))
_BODIES = st.sampled_from([
    {'resource_providers': []}, {'traits': []},
    {'traits': [], 'resource_provider_generation': 1},
    {'allocations': {}}, {'inventories': {}}, {'resource_classes': []},
    {'versions': []}, {'uuid': UUID, 'name': 'x', 'generation': 1,
                       'parent_provider_uuid': None,
                       'root_provider_uuid': UUID},
    {'allocation_requests': [], 'provider_summaries': {}}, {}, []])


@given(_URLS, _BODIES, st.sampled_from([None, '1.0', '1.14', '1.39']))
def test_the_readers_short_way_finds_the_route_the_patterns_find(
        url, body, microversion):
    # check_read finds a route by one regular expression over the URL;
    # check_answer, with the routes' patterns, is the reference.
    from urllib import parse

    def outcome(check):
        try:
            check()
        except placement_answers.MalformedAnswer as e:
            return str(e)
        return None
    assert outcome(lambda: placement_reader.check(
        url, body, microversion)) == outcome(
        lambda: placement_answers.check_answer(
            'GET', parse.urlsplit(url).path, body, 'GET %s' % url,
            strict=True, microversion=microversion))


def _long(item, n):
    return [json.loads(json.dumps(item)) for _ in range(n)]


_ITEMS = {
    'providers': (placement_answers.PROVIDERS, lambda items: {
        'resource_providers': items}, {
        'uuid': UUID, 'name': 'cn1', 'generation': 3,
        'root_provider_uuid': UUID, 'parent_provider_uuid': None}),
    'summaries': (placement_answers.ALLOCATION_CANDIDATES, lambda items: {
        'allocation_requests': [],
        'provider_summaries': {str(uuid_lib.UUID(int=i)): s
                               for i, s in enumerate(items)}}, {
        'resources': {'VGPU': {'capacity': 4, 'used': 1}},
        'traits': ['CUSTOM_X'], 'root_provider_uuid': UUID}),
    'requests': (placement_answers.ALLOCATION_CANDIDATES, lambda items: {
        'allocation_requests': items, 'provider_summaries': {}}, {
        'allocations': {}, 'mappings': {'1': []}}),
    'allocations': (placement_answers.PROVIDER_ALLOCATIONS, lambda items: {
        'allocations': {str(uuid_lib.UUID(int=i)): a
                        for i, a in enumerate(items)}}, {
        'resources': {'VGPU': 1}}),
}
_HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-3, 3),
                     st.integers(2 ** 63 - 1, 2 ** 63), st.text(max_size=3),
                     st.just([]), st.just({}), st.just(UUID),
                     st.just(['X', 1]), st.just({'VGPU': 1}))


@given(st.sampled_from(sorted(_ITEMS)), st.integers(0, 20),
       st.integers(0, 100), st.data())
def test_short_and_long_columns_agree_with_jsonschema(kind, n, pick, data):
    # A column of at most placement_answers._SHORT values is checked
    # value by value, a longer one with builtins over the whole column:
    # both against jsonschema, with one value of one item made hostile.
    from nova_vfio_compat.model import records
    schema, wrap, item = _ITEMS[kind]
    items = _long(item, n)
    if items:
        target = items[pick % n]
        key = sorted(target)[pick % len(target)]
        inner = target[key]
        if isinstance(inner, dict) and inner and pick % 3:
            inner_key = sorted(inner)[0]
            if isinstance(inner[inner_key], dict) and pick % 2:
                inner[inner_key][sorted(inner[inner_key])[0]] = data.draw(
                    _HOSTILE)
            else:
                inner[inner_key] = data.draw(_HOSTILE)
        elif data.draw(st.booleans()):
            del target[key]
        else:
            target[key] = data.draw(_HOSTILE)
    body = wrap(items)
    expected = records.Validator(schema).is_valid(body)
    assert placement_answers.conforms(body, schema) == expected
    # And the check of the route (written by hand for some; that of
    # allocation candidates also wants the providers described).
    if schema is not placement_answers.ALLOCATION_CANDIDATES:
        assert placement_answers._ROUTE_CHECKS[id(schema)][1](
            body) == expected


@given(st.integers(0, 20), st.integers(0, 20), st.integers(0, 100),
       st.sampled_from(['', 'vgpu', 'VGPU\n', UUID, UUID.upper(),
                        UUID + '\n', 'x' * 36, '\ud800', 'VGPU']),
       st.booleans())
def test_short_and_long_mappings_check_their_keys(n, m, pick, key, inner):
    # A consumer's resources, a provider's consumers: the names of a
    # short mapping are checked one by one, of a long one as a column.
    from nova_vfio_compat.model import records
    schema = placement_answers.PROVIDER_ALLOCATIONS
    allocations = {str(uuid_lib.UUID(int=i)): {'resources': {
        'RC%d' % j: 1 for j in range(m)}} for i in range(n)}
    if allocations and inner:
        resources = list(allocations.values())[pick % n]['resources']
        resources[key] = 1
    else:
        allocations[key] = {'resources': {'VGPU': 1}}
    body = {'allocations': allocations}
    expected = records.Validator(schema).is_valid(body)
    assert placement_answers.conforms(body, schema) == expected
    # And the route's check (placement_answers._allocations, by hand).
    assert placement_answers._ROUTE_CHECKS[id(schema)][1](body) == expected


def _held(**resources):
    return {'allocations': {UUID: {'resources': resources or {'VGPU': 1},
                                   'consumer_generation': 1}}}


# (what is wrong, the body): answers about one consumer's or one
# provider's allocations that the route's check (written by hand,
# placement_answers._allocations) must refuse, naming the request.
_BAD_ALLOCATIONS = {
    'not an object': [_held()],
    'a string': 'allocations',
    'allocations missing': {'resource_provider_generation': 1},
    'allocations an array': {'allocations': [UUID]},
    'allocations a string': {'allocations': UUID},
    'held a string': {'allocations': {UUID: 'resources'}},
    'held an array': {'allocations': {UUID: ['resources']}},
    'resources missing': {'allocations': {UUID: {'generation': 1}}},
    'resources an array': {'allocations': {UUID: {'resources': ['VGPU']}}},
    'resources a string': {'allocations': {UUID: {'resources': 'VGPU'}}},
    'key not a uuid': {'allocations': {'x' * 36: {'resources': {'A': 1}}}},
    'key with a newline': {'allocations': {UUID + '\n': {
        'resources': {'A': 1}}}},
    'name lower case': _held(vgpu=1),
    'name with a newline': _held(**{'VGPU\n': 1}),
    'name empty': _held(**{'': 1}),
    'name not ASCII': _held(**{'VGPU\u0663': 1}),
    'amount a bool': _held(VGPU=True),
    'amount a float': _held(VGPU=1.0),
    'amount a string': _held(VGPU='1'),
    'amount negative': _held(VGPU=-1),
    'amount too large': _held(VGPU=2 ** 63),
}


@pytest.mark.parametrize('route', ['allocations', 'provider allocations'])
@pytest.mark.parametrize('wrong', sorted(_BAD_ALLOCATIONS))
def test_a_malformed_allocations_answer_is_refused_naming_the_request(
        wrong, route):
    url = '/allocations/%s' % UUID
    body = _BAD_ALLOCATIONS[wrong]
    with pytest.raises(placement_reader.MalformedAnswer) as e:
        placement_reader.check_route(route, url, body, '1.28')
    assert 'GET %s' % url in str(e.value)
    # An upper-case UUID is one (the schema's pattern allows it).
    good = _held(VGPU=2, MEMORY_MB=0)
    good['allocations'][UUID.upper()] = good['allocations'][UUID]
    assert placement_reader.check_route(route, url, good, '1.28') is good
    assert placement_answers._ROUTE_CHECKS[id(
        placement_answers.ALLOCATIONS)][1](good)


def _candidates(n_requests=2, n_summaries=3):
    """A valid allocation candidates answer (1.34 and later)."""
    uuids = [str(uuid_lib.UUID(int=i + 1)) for i in range(n_summaries)]
    return {
        'allocation_requests': [
            {'allocations': {uuids[i % n_summaries]: {
                'resources': {'VGPU': 1}}},
             'mappings': {'': [uuids[i % n_summaries]]}}
            for i in range(n_requests)],
        'provider_summaries': {
            u: {'resources': {'VGPU': {'capacity': 4, 'used': 1}},
                'traits': ['CUSTOM_X', 'COMPUTE_NODE'],
                'parent_provider_uuid': None,
                'root_provider_uuid': uuids[0]}
            for u in uuids}}


def _summary(body):
    return next(iter(body['provider_summaries'].values()))


# (what is wrong, how): each a malformed candidates answer the hand-written
# check (placement_answers._candidates) must refuse, with the pass that
# refuses it named.
_BAD_CANDIDATES = {
    # dict.keys on a value that is not an object.
    'allocations not an object': lambda b: b['allocation_requests'][0]
    .update(allocations=[UUID]),
    # A string would be iterated as its characters.
    'mapping not an array': lambda b: b['allocation_requests'][0].update(
        mappings={'': ''}),
    'mappings not an object': lambda b: b['allocation_requests'][0].update(
        mappings=[]),
    'mapped provider unhashable': lambda b: b['allocation_requests'][0]
    .update(mappings={'': [[UUID]]}),
    'mapped provider undescribed': lambda b: b['allocation_requests'][0]
    .update(mappings={'': [UUID]}),
    'allocation undescribed': lambda b: b['allocation_requests'][0].update(
        allocations={UUID: {}}),
    'request missing mappings': lambda b: b['allocation_requests'][0].pop(
        'mappings'),
    'request not an object': lambda b: b['allocation_requests'].append([]),
    'request a string': lambda b: b['allocation_requests'].append(
        'allocations'),
    'summary not an object': lambda b: b['provider_summaries'].update(
        {UUID: [1]}),
    'summary missing traits': lambda b: _summary(b).pop('traits'),
    'summary missing resources': lambda b: _summary(b).pop('resources'),
    'summary missing root': lambda b: _summary(b).pop('root_provider_uuid'),
    # A string would be iterated as its characters, all name characters.
    'traits a string': lambda b: _summary(b).update(traits='CUSTOM_X'),
    # An object would be iterated as its keys, all names.
    'traits an object': lambda b: _summary(b).update(
        traits={'CUSTOM_X': 1}),
    'trait not a string': lambda b: _summary(b).update(traits=['X', 1]),
    'trait empty': lambda b: _summary(b).update(traits=['']),
    'trait lowercase': lambda b: _summary(b).update(traits=['custom_x']),
    'trait lone surrogate': lambda b: _summary(b).update(
        traits=['X\ud800']),
    'resources not an object': lambda b: _summary(b).update(
        resources=['VGPU']),
    'resource class not a name': lambda b: _summary(b).update(
        resources={'vgpu': {'capacity': 1, 'used': 0}}),
    'resource not an object': lambda b: _summary(b).update(
        resources={'VGPU': 1}),
    'resource missing used': lambda b: _summary(b).update(
        resources={'VGPU': {'capacity': 1}}),
    'capacity a bool': lambda b: _summary(b).update(
        resources={'VGPU': {'capacity': True, 'used': 0}}),
    'capacity a float': lambda b: _summary(b).update(
        resources={'VGPU': {'capacity': 1.0, 'used': 0}}),
    'used negative': lambda b: _summary(b).update(
        resources={'VGPU': {'capacity': 1, 'used': -1}}),
    'used too large': lambda b: _summary(b).update(
        resources={'VGPU': {'capacity': 1, 'used': 2 ** 63}}),
    'root not a uuid': lambda b: _summary(b).update(
        root_provider_uuid='x' * 36),
    'root unhashable': lambda b: _summary(b).update(
        root_provider_uuid=[UUID]),
    'summary key not a uuid': lambda b: b['provider_summaries'].update(
        {'x': _summary(b)}),
    'summaries not an object': lambda b: b.update(provider_summaries=[]),
    'requests not an array': lambda b: b.update(allocation_requests={}),
    # Iterated, a list of described providers or an empty string would
    # name only described providers.
    'allocations a list of described providers': lambda b: b[
        'allocation_requests'][0].update(allocations=list(b[
            'provider_summaries'])),
    'allocations an empty string': lambda b: b['allocation_requests'][0]
    .update(allocations=''),
    'mappings an empty string': lambda b: b['allocation_requests'][0]
    .update(mappings=''),
    'mapping a string': lambda b: b['allocation_requests'][0].update(
        mappings={'': str(uuid_lib.UUID(int=1))}),
    # Empty, they have nothing to iterate.
    'resources an empty array': lambda b: _summary(b).update(resources=[]),
    'traits an empty object': lambda b: _summary(b).update(traits={}),
    'resource an array of amounts': lambda b: _summary(b).update(
        resources={'VGPU': [1, 0]}),
    'capacity null': lambda b: _summary(b).update(
        resources={'VGPU': {'capacity': None, 'used': 0}}),
    'root null': lambda b: _summary(b).update(root_provider_uuid=None),
    'root an integer': lambda b: _summary(b).update(root_provider_uuid=7),
}


@pytest.mark.parametrize('n', [1, 12])
@pytest.mark.parametrize('wrong', sorted(_BAD_CANDIDATES))
def test_a_malformed_candidates_answer_is_refused(wrong, n):
    # Short and long columns alike; jsonschema and the consistency check
    # (the reference, which writes the message) agree.
    body = _candidates(n, n + 1)
    assert placement_answers._candidates(body)
    _BAD_CANDIDATES[wrong](body)
    assert not placement_answers._candidates(body)
    assert not _reference_candidates(body)
    with pytest.raises(placement_reader.MalformedAnswer):
        placement_reader.check('/allocation_candidates?x=1', body, '1.36')


def _reference_candidates(body):
    from nova_vfio_compat.model import records
    if not records.Validator(
            placement_answers.ALLOCATION_CANDIDATES).is_valid(body):
        return False
    try:
        placement_answers._candidates_consistent(body, 'GET /x')
    except placement_answers.MalformedAnswer:
        return False
    return True


@given(st.integers(0, 12), st.integers(1, 12), st.integers(0, 1000),
       st.data())
def test_the_candidates_check_agrees_with_jsonschema(n, m, pick, data):
    # One value anywhere in a valid answer made hostile (or deleted, or
    # a provider left undescribed): the hand-written check says what
    # jsonschema and _candidates_consistent say together.
    body = _candidates(n, m)
    paths = []

    def walk(value, path):
        paths.append(path)
        if isinstance(value, dict):
            for k in value:
                walk(value[k], path + (k,))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, path + (i,))
    walk(body, ())
    path = paths[pick % len(paths)]
    if path:
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        how = data.draw(st.sampled_from(['set', 'delete', 'undescribe']))
        if how == 'delete':
            del parent[path[-1]]
        elif how == 'undescribe' and isinstance(parent, dict) and (
                path[0] == 'provider_summaries' and len(path) == 2):
            parent[UUID] = parent.pop(path[-1])
        else:
            parent[path[-1]] = data.draw(_HOSTILE | st.just(UUID))
    assert placement_answers._candidates(body) == _reference_candidates(
        body)


def test_a_candidates_answer_may_spell_uuids_as_the_pattern_allows():
    # A root no summary describes, a provider's UUID without hyphens or
    # in upper case: the pattern allows them, so does the check.
    body = _candidates(3, 4)
    _summary(body)['root_provider_uuid'] = UUID.upper()
    for i, spelt in ((1, uuid_lib.UUID(int=2).hex),
                     (2, str(uuid_lib.UUID(int=3)).upper())):
        _rename(body, str(uuid_lib.UUID(int=i + 1)), spelt)
    assert placement_answers._candidates(body)
    assert _reference_candidates(body)


def _rename(value, old, new):
    """``value`` with the string ``old`` replaced by ``new`` everywhere."""
    if isinstance(value, dict):
        items = [(new if k == old else k, _rename(v, old, new))
                 for k, v in value.items()]
        value.clear()
        value.update(items)
    elif isinstance(value, list):
        value[:] = [_rename(v, old, new) for v in value]
    elif value == old:
        return new
    return value


@given(st.integers(0, 12), st.integers(1, 12), st.integers(0, 100),
       _NEAR_UUIDS | _NEAR_NAMES)
def test_the_candidates_check_of_strings_agrees_with_jsonschema(
        n, m, pick, near):
    # One provider, trait or resource class renamed everywhere it is
    # written (summary key, candidates' allocations and mappings, roots;
    # traits; resources) to a string near a UUID or a name: the providers
    # stay described, so only the patterns decide, and the hand-written
    # check says what jsonschema says.
    body = _candidates(n, m)
    for summary in body['provider_summaries'].values():
        summary['traits'].append('CUSTOM_Y')
        summary['resources']['MEMORY_MB'] = {'capacity': 8, 'used': 0}
    names = ['CUSTOM_X', 'CUSTOM_Y', 'COMPUTE_NODE', 'VGPU', 'MEMORY_MB']
    old = (names + sorted(body['provider_summaries']))[
        pick % (len(names) + m)]
    _rename(body, old, near)
    assert placement_answers._candidates(body) == _reference_candidates(
        body), (old, near)


# (what is wrong, how): each a malformed answer to the filter's read of
# allocation candidates (the shape "candidates counted": how many
# requests, the summaries' roots) that must be refused.
_BAD_COUNTED = {
    'not an object': lambda b: [b],
    'requests missing': lambda b: b.pop('allocation_requests'),
    'requests not an array': lambda b: b.update(allocation_requests={}),
    'requests a string': lambda b: b.update(allocation_requests='xx'),
    'summaries missing': lambda b: b.pop('provider_summaries'),
    'summaries not an object': lambda b: b.update(provider_summaries=[]),
    'summary not an object': lambda b: b['provider_summaries'].update(
        {UUID: [UUID]}),
    'summary a string': lambda b: b['provider_summaries'].update(
        {UUID: 'root_provider_uuid'}),
    'summary missing root': lambda b: _summary(b).pop('root_provider_uuid'),
    'root not a uuid': lambda b: _summary(b).update(
        root_provider_uuid='x' * 36),
    'root null': lambda b: _summary(b).update(root_provider_uuid=None),
    'root unhashable': lambda b: _summary(b).update(
        root_provider_uuid=[UUID]),
    'root an integer': lambda b: _summary(b).update(root_provider_uuid=7),
}


def _counted(body):
    return placement_reader.Reader(lambda url, microversion: body)(
        '/allocation_candidates?limit=5', '1.36', route='candidates counted')


@pytest.mark.parametrize('n', [1, 12])
@pytest.mark.parametrize('wrong', sorted(_BAD_COUNTED))
def test_the_filters_candidates_check_refuses_a_malformed_count_or_root(
        wrong, n):
    # The filter uses how many candidates there are and the summaries'
    # roots: every malformed shape of those is refused, named by request
    # (jsonschema, the reference, agrees), short and long columns alike.
    from nova_vfio_compat.model import records
    body = _candidates(n, n + 1)
    assert _counted(body) is body
    if wrong == 'not an object':
        body = _BAD_COUNTED[wrong](body)
    else:
        _BAD_COUNTED[wrong](body)
    assert not records.Validator(
        placement_answers.ALLOCATION_CANDIDATES_COUNTED).is_valid(body)
    with pytest.raises(placement_reader.MalformedAnswer) as e:
        _counted(body)
    assert 'GET /allocation_candidates?limit=5' in str(e.value)


def test_the_filter_reads_candidates_checking_only_what_it_uses():
    # A provider no summary describes, a summary without traits: not
    # what the filter uses (drain's full read refuses them); the count
    # and the roots are.
    from nova_vfio_compat.selection import placement_reads
    body = _candidates(3, 4)
    _summary(body).pop('traits')
    body['allocation_requests'][0]['allocations']['0' * 32] = {}
    reads = placement_reads.RequestReads(lambda url, version: body)
    count, roots = reads.candidates('resources=VGPU:1&limit=5')
    assert count == 3
    assert roots == {s['root_provider_uuid']
                     for s in body['provider_summaries'].values()}
    with pytest.raises(placement_reader.MalformedAnswer):
        placement_reader.check('/allocation_candidates?x', body, '1.36')
    _summary(body).pop('root_provider_uuid')
    with pytest.raises(placement_reader.MalformedAnswer) as e:
        reads.candidates('resources=VGPU:1&limit=5')
    assert "'root_provider_uuid' is a required property" in str(e.value)


def test_every_named_route_is_a_routes_shape_and_none_skips_the_check():
    # A name gives the shape of its route (at the microversion asked), or
    # the filter's narrower shape of allocation candidates; a name that
    # is not a route's is an error, not an unchecked answer.
    shapes = [id(route[2]) for route in (placement_answers.ROUTES +
                                         placement_answers.READER_ROUTES)]
    for name, shape in placement_answers.NAMED_ROUTES.items():
        assert (id(shape) in shapes or shape is
                placement_answers.ALLOCATION_CANDIDATES_COUNTED), name
    reader = placement_reader.Reader(lambda url, microversion: {})
    with pytest.raises(KeyError):
        reader('/traits', '1.6', route='no such route')
    with pytest.raises(placement_reader.MalformedAnswer):
        reader('/traits', '1.6', route='traits')
    # At an older microversion, the older shape: no mappings before 1.34.
    body = _candidates(2, 3)
    for request in body['allocation_requests']:
        request.pop('mappings')
    reader = placement_reader.Reader(lambda url, microversion: body)
    assert reader('/allocation_candidates', '1.33',
                  route='allocation candidates') is body
    with pytest.raises(placement_reader.MalformedAnswer):
        reader('/allocation_candidates', '1.36',
               route='allocation candidates')


class _NamingReader(placement_reader.Reader):
    """A reader that records the route each read names."""

    def __init__(self, get_body):
        super().__init__(get_body)
        self.named = []

    def __call__(self, url, microversion, route=None):
        self.named.append((url, microversion, route))
        return super().__call__(url, microversion, route)


def _assert_named_as_found(named):
    """Each read named the route its URL's path is found by."""
    from urllib import parse

    for url, microversion, route in named:
        assert route is not None, url
        path = parse.urlsplit(url).path
        found = placement_answers.schema_for('GET', path, microversion,
                                             reader=True)
        assert found is placement_answers._schema_at(
            placement_answers.NAMED_ROUTES[route], microversion), url


def test_the_planning_reads_name_the_route_of_their_url():
    # drain, fleet and plan-upgrade read through PlacementView: every
    # read names its route, the one its URL has.
    from nova_vfio_compat.planning_reads import placement_view

    gpu = '00000000-0000-0000-0000-000000000002'
    provider = {'uuid': UUID, 'name': 'cn1', 'generation': 1,
                'parent_provider_uuid': None, 'root_provider_uuid': UUID}
    child = dict(provider, uuid=gpu, name='cn1_pci',
                 parent_provider_uuid=UUID)
    inventory = {'VGPU': {'total': 4, 'reserved': 0, 'min_unit': 1,
                          'max_unit': 4, 'step_size': 1,
                          'allocation_ratio': 1.0}}
    answers = {
        '/resource_providers': {'resource_providers': [provider, child]},
        '/resource_providers/%s' % gpu: child,
        '/resource_providers/%s/traits' % gpu: {
            'traits': ['CUSTOM_X'], 'resource_provider_generation': 1},
        '/resource_providers/%s/allocations' % gpu: {
            'allocations': {UUID: {'resources': {'VGPU': 1}}},
            'resource_provider_generation': 1},
        '/resource_providers/%s/inventories' % gpu: {
            'inventories': inventory, 'resource_provider_generation': 1},
        '/traits': {'traits': ['CUSTOM_X']},
        '/allocation_candidates': _candidates(2, 3),
    }
    reader = _NamingReader(
        lambda url, microversion: answers[url.partition('?')[0]])
    view = placement_view.PlacementView(reader)
    view.root('cn1')
    view.tree(UUID)
    view.traits(gpu)
    view.allocations(gpu)
    view.inventories(gpu)
    view.capacities(gpu)
    view.known(['CUSTOM_X'])
    view.known_owned()
    view.names()
    view.listing(['CUSTOM_X'], [('VGPU', 1)])
    view.provider(gpu)
    view.candidates(((((('VGPU', 1),), ()),)), [['CUSTOM_X']], limit=5)
    assert len({url.partition('?')[0] for url, _, _ in reader.named}) == 7
    _assert_named_as_found(reader.named)


def test_the_filters_reads_name_the_route_of_their_url():
    # Each read of the filter names the route its URL has (found by the
    # routes' patterns), so no answer is checked against another
    # route's shape.
    from urllib import parse

    from nova_vfio_compat.selection import placement_reads
    (emit,) = traits.emitted(
        {'CUSTOM_VFC_1_E_NVIDIA_10DE_1EB8_V2_84E4783A7C38FA50_M0'})
    gpu = '00000000-0000-0000-0000-000000000002'
    provider = {'uuid': gpu, 'name': 'cn1_pci', 'generation': 1,
                'parent_provider_uuid': UUID, 'root_provider_uuid': UUID}
    answers = {
        '/allocations/%s' % UUID: {'allocations': {
            gpu: {'resources': {'VGPU': 1}}}},
        '/resource_providers': {'resource_providers': [provider]},
        '/resource_providers/%s/traits' % gpu: {
            'traits': [emit], 'resource_provider_generation': 1},
        '/traits': {'traits': sorted(traits.accept_traits_for(emit))},
        '/allocation_candidates': _candidates(2, 3),
    }
    reader = _NamingReader(
        lambda url, microversion: answers[url.partition('?')[0]])
    reads = placement_reads.RequestReads(reader)
    reads.source_devices(UUID, UUID)
    reads.accepting([emit])
    reads.accepting([emit], trees=[UUID])
    reads.candidates('resources=VGPU:1')
    assert len({url.partition('?')[0] for url, _, _ in reader.named}) == 5
    for url, microversion, route in reader.named:
        assert route is not None, url
        path = parse.urlsplit(url).path
        found = placement_answers.schema_for('GET', path, microversion,
                                             reader=True)
        named = placement_answers._schema_at(
            placement_answers.NAMED_ROUTES[route], microversion)
        if route == 'candidates counted':
            assert found is placement_answers.ALLOCATION_CANDIDATES
        else:
            assert found is named, url
