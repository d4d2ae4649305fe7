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

"""Where each device's traits go, and the owned-only diff."""

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from nova_vfio_compat.model import devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from tests import encodings
from tests import reporter_devices as rd

HOST = 'compute1.example.com'


def _traits(device):
    return rd.published_traits(device)


def test_mdev_parent_name_is_novas():
    assert (plan.mdev_parent_provider_name('host1', '0000:3b:00.0') ==
            'host1_pci_0000_3b_00_0')


def test_a_virtual_parent_is_named_by_its_libvirt_name():
    # nova/virt/libvirt/driver.py _get_device_address: unchanged.
    assert plan.mdev_parent_provider_name(HOST, 'mtty_mtty') == (
        HOST + '_mtty_mtty')


def test_root_has_the_pci_devices_and_parents_their_own_types():
    gvt, vgpu, vf = rd.gvt(), rd.vgpu(), rd.vf()
    p = plan.build([gvt, vgpu, vf], HOST)
    assert p.errors == ()
    # The PCI device's traits, nothing of the mdev types: Placement
    # returns the root's traits with every allocation candidate.
    assert p.providers[HOST] == _traits(vf)
    gvt_rp = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
    vgpu_rp = plan.mdev_parent_provider_name(HOST, rd.VGPU_PARENT)
    assert p.providers[gvt_rp] == _traits(gvt)
    assert p.providers[vgpu_rp] == _traits(vgpu)
    # A PCI device goes to the root only: Nova replaces traits on its own
    # PCI providers, so no provider is planned for it.
    assert set(p.providers) == {HOST, gvt_rp, vgpu_rp}
    assert p.resource_classes == {
        traits.resource_class(publication.stream_document(d).emits)
        for d in (gvt, vgpu, vf)}
    assert all(traits.is_owned(n)
               for names in p.providers.values() for n in names)


def test_an_upgrade_removes_the_gpus_copies_from_the_root():
    """A root an earlier release published carries its GPUs' traits.

    The next sync takes off their emit, type and accept traits (they
    are owned), and leaves every trait it does not own.
    """
    gvt, vgpu, vf = rd.gvt(), rd.vgpu(), rd.vf()
    p = plan.build([gvt, vgpu, vf], HOST)
    foreign = {'COMPUTE_STATUS_DISABLED', 'CUSTOM_OTHER_AGENT'}
    before = _traits(gvt) | _traits(vgpu) | _traits(vf) | foreign
    to_add, to_remove = plan.diff(before, p.desired(HOST))
    assert traits.emitted(to_remove) and traits.mdev_types(to_remove)
    assert to_remove == _traits(gvt) | _traits(vgpu)
    assert plan.apply(before, to_add, to_remove) == (
        p.desired(HOST) | foreign)


def test_two_types_on_one_parent_share_its_provider():
    a = rd.gvt()
    b = rd.gvt(sample='gvt-i915-v1.3-type4.yaml')
    p = plan.build([a, b], HOST)
    rp = plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
    assert p.providers[rp] == _traits(a) | _traits(b)


def test_device_without_document_is_reported_and_others_published():
    bad = rd.broken()
    p = plan.build([bad, rd.vf()], HOST)
    assert len(p.errors) == 1
    assert bad.address in p.errors[0]
    assert 'bad.yaml' in p.errors[0]
    assert p.providers[HOST] == _traits(rd.vf())


def test_device_over_the_bound_is_reported_not_truncated():
    vf = rd.vf()     # accepts minors 0..41: 3 blocks + its emit trait
    other = rd.vf(address='0000:81:00.3', sample='mlx5-vf-fw28.43.yaml')
    limit = len(_traits(other))
    assert len(_traits(vf)) > limit
    p = plan.build([vf, other], HOST, max_traits=limit)
    assert len(p.errors) == 1 and vf.address in p.errors[0]
    assert 'limit of %d' % limit in p.errors[0]
    assert p.providers[HOST] == _traits(other)


def test_the_mdev_type_trait_counts_against_the_bound():
    gvt = rd.gvt()
    names = _traits(gvt)
    streams = traits.document_traits(publication.stream_document(gvt))
    assert names == streams | {'CUSTOM_VFC_2_T_I915_GVTG_V5_8_JW'}
    # The streams alone would fit; with the type's name they do not.
    published = publication.as_published(gvt, max_traits=len(streams))
    assert published.traits == frozenset()
    assert 'would carry %d traits' % len(names) in published.problem
    p = plan.build([gvt], HOST, max_traits=len(streams))
    assert len(p.errors) == 1 and gvt.address in p.errors[0]
    assert 'would carry %d traits' % len(names) in p.errors[0]
    assert p.providers[HOST] == frozenset()
    p = plan.build([gvt], HOST, max_traits=len(names))
    assert p.errors == () and p.providers[HOST] == frozenset()
    assert p.providers[plan.mdev_parent_provider_name(
        HOST, rd.GVT_PARENT)] == names


def test_gpus_are_not_bound_by_what_the_root_carries():
    """The root's limit is the PCI devices' alone: no GPU is left out.

    Each GPU's traits fit on its own provider, however many GPUs.
    """
    a, b = rd.gvt(), rd.vgpu()
    c = rd.gvt(parent='0000:00:03.0', sample='gvt-i915-v1.3-type4.yaml')
    limit = max(len(_traits(a)), len(_traits(b)), len(_traits(c)))
    assert len(_traits(a) | _traits(b) | _traits(c)) > limit
    p = plan.build([a, b, c], HOST, max_traits=limit)
    assert p.errors == () and p.left_out == () and p.message == ''
    assert p.providers[HOST] == frozenset()
    assert p.providers[plan.mdev_parent_provider_name(
        HOST, rd.GVT_PARENT)] == _traits(a)
    assert p.providers[plan.mdev_parent_provider_name(
        HOST, rd.VGPU_PARENT)] == _traits(b)
    assert p.providers[plan.mdev_parent_provider_name(
        HOST, '0000:00:03.0')] == _traits(c)


def _pci(index):
    """A PCI device of its own stream (major ``index``): 2 traits."""
    return devices.Device(
        address='0000:c1:%02x.%d' % (index // 8, index % 8),
        kind=devices.KIND_PCI, document=encodings.range_document(index, 0))


def test_pci_devices_past_the_bound_are_left_out_and_named():
    pcis = [_pci(i) for i in range(7)]
    gvt = rd.gvt()
    limit = 2 * 3 + 1
    p = plan.build(pcis + [gvt], HOST, max_traits=limit)
    assert p.errors == ()
    on_root = set().union(*(_traits(d) for d in pcis[:3]))
    assert p.providers[HOST] == on_root
    assert len(p.providers[HOST]) <= limit
    assert p.left_out == tuple(
        '%s (stream %s)' % (d.name, traits.emit_trait(d.document.emits))
        for d in pcis[3:])
    warning = p.message
    assert warning.startswith('4 device(s) left out')
    assert 'max_traits_per_provider' in warning
    assert all(line in warning for line in p.left_out)
    # The GPU has its own provider, whatever the root's limit.
    assert p.providers[plan.mdev_parent_provider_name(
        HOST, rd.GVT_PARENT)] == _traits(gvt)
    # No class is needed for a device left out.
    assert p.resource_classes == {
        traits.resource_class(publication.stream_document(d).emits)
        for d in pcis[:3] + [gvt]}


def test_managed_providers():
    p = plan.build([], HOST)
    assert p.providers == {HOST: frozenset()}
    assert p.is_managed(HOST)
    assert p.is_managed(HOST + '_pci_0000_3b_00_0')
    # Nova's own PCI providers and other hosts are never managed.
    assert not p.is_managed(HOST + '_0000:81:00.0')
    assert not p.is_managed('compute2_pci_0000_3b_00_0')
    assert p.desired(HOST + '_pci_0000_3b_00_0') == frozenset()


OWNED = st.sampled_from(['CUSTOM_VFC_1_E_X', 'CUSTOM_VFC_1_A_X_M0',
                         'CUSTOM_VFC_1_A_X_M1', 'CUSTOM_VFC_RC'])
FOREIGN = st.sampled_from(['COMPUTE_NODE', 'OWNER_NOVA', 'CUSTOM_OTHER',
                           'HW_CPU_X86_AVX2', 'CUSTOM_VF', 'CUSTOM_VFCX'])


@given(current=st.frozensets(OWNED | FOREIGN),
       desired=st.frozensets(OWNED | FOREIGN))
def test_diff_touches_only_owned_traits(current, desired):
    to_add, to_remove = plan.diff(current, desired)
    assert all(traits.is_owned(n) for n in to_add | to_remove)
    after = plan.apply(current, to_add, to_remove)
    # the foreign part is exactly what it was, the owned part is desired
    assert {n for n in after if not traits.is_owned(n)} == {
        n for n in current if not traits.is_owned(n)}
    assert {n for n in after if traits.is_owned(n)} == {
        n for n in desired if traits.is_owned(n)}
    # and applying again changes nothing
    assert plan.diff(after, desired) == (frozenset(), frozenset())


def test_a_device_whose_traits_cannot_be_computed_spoils_only_itself():
    # A document built around the validation (no parser produces it): a
    # minor that is not an int breaks range() in the trait encoding.
    vf = rd.vf()
    broken_record = dataclasses.replace(vf.document.emits, minor=2.5)
    bad = dataclasses.replace(
        rd.gvt(), document=dataclasses.replace(
            vf.document, emits=broken_record, accepts=(broken_record,)))
    p = plan.build([bad, vf], HOST)
    (error,) = p.errors
    assert error.startswith('device %s: its traits cannot be computed'
                            % bad.name)
    assert p.providers[HOST] == _traits(vf)
