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

import pathlib
import re

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
