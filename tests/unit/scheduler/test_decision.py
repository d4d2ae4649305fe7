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


"""The filter's per-host decision, without Nova."""

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from nova_vfio_compat import records
from nova_vfio_compat import rules
from nova_vfio_compat.scheduler import decision
from nova_vfio_compat import traits
from tests import strategies

ROOT_A, ROOT_B = 'root-a', 'root-b'
GPU_A0, GPU_A1, GPU_B0 = 'gpu-a0', 'gpu-a1', 'gpu-b0'


def _doc(text_or_data, source='doc'):
    if isinstance(text_or_data, str):
        return records.loads(text_or_data, source)
    return records.parse_document(text_or_data, source)


def _gpu(major, minor, subsystem=0x12a2):
    return _doc('device_api: vfio-pci\nvendor: nvidia\n'
                'version: {major: %d, minor: %d}\n'
                'vfio-pci: {vendor: 0x10de, device: 0x1eb8, '
                'subsystem_vendor: 0x10de, subsystem_device: %d}\n'
                % (major, minor, subsystem))


SOURCE_DOC, NEWER, OTHER_MAJOR = _gpu(1, 2), _gpu(1, 3), _gpu(2, 0)


def _source(doc=SOURCE_DOC, uuid='src-gpu', classes=('VGPU',)):
    return decision.SourceDevice(uuid, 'src_pci_0000_81_00_0',
                                 traits.document_traits(doc),
                                 frozenset(classes))


def _any_of(names, provider_traits):
    """What Placement answers to ``required=in:<names>``.

    The providers carrying at least one of them (the real Placement is
    held to it in tests/functional/reporter/test_accept_query.py).
    """
    return {p for p, t in provider_traits.items() if not t.isdisjoint(names)}


def _accepting(providers, sources=(SOURCE_DOC, NEWER, OTHER_MAJOR)):
    """{emit trait: {provider: root}} from {(provider, root): doc}.

    As RequestReads.accepting reads it, for the streams of ``sources``.
    """
    provider_traits = {key: traits.document_traits(doc)
                       for key, doc in providers.items()}
    result = {}
    for doc in sources:
        emit = traits.emit_trait(doc.emits)
        result[emit] = dict(_any_of(traits.accept_traits_for(emit),
                                    provider_traits))
    return result


def _candidate(root, device=None, rc='VGPU'):
    allocations = {root: {'resources': {'VCPU': 2}}}
    if device:
        allocations[device] = {'resources': {rc: 1}}
    return {'allocations': allocations, 'mappings': {}}


def test_host_whose_gpus_accept_passes_with_every_candidate():
    streams = decision.Streams([_source()], _accepting({
        (GPU_A0, ROOT_A): NEWER, (GPU_A1, ROOT_A): NEWER,
        (ROOT_A, ROOT_A): NEWER}))
    candidates = [_candidate(ROOT_A, GPU_A0), _candidate(ROOT_A, GPU_A1)]
    result = streams.decide(ROOT_A, candidates)
    assert result.passes
    assert result.keep == candidates
    assert result.rejections == []


def test_host_nobody_accepts_on_is_rejected_naming_stream_and_source():
    source = _source()
    streams = decision.Streams([source], _accepting({
        (GPU_A0, ROOT_A): NEWER, (GPU_B0, ROOT_B): OTHER_MAJOR}))
    result = streams.decide(ROOT_B, [_candidate(ROOT_B, GPU_B0)])
    assert not result.passes
    (rejection,) = result.rejections
    assert rejection.stream == traits.emit_trait(SOURCE_DOC.emits)
    assert rejection.provider is None
    assert rejection.describe() == (
        'no provider accepts stream %s emitted by source provider '
        'src_pci_0000_81_00_0 (src-gpu)' % rejection.stream)


def test_candidates_on_a_refusing_gpu_are_pruned():
    streams = decision.Streams([_source()], _accepting({
        (GPU_A1, ROOT_A): NEWER, (ROOT_A, ROOT_A): NEWER}))
    bad, good = _candidate(ROOT_A, GPU_A0), _candidate(ROOT_A, GPU_A1)
    result = streams.decide(ROOT_A, [bad, good])
    assert result.passes
    assert result.keep == [good]
    assert [r.provider for r in result.rejections] == [GPU_A0]
    assert 'device provider gpu-a0 does not accept' in \
        result.rejections[0].describe()


def test_host_is_rejected_when_every_candidate_is_pruned():
    # The root says yes (some other device accepts) but the only
    # candidates use a GPU that refuses.
    streams = decision.Streams([_source()], _accepting({
        (GPU_A1, ROOT_A): NEWER, (ROOT_A, ROOT_A): NEWER}))
    result = streams.decide(ROOT_A, [_candidate(ROOT_A, GPU_A0)])
    assert not result.passes
    assert result.keep == []


def test_candidate_without_device_provider_defers_to_the_host():
    streams = decision.Streams([_source()], _accepting({
        (ROOT_A, ROOT_A): NEWER}))
    assert streams.decide(ROOT_A, [_candidate(ROOT_A)]).passes
    assert not streams.decide(ROOT_B, [_candidate(ROOT_B)]).passes


def test_device_of_another_resource_class_is_not_asked():
    # A NIC VF in the same candidate need not accept the GPU's stream.
    streams = decision.Streams([_source()], _accepting({
        (GPU_A0, ROOT_A): NEWER, (ROOT_A, ROOT_A): NEWER}))
    candidate = _candidate(ROOT_A, GPU_A0)
    candidate['allocations']['nic'] = {'resources': {'CUSTOM_VF': 1}}
    assert streams.decide(ROOT_A, [candidate]).keep == [candidate]


def test_a_device_that_may_receive_either_source_must_accept_both():
    # Two source GPUs of one class with different streams: Nova maps
    # mdevs by type, so a destination GPU may get either.
    one = _source(SOURCE_DOC, 'src-1')
    two = _source(OTHER_MAJOR, 'src-2')
    streams = decision.Streams([one, two], _accepting({
        (GPU_A0, ROOT_A): NEWER, (GPU_A1, ROOT_A): OTHER_MAJOR,
        (ROOT_A, ROOT_A): NEWER}))
    # The tree accepts both streams (A0 one, A1 the other) ...
    assert streams.host_rejections(ROOT_A) == []
    # ... but no single GPU accepts both.
    both = {'allocations': {ROOT_A: {'resources': {}},
                            GPU_A0: {'resources': {'VGPU': 1}},
                            GPU_A1: {'resources': {'VGPU': 1}}}}
    result = streams.decide(ROOT_A, [both])
    assert not result.passes
    assert {(r.provider, r.source.uuid) for r in result.rejections} == {
        (GPU_A0, 'src-2'), (GPU_A1, 'src-1')}


def test_sources_without_streams_are_ignored():
    plain = decision.SourceDevice('nic', 'nic', frozenset({'CUSTOM_X'}))
    streams = decision.Streams([plain], {})
    assert streams.sources == ()
    assert streams.emitted == frozenset()
    assert streams.decide(ROOT_A, [_candidate(ROOT_A, GPU_A0)]).passes


def test_no_candidates_means_the_host_check_decides():
    streams = decision.Streams([_source()], _accepting({
        (ROOT_A, ROOT_A): NEWER}))
    assert streams.decide(ROOT_A, []).passes
    assert not streams.decide(ROOT_B, []).passes


def test_policy_from_flavor_or_default():
    assert decision.effective_policy(None, 'check') == 'check'
    assert decision.effective_policy({}, 'skip') == 'skip'
    assert decision.effective_policy(
        {'vfio_compat:policy': 'strict'}, 'check') == 'strict'
    # A value stored before nova-api validated it.
    assert decision.effective_policy(
        {'vfio_compat:policy': 'bogus'}, 'skip') == 'skip'


def test_options_and_decision_do_not_import_nova():
    # The reporter imports the options on hosts without Nova; a fresh
    # interpreter shows what importing them pulls in.
    code = ('import sys\n'
            'import nova_vfio_compat.conf\n'
            'import nova_vfio_compat.scheduler.decision\n'
            'print(sorted(m for m in sys.modules\n'
            '             if m == "nova" or m.startswith("nova.")))\n')
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == '[]'


@given(strategies.related_pairs(), st.booleans())
def test_decision_agrees_with_the_rule_engine(pair, via_root):
    """A one-GPU host passes exactly when rules.check says compatible."""
    source, dest = _doc(pair[0], 'source'), _doc(pair[1], 'dest')
    verdict = rules.check(source, dest)
    streams = decision.Streams(
        [_source(source)], _accepting({(GPU_B0, ROOT_B): dest,
                                       (ROOT_B, ROOT_B): dest}, [source]))
    candidates = [] if via_root else [_candidate(ROOT_B, GPU_B0)]
    assert streams.decide(ROOT_B, candidates).passes is verdict.compatible
