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

"""Hostile input: only the documented errors, never a traceback or a hang.

Capability documents come from sysfs attributes and files that a vendor or
an operator wrote; whatever they contain, parsing either returns a valid
document or raises InvalidDocument naming the source.  The deadline turns
a hang (or an exponential blow-up) into a failure.
"""

import contextlib
import datetime
import io
import json

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import yaml

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits
from nova_vfio_compat.placement import answers as placement_answers
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.selection import placement_reads
from tests import strategies

DEADLINE = datetime.timedelta(seconds=2)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=12), children, max_size=4),
    max_leaves=30)


def _near_miss(data):
    """Valid documents with one value replaced by an arbitrary one."""
    return st.tuples(st.just(data), json_values).map(_replace_one)


def _replace_one(pair):
    data, value = pair
    data = json.loads(json.dumps(data))
    target = data.get('self', data)
    key = sorted(target)[hash(json.dumps(value, default=str)) % len(target)]
    target[key] = value
    return data


def _parse_or_refuse(data, source='fuzz.yaml'):
    try:
        doc = records.parse_document(data, source)
    except records.InvalidDocument as e:
        assert str(e).startswith(source)
        return None
    # Whatever was accepted must be usable all the way to traits.
    try:
        traits.document_traits(doc)
    except traits.TraitLimitExceeded as e:
        assert source in str(e)
    return doc


def _loads_or_refuse(text, source='fuzz.yaml'):
    try:
        records.loads(text, source, max_bytes=64 * 1024)
    except records.InvalidDocument as e:
        assert str(e).startswith(source)


@settings(deadline=DEADLINE)
@given(st.binary(max_size=512))
def test_arbitrary_bytes(data):
    _loads_or_refuse(data)


@settings(deadline=DEADLINE)
@given(json_values)
def test_arbitrary_json_values(value):
    _parse_or_refuse(value)
    _loads_or_refuse(json.dumps(value))


@settings(deadline=DEADLINE)
@given(json_values)
def test_arbitrary_yaml_text(value):
    _loads_or_refuse(yaml.safe_dump(value))


@settings(deadline=DEADLINE)
@given(strategies.documents().flatmap(_near_miss))
def test_documents_with_one_bad_value(data):
    _parse_or_refuse(data)


@settings(deadline=DEADLINE)
@given(st.text(alphabet='{}[]:,"\'&*!|>-#\n 0x1aZ', max_size=200))
def test_yaml_and_json_punctuation_soup(text):
    _loads_or_refuse(text)


def test_yaml_alias_bomb_is_refused_quickly():
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 12):
        bomb += '%s: &%s [%s]\n' % (
            chr(97 + i), chr(97 + i), ','.join(['*' + chr(96 + i)] * 9))
    _loads_or_refuse(bomb)


@settings(deadline=None, max_examples=50)
@given(st.binary(max_size=256))
def test_cli_over_arbitrary_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp('fuzz') / 'doc'
    path.write_bytes(data)
    for argv in (['check', str(path), str(path)], ['traits', str(path)],
                 ['traits', str(path), '--json']):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(argv)
        assert status in (0, 1, 2)
        assert 'Traceback' not in err.getvalue()
        if status == 2:
            assert err.getvalue().startswith(
                'nova-vfio-compat: error: %s' % path)


# The boundary from outside: random JSON and YAML values as files through
# the commands, the capability-file loader, and Placement answers through
# their validators.

def _as_text(value, form):
    if form == 'json':
        return json.dumps(value)
    return yaml.safe_dump(value, allow_unicode=True)


def _documentish():
    # Near misses find the deep corners; arbitrary values the shallow ones.
    return st.one_of(json_values, strategies.hostile_documents(),
                     strategies.documents().flatmap(_near_miss),
                     strategies.documents())


@settings(deadline=None, max_examples=60)
@given(_documentish(), _documentish(), st.sampled_from(['json', 'yaml']))
def test_cli_over_arbitrary_json_and_yaml_values(tmp_path_factory, first,
                                                 second, form):
    directory = tmp_path_factory.mktemp('fuzz')
    paths = []
    for i, value in enumerate((first, second)):
        path = directory / ('doc%d.%s' % (i, form))
        path.write_text(_as_text(value, form), encoding='utf-8',
                        errors='surrogatepass')
        paths.append(str(path))
    for argv in (['check'] + paths, ['check', '--json'] + paths,
                 ['traits', paths[0]], ['traits', '--json', paths[1]],
                 ['matrix'] + paths, ['matrix', '--json'] + paths):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(argv)
        assert status in (0, 1, 2), (argv, err.getvalue())
        assert 'Traceback' not in err.getvalue()
        assert 'internal error' not in err.getvalue()
        if status == 2:
            assert err.getvalue().startswith('nova-vfio-compat: error: ')
            assert any(p in err.getvalue() for p in paths)
        if argv[0] == 'matrix':
            # The rules and the traits never disagree on what got in.
            assert status != 1, err.getvalue()


def _capability_file(document_or_value):
    return st.one_of(
        json_values,
        st.fixed_dictionaries({'capabilities': st.lists(
            st.fixed_dictionaries(
                {'match': st.one_of(json_values, st.fixed_dictionaries(
                    {'driver': st.one_of(st.just('nvidia'), json_values)})),
                 'document': st.just(document_or_value)}),
            max_size=3)}))


@settings(deadline=DEADLINE)
@given(_documentish().flatmap(_capability_file),
       st.sampled_from(['json', 'yaml']))
def test_capability_file_loader_over_arbitrary_values(tmp_path_factory,
                                                      data, form):
    from nova_vfio_compat.host.discovery import capability_files
    directory = tmp_path_factory.mktemp('caps')
    path = directory / ('caps.%s' % form)
    path.write_text(_as_text(data, form), encoding='utf-8',
                    errors='surrogatepass')
    catalogue = capability_files.load([str(directory)])   # never raises
    for error in catalogue.errors:
        assert error.startswith(str(path) + ': ')
    for entry in catalogue.entries:
        if entry.document is not None:
            traits.document_traits(entry.document, 10 ** 9)


ANSWER_SCHEMAS = [
    placement_answers.PROVIDERS, placement_answers.PROVIDERS_BEFORE_1_14,
    placement_answers.PROVIDER, placement_answers.PROVIDER_TRAITS,
    placement_answers.TRAITS, placement_answers.RESOURCE_CLASSES,
    placement_answers.ALLOCATIONS, placement_answers.PROVIDER_ALLOCATIONS,
    placement_answers.INVENTORIES, placement_answers.ALLOCATION_CANDIDATES,
    placement_answers.ALLOCATION_CANDIDATES_BEFORE_1_34,
]

_UUID = '4e8e5957-649f-477b-9e5b-f1f75b21c03c'
VALID_ANSWERS = [
    {'resource_providers': [{'uuid': _UUID, 'name': 'cn1', 'generation': 3,
                             'root_provider_uuid': _UUID,
                             'parent_provider_uuid': None, 'links': []}]},
    {'traits': ['COMPUTE_NODE', 'CUSTOM_X'],
     'resource_provider_generation': 7},
    {'traits': ['CUSTOM_X']},
    {'resource_classes': [{'name': 'VGPU', 'links': []}]},
    {'allocations': {_UUID: {'generation': 1, 'resources': {'VGPU': 1}}},
     'consumer_generation': 1},
    {'allocations': {_UUID: {'resources': {'VGPU': 1}}},
     'resource_provider_generation': 2},
    {'inventories': {'VGPU': {'total': 4, 'reserved': 0, 'min_unit': 1,
                              'max_unit': 4, 'step_size': 1}},
     'resource_provider_generation': 2},
    {'allocation_requests': [{'allocations': {_UUID: {'resources': {
        'VGPU': 1}}}, 'mappings': {'1': [_UUID]}}],
     'provider_summaries': {_UUID: {
         'resources': {'VGPU': {'capacity': 4, 'used': 1}},
         'traits': ['CUSTOM_X'], 'parent_provider_uuid': None,
         'root_provider_uuid': _UUID}}},
]


def _mutated_answer():
    return st.tuples(st.sampled_from(VALID_ANSWERS),
                     json_values | strategies.hostile_values(),
                     st.integers(0, 7)).map(_mutate_answer)


def _mutate_answer(args):
    body, value, pick = args
    body = json.loads(json.dumps(body))
    key = sorted(body)[pick % len(body)]
    inner = body[key]
    if isinstance(inner, list) and inner and isinstance(inner[0], dict):
        field = sorted(inner[0])[pick % len(inner[0])]
        inner[0][field] = value
    elif isinstance(inner, list) and inner and pick % 2:
        inner[0] = value
    elif isinstance(inner, dict) and inner and pick % 2:
        inner[sorted(inner)[0]] = value
    else:
        body[key] = value
    return body


@settings(deadline=DEADLINE)
@given(st.one_of(json_values, _mutated_answer(),
                 st.sampled_from(VALID_ANSWERS)),
       st.sampled_from(ANSWER_SCHEMAS))
def test_placement_answer_validators_over_arbitrary_values(body, schema):
    try:
        checked = placement_answers.check(body, schema, 'GET /x')
    except placement_answers.MalformedAnswer as e:
        assert str(e).startswith('GET /x: malformed answer from Placement')
        return
    assert checked is body
    # What passes is what the readers use, with the types they assume.
    for rp in body.get('resource_providers', ()):
        assert isinstance(rp['uuid'], str) and isinstance(rp['name'], str)
        assert type(rp['generation']) is int
    if 'traits' in body:
        assert all(isinstance(t, str) for t in body['traits'])
        frozenset(body['traits'])
    if schema is placement_answers.PROVIDER_TRAITS:
        assert type(body['resource_provider_generation']) is int


@settings(deadline=DEADLINE)
@given(st.one_of(json_values, _mutated_answer()))
def test_the_filters_reads_fail_only_as_placement_unavailable(body):
    reads = placement_reads.RequestReads(lambda url, version: body)
    for call in (lambda: reads.source_devices(_UUID, _UUID),
                 lambda: reads.accepting(['CUSTOM_VFC_1_E_X_M0'])):
        try:
            call()
        except placement_reader.PlacementUnavailable as e:
            assert 'malformed answer from Placement' in str(e)


@settings(deadline=DEADLINE)
@given(st.one_of(json_values, _mutated_answer()))
def test_drain_and_fleet_reads_fail_only_as_placement_unavailable(body):
    # Every route drain and fleet read, fed any answer: a checked body or
    # one PlacementUnavailable naming the request, never a KeyError or a
    # TypeError (which the command would report as an internal error).
    from nova_vfio_compat.planning_reads import placement_view
    view = placement_view.PlacementView(lambda url, version: body)
    for call in (lambda: placement_view.read_drain(view, 'cn1'),
                 lambda: placement_view.read_fleet(view),
                 lambda: view.candidates(((((('VGPU', 1),), ()),)), [[]]),
                 lambda: view.allocations(_UUID)):
        try:
            call()
        except placement_view.UnknownHost:
            pass
        except placement_reader.PlacementUnavailable as e:
            assert 'GET /' in str(e)


@settings(deadline=DEADLINE)
@given(st.one_of(json_values, _mutated_answer(),
                 st.sampled_from(VALID_ANSWERS)),
       st.sampled_from(ANSWER_SCHEMAS))
def test_the_fast_answer_check_agrees_with_jsonschema(body, schema):
    # placement_answers.conforms is the compiled check of the same
    # schemas; jsonschema is the reference.
    reference = records.Validator(schema).is_valid(body)
    assert placement_answers.conforms(body, schema) == reference
