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

"""The validators the benchmark times against drain's check say the same.

A comparison is fair only if each validator checks the same shape: each
accepts a well-formed answer and refuses each way of breaking one that
the shape forbids.  The one test neither library's schema can express
(that a candidate names only providers the summaries describe) is the
one they are allowed to miss.
"""

import copy

import pytest

from benchmarks import validators

pytest.importorskip('pydantic_core')

ROOT = '2f4c4f1e-0000-4000-8000-000000000001'
GPU = '2f4c4f1e-0000-4000-8000-000000000002'
URL = '/allocation_candidates?resources=VGPU:1'


def answer():
    """Nova's one-vGPU query on a host of one GPU, as Placement gives it."""
    return {
        'allocation_requests': [{
            'allocations': {GPU: {'resources': {'VGPU': 1}}},
            'mappings': {'': [GPU]}}],
        'provider_summaries': {
            ROOT: {'resources': {}, 'traits': ['COMPUTE_NODE'],
                   'parent_provider_uuid': None,
                   'root_provider_uuid': ROOT},
            GPU: {'resources': {'VGPU': {'capacity': 4, 'used': 1}},
                  'traits': ['CUSTOM_VFC_2_T_NVIDIA_222_0'],
                  'parent_provider_uuid': ROOT,
                  'root_provider_uuid': ROOT}}}


def _set(path, value):
    def breaks(body):
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return breaks


def _rename(old, new):
    def breaks(body):
        summaries = body['provider_summaries']
        summaries[new] = summaries.pop(old)
    return breaks


S = 'provider_summaries'
BREAKS = {
    'a trait that is no name': _set((S, GPU, 'traits', 0), 'lower'),
    'an empty trait': _set((S, GPU, 'traits', 0), ''),
    'a trait that is no string': _set((S, GPU, 'traits', 0), 7),
    'traits that are no list': _set((S, GPU, 'traits'), 'COMPUTE_NODE'),
    'a resource class that is no name': _set(
        (S, GPU, 'resources'), {'vgpu': {'capacity': 4, 'used': 1}}),
    'an amount that is a string': _set(
        (S, GPU, 'resources', 'VGPU', 'used'), '1'),
    'an amount that is a boolean': _set(
        (S, GPU, 'resources', 'VGPU', 'used'), True),
    'an amount that is a float': _set(
        (S, GPU, 'resources', 'VGPU', 'used'), 1.0),
    'a negative amount': _set((S, GPU, 'resources', 'VGPU', 'used'), -1),
    'an amount past a BIGINT': _set(
        (S, GPU, 'resources', 'VGPU', 'capacity'), 2 ** 63),
    'a root that is no UUID': _set((S, GPU, 'root_provider_uuid'), 'x'),
    'a summary without its root': lambda body: body[S][GPU].pop(
        'root_provider_uuid'),
    'a summary key that is no UUID': _rename(ROOT, 'not-a-uuid'),
    'mappings that are no object': _set(
        ('allocation_requests', 0, 'mappings'), []),
    'allocations that are no object': _set(
        ('allocation_requests', 0, 'allocations'), [GPU]),
    'no summaries': lambda body: body.pop(S),
}


def _checks():
    return dict(validators.checks(URL, '1.36'))


def test_every_validator_is_timed_and_accepts_a_well_formed_answer():
    checks = _checks()
    assert list(checks) == ["the project's (written by hand)",
                            'jsonschema (the reference)',
                            'pydantic-core (compiled, Rust)']
    for name, check in checks.items():
        assert check(answer()) is True, name


@pytest.mark.parametrize('how', sorted(BREAKS))
def test_every_validator_refuses_what_the_shape_forbids(how):
    body = copy.deepcopy(answer())
    BREAKS[how](body)
    for name, check in _checks().items():
        assert check(body) is False, (name, how)


def test_only_the_readers_check_refuses_a_candidate_naming_no_summary():
    body = answer()
    body['allocation_requests'][0]['mappings'][''] = [
        '2f4c4f1e-0000-4000-8000-0000000000ff']
    checks = _checks()
    assert checks.pop('pydantic-core (compiled, Rust)')(body) is True
    assert checks.pop('jsonschema (the reference)')(body) is True
    # Neither schema language says it; the reader's check adds the test
    # (as its refusal adds it to jsonschema's message).
    assert [check(body) for check in checks.values()] == [False]
