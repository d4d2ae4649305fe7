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
from hypothesis import settings
from hypothesis import strategies as st

from nova_vfio_compat.model import policy
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits
from nova_vfio_compat.selection import decision
from tests import budget
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


def test_a_host_accepting_only_some_of_the_devices_fails():
    # Two devices of one server: the tree accepts the GPU's stream and
    # nothing in it the second device's. Every device needs a receiver,
    # with or without candidates (none: the host check alone decides).
    gpu = _source()
    second = _source(OTHER_MAJOR, uuid='src-vf', classes=('CUSTOM_VFC_X',))
    streams = decision.Streams([gpu, second], _accepting({
        (GPU_A0, ROOT_A): NEWER, (ROOT_A, ROOT_A): NEWER}))
    refused = traits.emit_trait(OTHER_MAJOR.emits)
    assert ROOT_A not in streams.accepting_roots
    for candidates in ([], [_candidate(ROOT_A, GPU_A0)]):
        assert streams.check(ROOT_A, candidates) == (False, None)
        result = streams.decide(ROOT_A, candidates)
        assert not result.passes
        assert [(r.stream, r.source) for r in result.rejections] == [
            (refused, second)]
    assert streams.reason(ROOT_A).streams == (refused,)


def test_a_candidate_with_one_refusing_device_of_two_is_pruned():
    # A server with two GPUs: a candidate that puts one on an accepting
    # GPU and the other on a refusing one is pruned, whichever is first.
    streams = decision.Streams(
        [_source(), _source(uuid='src-gpu-2')],
        _accepting({(GPU_A1, ROOT_A): NEWER, (ROOT_A, ROOT_A): NEWER}))
    good = _candidate(ROOT_A, GPU_A1)
    for order in ((GPU_A1, GPU_A0), (GPU_A0, GPU_A1)):
        mixed = _candidate(ROOT_A)
        for gpu in order:
            mixed['allocations'][gpu] = {'resources': {'VGPU': 1}}
        assert streams.check(ROOT_A, [mixed, good]) == (True, [good])
        result = streams.decide(ROOT_A, [mixed, good])
        assert result.keep == [good]
        assert {r.provider for r in result.rejections} == {GPU_A0}


def test_candidate_without_device_provider_defers_to_the_host():
    streams = decision.Streams([_source()], _accepting({
        (ROOT_A, ROOT_A): NEWER}))
    assert streams.decide(ROOT_A, [_candidate(ROOT_A)]).passes
    assert not streams.decide(ROOT_B, [_candidate(ROOT_B)]).passes
    # A root that holds the device class itself (vGPUs inventoried on the
    # compute node) is the host's to answer, through its tree.
    on_root = {'allocations': {ROOT_A: {'resources': {'VGPU': 1}}}}
    assert streams.check(ROOT_A, [on_root]) == (True, None)
    assert streams.decide(ROOT_A, [on_root]).passes


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
    assert streams.check(ROOT_A, [both]) == (False, [])
    # One GPU each: neither accepts both sources' streams.
    assert streams.check(ROOT_A, [_candidate(ROOT_A, GPU_A0),
                                  _candidate(ROOT_A, GPU_A1)]) == (False, [])
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
    assert policy.effective_policy(None, 'check') == 'check'
    assert policy.effective_policy({}, 'skip') == 'skip'
    assert policy.effective_policy(
        {'vfio_compat:policy': 'strict'}, 'check') == 'strict'
    # A value stored before nova-api validated it.
    assert policy.effective_policy(
        {'vfio_compat:policy': 'bogus'}, 'skip') == 'skip'


def test_options_and_policy_do_not_import_nova():
    # The reporter imports the options on hosts without Nova; a fresh
    # interpreter shows what importing them pulls in.
    code = ('import sys\n'
            'import nova_vfio_compat.conf\n'
            'import nova_vfio_compat.conf.opts\n'
            'import nova_vfio_compat.model.policy\n'
            'print(sorted(m for m in sys.modules\n'
            '             if m == "nova" or m.startswith("nova.")))\n')
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == '[]'


@budget.downstream
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


# Two streams from one source provider ------------------------------------

def _two_stream_source():
    # A provider whose traits say it emits two streams (two documents,
    # e.g. a root carrying the union of its devices' traits).
    names = traits.document_traits(SOURCE_DOC) | traits.document_traits(
        OTHER_MAJOR)
    return decision.SourceDevice('src-2s', 'src_2s', names,
                                 frozenset(['VGPU']))


def test_a_tree_that_accepts_one_of_two_streams_fails():
    source = _two_stream_source()
    assert len(source.streams) == 2
    streams = decision.Streams([source], _accepting({
        (GPU_A0, ROOT_A): NEWER, (ROOT_A, ROOT_A): NEWER}))
    candidates = [_candidate(ROOT_A, GPU_A0)]
    assert streams.check(ROOT_A, candidates) == (False, None)
    result = streams.decide(ROOT_A, candidates)
    assert not result.passes
    assert [r.stream for r in result.rejections] == [
        traits.emit_trait(OTHER_MAJOR.emits)]
    assert streams.reason(ROOT_A).streams == (
        traits.emit_trait(OTHER_MAJOR.emits),)


def test_a_device_that_accepts_one_of_two_streams_is_pruned():
    source = _two_stream_source()
    # The tree accepts both (A0 one, A1 both); only A1 accepts both.
    both = {(GPU_A1, ROOT_A): NEWER, (GPU_A0, ROOT_A): NEWER,
            (ROOT_A, ROOT_A): NEWER}
    accepting = _accepting(both)
    # A1 (and so the tree) also accepts the second stream.
    other = traits.emit_trait(OTHER_MAJOR.emits)
    accepting.setdefault(other, {})[GPU_A1] = ROOT_A
    accepting[other][ROOT_A] = ROOT_A
    streams = decision.Streams([source], accepting)
    bad, good = _candidate(ROOT_A, GPU_A0), _candidate(ROOT_A, GPU_A1)
    assert streams.check(ROOT_A, [bad, good]) == (True, [good])
    assert streams.check(ROOT_A, [good]) == (True, None)
    assert streams.check(ROOT_A, [bad]) == (False, [])
    assert streams.decide(ROOT_A, [bad, good]).keep == [good]


# Device resource classes ---------------------------------------------------

def test_device_classes_are_devices_and_others_are_not():
    for rc in ('VGPU', 'PCI_DEVICE', 'SRIOV_NET_VF', 'PGPU', 'FPGA',
               'CUSTOM_PCI_10DE_1EB8', 'CUSTOM_VFC_NVIDIA_10DE_1EB8_AB'):
        assert decision.is_device_class(rc), rc
    for rc in ('NET_BW_EGR_KILOBIT_PER_SEC', 'NET_BW_IGR_KILOBIT_PER_SEC',
               'NET_PACKET_RATE_KILOPACKET_PER_SEC', 'DISK_GB', 'VCPU',
               'MEMORY_MB', 'CUSTOM_MY_GPU', 'CUSTOM_PCIX'):
        assert not decision.is_device_class(rc), rc
    assert decision.is_device_class('CUSTOM_MY_GPU', {'CUSTOM_MY_GPU'})


# The fast per-host test agrees with the one that explains ----------------

_DOCS = [SOURCE_DOC, NEWER, OTHER_MAJOR, _gpu(1, 0), _gpu(1, 2, 0x12a3)]
_CLASSES = ['VGPU', 'CUSTOM_VFC_X', 'NET_BW_EGR_KILOBIT_PER_SEC']
_ROOTS = ['r0', 'r1', 'r2']
_PROVIDERS = [('p%d' % i, _ROOTS[i % 3]) for i in range(6)]


@st.composite
def _requests(draw):
    sources = [
        decision.SourceDevice(
            'src-%d' % i, None,
            frozenset().union(*(traits.document_traits(d) for d in draw(
                st.lists(st.sampled_from(_DOCS), min_size=1, max_size=2)))),
            frozenset(draw(st.sets(st.sampled_from(_CLASSES[:2]),
                                   max_size=2))))
        for i in range(draw(st.integers(1, 2)))]
    published = {}
    for provider, root in _PROVIDERS + [(r, r) for r in _ROOTS]:
        for doc in draw(st.lists(st.sampled_from(_DOCS), max_size=2)):
            published.setdefault((provider, root), []).append(doc)
    accepting = {}
    for (provider, root), docs in published.items():
        for doc in docs:
            for name in traits.document_traits(doc):
                if not traits.is_emit(name):
                    accepting.setdefault(name, {})[provider] = root
    root = draw(st.sampled_from(_ROOTS))
    mine = [p for p, r in _PROVIDERS if r == root]
    candidates = []
    for _ in range(draw(st.integers(0, 4))):
        allocations = {root: {'resources': {
            draw(st.sampled_from(['VCPU', 'VGPU'])): 1}}}
        for provider in draw(st.lists(st.sampled_from(mine), max_size=2,
                                      unique=True)):
            allocations[provider] = {'resources': {
                rc: 1 for rc in draw(st.sets(st.sampled_from(_CLASSES),
                                             min_size=1))}}
        candidates.append({'allocations': allocations, 'mappings': {}})
    return sources, accepting, root, candidates


@settings(max_examples=200)
@given(_requests())
def test_check_agrees_with_decide(request):
    sources, accepting, root, candidates = request
    streams = decision.Streams(sources, accepting)
    passes, kept = streams.check(root, candidates)
    result = streams.decide(root, candidates)
    assert passes is result.passes
    if passes:
        assert (candidates if kept is None else kept) == result.keep
    else:
        assert streams.reason(root).describe()


# Which providers are devices ---------------------------------------------

def test_providers_that_are_devices_whatever_their_class():
    emits = traits.document_traits(SOURCE_DOC)
    custom = frozenset(['CUSTOM_VGPU_T4'])
    # A GPU under a custom [mdev_<type>] mdev_class, described ...
    assert decision.is_device(emits, custom)
    # ... or not: Nova owns it.
    assert decision.is_device({'OWNER_NOVA'}, custom)
    # A VF with a custom [pci] device_spec resource_class.
    assert decision.is_device({'COMPUTE_MANAGED_PCI_DEVICE'}, custom)
    # A device class, whatever its traits.
    assert decision.is_device(frozenset(), {'VGPU'})
    # Not devices: a QoS port's bandwidth provider, Nova's memory
    # encryption context, a provider nobody describes.
    assert not decision.is_device(
        {'CUSTOM_PHYSNET_PHYSNET0', 'CUSTOM_VNIC_TYPE_DIRECT'},
        {'NET_BW_EGR_KILOBIT_PER_SEC'})
    assert not decision.is_device({'OWNER_NOVA'}, {'MEM_ENCRYPTION_CONTEXT'})
    assert not decision.is_device(frozenset(), custom)
    assert decision.is_device(frozenset(), custom, custom)


# PCI pools Nova claims any device of --------------------------------------

def _vf_source(doc=SOURCE_DOC, classes=('CUSTOM_VF',)):
    return decision.SourceDevice(
        'src-pf', 'src_0000:81:00.0',
        traits.document_traits(doc) | {'COMPUTE_MANAGED_PCI_DEVICE'},
        frozenset(classes))


def test_a_host_with_one_refusing_pool_is_refused_naming_it():
    source = _vf_source()
    streams = decision.Streams([source], _accepting({
        ('pf-b', ROOT_A): NEWER, ('pf-a', ROOT_A): OTHER_MAJOR,
        (ROOT_A, ROOT_A): NEWER}))
    # The tree (and so the candidates, which hold no VF) passes ...
    assert streams.check(ROOT_A, [_candidate(ROOT_A)]) == (True, None)
    # ... but Nova may claim a VF of PF A.
    pool_a = decision.ClaimablePool('pf-a', '0000:82:00.0', 'CUSTOM_VF')
    pool_b = decision.ClaimablePool('pf-b', '0000:82:01.0', 'CUSTOM_VF')
    (refused,) = streams.pool_rejections([pool_a, pool_b])
    assert refused.describe() == (
        'PCI device pool 0000:82:00.0 (provider pf-a), which Nova may claim '
        'from, does not accept stream %s emitted by source provider '
        'src_0000:81:00.0 (src-pf)' % traits.emit_trait(SOURCE_DOC.emits))
    assert streams.pool_rejections([pool_b]) == []
    # A pool the host does not report to Placement cannot be checked.
    (unknown,) = streams.pool_rejections([
        decision.ClaimablePool(None, '0000:82:02.0', 'CUSTOM_VF')])
    assert 'has no resource provider' in unknown.describe()
    assert decision.POOLS_REFUSE.describe().startswith(
        'a PCI device pool Nova may claim from does not accept')


def test_a_pool_serves_the_sources_of_its_class():
    vf = _vf_source(SOURCE_DOC, ['CUSTOM_VF'])
    nvme = decision.SourceDevice(
        'src-nvme', 'src_0000:85:00.0',
        traits.document_traits(OTHER_MAJOR) | {'COMPUTE_MANAGED_PCI_DEVICE'},
        frozenset(['CUSTOM_NVME']))
    gpu = _source()    # not Nova's PCI provider: claimed where allocated
    streams = decision.Streams([vf, nvme, gpu], _accepting({
        ('pf', ROOT_A): NEWER, ('nvme', ROOT_A): OTHER_MAJOR}))
    assert streams.pool_rejections([
        decision.ClaimablePool('pf', 'a', 'CUSTOM_VF'),
        decision.ClaimablePool('nvme', 'b', 'CUSTOM_NVME')]) == []
    # A pool of a class no source has may serve any of them.
    assert {r.source.uuid for r in streams.pool_rejections([
        decision.ClaimablePool('pf', 'a', 'CUSTOM_OTHER')])} == {'src-nvme'}


@budget.downstream
@given(strategies.related_pairs(), st.lists(st.booleans(), min_size=1,
                                            max_size=3))
def test_pools_pass_exactly_when_every_one_accepts(pair, compatible_pools):
    """Pools of documents the rules accept or refuse, as drawn."""
    source, other = _doc(pair[0], 'source'), _doc(pair[1], 'dest')
    # Each pool is the source's own document (which accepts its own
    # stream) or the drawn one, whatever the rules say of it.
    docs = [source if same else other for same in compatible_pools]
    providers = {('pf-%d' % i, ROOT_A): doc for i, doc in enumerate(docs)}
    streams = decision.Streams([_vf_source(source)],
                               _accepting(providers, [source]))
    pools = [decision.ClaimablePool('pf-%d' % i, 'pf-%d' % i, 'CUSTOM_VF')
             for i in range(len(docs))]
    expected = all(rules.check(source, doc).compatible for doc in docs)
    assert (streams.pool_rejections(pools) == []) is expected
