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

"""The mdev type trait: every mdev type name has exactly one, it gives the
name back, and a name that has none is refused naming it (and its
device)."""

import string

from hypothesis import given
from hypothesis import strategies as st
import pytest

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.model import schema
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan

ALNUM = string.ascii_letters + string.digits
ALPHABET = ALNUM + '_.:+-'
LONGEST = traits.MAX_MDEV_TYPE_LENGTH

mdev_type_names = st.builds(
    lambda first, rest: first + rest, st.sampled_from(ALNUM),
    st.text(ALPHABET, max_size=LONGEST - 1))
# The longest names, where the code is longest too.
longest_names = st.builds(
    lambda first, rest: first + rest, st.sampled_from(ALNUM),
    st.text(ALPHABET, min_size=LONGEST - 1, max_size=LONGEST - 1))


def _document():
    return records.loads(
        'device_api: vfio-pci\nvendor: nvidia\nversion: {major: 1, minor: '
        '2}\nvfio-pci: {vendor: 0x10de, device: 0x1eb8, subsystem_vendor: '
        '0x10de, subsystem_device: 0x1}\n', 'x.yaml')


def test_names_are_pinned():
    # Names are an interface (flavors may require them): a change here
    # is a new encoding version, never an edit of these lines.
    assert traits.mdev_type_trait('nvidia-222') == (
        'CUSTOM_VFC_2_T_NVIDIA_222_0')
    assert traits.mdev_type_trait('i915-GVTg_V5_4') == (
        'CUSTOM_VFC_2_T_I915_GVTG_V5_4_JW')
    assert traits.mdev_type_trait('vfio_ap-passthrough') == (
        'CUSTOM_VFC_2_T_VFIO_AP_PASSTHROUGH_VLS')
    assert traits.mdev_type_trait('mtty-1') == 'CUSTOM_VFC_2_T_MTTY_1_0'


@given(st.one_of(mdev_type_names, longest_names))
def test_every_mdev_type_name_round_trips(name):
    trait = traits.mdev_type_trait(name)
    assert traits.is_valid_name(trait), trait
    assert trait.startswith(traits.TYPE_PREFIX)
    assert traits.mdev_type_of(trait) == name
    assert traits.mdev_types({trait, 'OWNER_NOVA'}) == {name}
    # Owned (stale ones are removed), and no stream.
    assert traits.is_owned(trait)
    assert not traits.is_malformed(trait)
    assert not traits.is_emit(trait) and traits.parse(trait) is None


@given(mdev_type_names, mdev_type_names)
def test_two_names_never_share_a_trait(a, b):
    assert (traits.mdev_type_trait(a) == traits.mdev_type_trait(b)) is (
        a == b)


@given(mdev_type_names)
def test_the_names_the_documents_allow_are_those_with_a_trait(name):
    # The schema and the encoding read the same rule.
    records.Validator({'type': 'object', 'properties': {
        'mdev_type': schema.MDEV_TYPE}}).validate({'mdev_type': name})


@given(st.text(ALPHABET, min_size=LONGEST + 1, max_size=LONGEST + 200))
def test_a_name_too_long_is_refused_naming_it(name):
    with pytest.raises(traits.InvalidMdevType) as e:
        traits.mdev_type_trait(name)
    assert repr(name) in str(e.value)
    assert '%d characters long, more than the %d' % (
        len(name), LONGEST) in str(e.value)


invalid_names = st.one_of(
    st.just(''),
    # A separator first.
    st.builds(lambda first, rest: first + rest, st.sampled_from('_.:+-'),
              st.text(ALPHABET, max_size=20)),
    # A character the documents do not allow, anywhere.
    st.builds(lambda a, bad, b: a + bad + b,
              st.text(ALNUM, min_size=1, max_size=10),
              st.characters(blacklist_characters=ALPHABET),
              st.text(ALPHABET, max_size=10)))


@given(invalid_names)
def test_an_invalid_name_is_refused_naming_it(name):
    with pytest.raises(traits.InvalidMdevType) as e:
        traits.mdev_type_trait(name)
    assert repr(name) in str(e.value)
    assert 'has no mdev type trait' in str(e.value)


def test_a_name_that_is_no_string_is_refused():
    with pytest.raises(traits.InvalidMdevType, match='None is not a string'):
        traits.mdev_type_trait(None)


@given(st.text('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_', max_size=40))
def test_a_trait_no_type_gives_is_not_read(tail):
    # Anyone allowed to write traits may create CUSTOM_VFC_2_T_ names:
    # what does not read back exactly is no type, and is malformed.
    name = traits.TYPE_PREFIX + tail
    mdev_type = traits.mdev_type_of(name)
    if mdev_type is None:
        assert traits.is_malformed(name)
        assert traits.mdev_types([name]) == frozenset()
    else:
        assert traits.mdev_type_trait(mdev_type) == name


def test_garbage_with_the_prefix_is_no_type():
    for name in ('CUSTOM_VFC_2_T_', 'CUSTOM_VFC_2_T_NVIDIA',
                 'CUSTOM_VFC_2_T_NVIDIA_222_00',     # a leading zero
                 'CUSTOM_VFC_2_T_NVIDIA_222_ZZZ',    # code too large
                 'CUSTOM_VFC_2_T__X_0',              # separator first
                 'CUSTOM_VFC_2_T_X_',
                 'CUSTOM_VFC_2_T_nvidia_0'):
        assert traits.mdev_type_of(name) is None, name
        assert traits.is_malformed(name), name
    assert traits.mdev_type_of('CUSTOM_VFC_1_E_X_M1') is None
    assert traits.mdev_type_of('CUSTOM_OTHER') is None


@given(mdev_type_names, mdev_type_names)
def test_the_filter_never_decides_from_it(a, b):
    names = traits.document_traits(_document())
    with_a = names | {traits.mdev_type_trait(a)}
    with_b = names | {traits.mdev_type_trait(b)}
    assert traits.can_migrate(with_a, with_b)
    assert traits.emitted(with_a) == traits.emitted(names)
    assert traits.can_migrate(with_a, frozenset()) is False
    assert traits.can_migrate(with_a, {traits.mdev_type_trait(a)}) is False


def _gpu(address, mdev_type):
    return nvc_devices.Device(address=address,
                              kind=nvc_devices.KIND_MDEV_TYPE,
                              driver='nvidia', mdev_type=mdev_type,
                              document=_document(), provenance='file:x.yaml')


def test_a_device_whose_type_has_no_trait_is_named_and_others_published():
    # Discovery reads type names from sysfs, where nothing bounds them.
    bad = _gpu('0000:3b:00.0', 'nvidia/222')
    good = _gpu('0000:3c:00.0', 'nvidia-222')
    published = publication.as_published(bad)
    assert not published.published and published.traits == frozenset()
    assert "'nvidia/222' has no mdev type trait" in published.problem
    built = plan.build([bad, good], 'cmp1')
    (error,) = built.errors
    assert error.startswith('device 0000:3b:00.0 (mdev type nvidia/222): '
                            'mdev type \'nvidia/222\' has no mdev type trait')
    assert error.endswith('; not published')
    good_rp = plan.mdev_parent_provider_name('cmp1', good.address)
    published = publication.as_published(good).traits
    assert built.providers[good_rp] == published
    assert 'CUSTOM_VFC_2_T_NVIDIA_222_0' in published
    assert built.providers['cmp1'] == frozenset()


def test_decide_names_the_device_whose_type_has_no_trait():
    bad = _gpu('0000:3b:00.0', 'x' * (LONGEST + 1))
    (decision,) = publication.decide([bad]).decisions
    assert decision.problem.startswith(
        "mdev type '%s' is %d characters long" % ('x' * (LONGEST + 1),
                                                  LONGEST + 1))
    assert plan.build([decision], 'cmp1').errors[0].startswith(
        'device 0000:3b:00.0 (mdev type %s): ' % ('x' * (LONGEST + 1)))


def test_a_pci_device_carries_no_type_trait():
    vf = nvc_devices.Device(
        address='0000:81:00.2', kind=nvc_devices.KIND_PCI,
        document=_document(), provenance='file:x.yaml')
    assert not any(n.startswith(traits.TYPE_PREFIX)
                   for n in publication.as_published(vf).traits)
