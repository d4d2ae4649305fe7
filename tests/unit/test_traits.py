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

import hashlib
import string

from hypothesis import given
from hypothesis import strategies as st
import os_traits
import pytest

from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits


def _mlx5(vendor='mlx5_vfio_pci', minor=41, minor_min=None, major=28):
    version = {'major': major, 'minor': minor}
    if minor_min is not None:
        version['minor_min'] = minor_min
    return records.parse_document({
        'device_api': 'vfio-pci', 'vendor': vendor, 'version': version,
        'vfio-pci': {'vendor': 0x15b3, 'device': 0x101e,
                     'subsystem_vendor': 0x15b3, 'subsystem_device': 0x0016},
    }, 'mlx5.yaml')


def test_encoding_version_1_is_stable():
    """Names are an interface: flavors and nova.conf use them.

    A change here must be a new encoding version, never an edit of
    version 1.

    The expected names are built from the documented recipe (canonical
    identity JSON, SHA-256, first 16 hex digits, upper case), not copied
    from the implementation's output.
    """
    doc = _mlx5(minor=41)
    identity = ('{"bus":{"device":4126,"subsystem_device":22,'
                '"subsystem_vendor":5555,"vendor":5555},'
                '"device_api":"vfio-pci","major":28,'
                '"vendor":"mlx5_vfio_pci"}')
    family = ('{"bus":{"device":4126,"subsystem_device":22,'
              '"subsystem_vendor":5555,"vendor":5555},'
              '"device_api":"vfio-pci","vendor":"mlx5_vfio_pci"}')
    assert doc.emits.identity_key() == identity
    assert doc.emits.family_key() == family

    def digest(text):
        return hashlib.sha256(text.encode()).hexdigest()[:16].upper()

    assert traits.emit_trait(doc.emits) == (
        'CUSTOM_VFC_1_E_MLX5_VFIO_PCI_15B3_101E_V28_%s_M41'
        % digest(identity))
    assert traits.resource_class(doc.emits) == (
        'CUSTOM_VFC_MLX5_VFIO_PCI_15B3_101E_%s' % digest(family))


def test_encoding_version_2_accept_names_are_stable():
    """Encoding 2 names the blocks of the accepted range.

    The blocks of 39..43 are 39..39 and 40..43; encoding 1's names, one
    per minor, are still what :func:`traits.accept_traits_for` reads.
    """
    doc = _mlx5(minor=43, minor_min=39)
    stream = 'MLX5_VFIO_PCI_15B3_101E_V28_13C7458D31A9BA6C'
    assert traits.stream_name(doc.emits) == stream
    assert sorted(traits.accept_traits(doc.accepts[0])) == [
        'CUSTOM_VFC_2_A_%s_M39_39' % stream,
        'CUSTOM_VFC_2_A_%s_M40_43' % stream]
    assert traits.v1_accept_traits(doc.accepts[0]) == [
        'CUSTOM_VFC_1_A_%s_M%d' % (stream, m) for m in range(39, 44)]


def test_names_are_readable_and_carry_the_version():
    doc = _mlx5(minor=3)
    names = traits.document_traits(doc)
    assert traits.emit_trait(doc.emits) in names
    for name in names:
        assert name.startswith(('CUSTOM_VFC_1_E_MLX5_VFIO_PCI_15B3_101E_V28_',
                                'CUSTOM_VFC_2_A_MLX5_VFIO_PCI_15B3_101E_V28_'))
    # 0..3 is one block.
    assert sorted(n.rsplit('_M', 1)[1] for n in names
                  if not traits.is_emit(n)) == ['0_3']


def test_folded_driver_names_stay_apart():
    a = _mlx5(vendor='mlx5_vfio_pci').emits
    b = _mlx5(vendor='mlx5-vfio-pci').emits
    assert traits.emit_trait(a) != traits.emit_trait(b)
    assert traits.resource_class(a) != traits.resource_class(b)
    # ...while sharing the readable part.
    assert traits.emit_trait(a)[:40] == traits.emit_trait(b)[:40]


def _vendor_part(vendor):
    """The folded driver name in the resource class of an mlx5 record."""
    name = traits.resource_class(_mlx5(vendor=vendor).emits)
    # <PREFIX><driver>_<VVVV>_<DDDD>_<hash>
    return name[len(traits.PREFIX):].rsplit('_', 3)[0]


def _os_traits_folded(vendor):
    return os_traits.normalize_name(vendor)[
        len(os_traits.CUSTOM_NAMESPACE):]


@pytest.mark.parametrize('vendor,here,in_os_traits', [
    ('ıntel', 'INTEL', '_NTEL'),
    ('ß-drv', 'SS_DRV', '_DRV'),
])
def test_folding_upper_cases_first_unlike_os_traits(
        vendor, here, in_os_traits):
    # The documented difference from os_traits.normalize_name(): letters
    # whose upper case is ASCII are kept (encoding 2 names depend on it).
    assert _vendor_part(vendor) == here
    assert _os_traits_folded(vendor) == in_os_traits


@given(st.text(alphabet=string.ascii_letters + string.digits + ' _.:+-',
               min_size=1, max_size=32))
def test_folding_agrees_with_os_traits_on_ascii_names(vendor):
    assert _vendor_part(vendor) == (
        _os_traits_folded(vendor).strip('_') or 'X')


def test_real_firmware_range_fits_the_default_bound():
    # An mlx5 firmware accepting 28.0-28.43 is 44 minors; several such
    # accepted records still fit comfortably.
    emits = records.record_to_dict(_mlx5(minor=43).emits)
    compatible = [
        dict(emits, vendor=v, version={'major': 28, 'minor': 43})
        for v in ('mlx5_vfio_pci', 'mlx5-vfio-pci', 'mlx5', 'mlx5_core')]
    doc = records.parse_document(
        {'self': emits, 'compatible': compatible}, 'fw.yaml')
    names = traits.document_traits(doc)
    # 0..43 is 0..31, 32..39, 40..43: three blocks per record.
    assert len(names) == 1 + 4 * 3


def test_the_whole_minor_space_is_a_few_traits():
    doc = _mlx5(minor=2 ** 31 - 1)
    # 0..2**31-1 is one block.
    assert traits.count_traits(doc) == len(traits.document_traits(doc)) == 2
    doc = _mlx5(minor=2 ** 31 - 2, minor_min=1)
    # The worst range: two blocks per level but the top ones.
    assert traits.count_traits(doc) == 1 + 2 * 31 - 2
    assert len(traits.document_traits(doc, max_traits=61)) == 61
    with pytest.raises(traits.TraitLimitExceeded) as e:
        traits.document_traits(doc, max_traits=60)
    assert e.value.where == 'mlx5.yaml'
    assert 'max_traits_per_provider' in str(e.value)


def test_cover_of_the_32_bit_minor_space():
    assert traits.cover(0, traits.MAX_MINOR) == [(0, 2 ** 32 - 1)]
    assert len(traits.cover(1, traits.MAX_MINOR - 1)) == 2 * 32 - 2
    assert traits.cover(5, 5) == [(5, 5)]
    assert traits.cover(3, 12) == [(3, 3), (4, 7), (8, 11), (12, 12)]
    for bad in ((2, 1), (-1, 3), (0, 2 ** 32)):
        with pytest.raises(ValueError):
            traits.cover(*bad)
    assert traits.blocks_containing(6)[:4] == [(6, 6), (6, 7), (4, 7),
                                               (0, 7)]
    assert traits.blocks_containing(6)[-1] == (0, 2 ** 32 - 1)
    assert len(traits.blocks_containing(6)) == 33


def test_overlapping_ranges_are_counted_once():
    emits = records.record_to_dict(_mlx5(minor=9).emits)
    doc = records.parse_document({'self': emits, 'compatible': [
        dict(emits, version={'major': 28, 'minor': 9, 'minor_min': 2}),
        dict(emits, version={'major': 28, 'minor': 5}),
        dict(emits, version={'major': 28, 'minor': 12, 'minor_min': 10}),
    ]}, 'x')
    # 2..9, 0..5 (no minor_min) and 10..12 are one range, 0..12:
    # 0..7, 8..11, 12 and the emit trait.
    assert traits.count_traits(doc) == len(traits.document_traits(doc)) == 4


def test_can_migrate_maps_emit_to_accept():
    old, new = _mlx5(minor=41), _mlx5(minor=43)
    old_t, new_t = traits.document_traits(old), traits.document_traits(new)
    assert traits.can_migrate(old_t, new_t)
    assert not traits.can_migrate(new_t, old_t)
    (emit,) = traits.emitted(new_t)
    assert traits.unaccepted(new_t, old_t) == {emit}
    assert traits.accept_traits_for(emit) & new_t
    assert not traits.accept_traits_for(emit) & old_t
    # A provider with no emit traits (no VFIO device) constrains nothing.
    assert traits.can_migrate({'OWNER_NOVA'}, set())
    for bad in ('CUSTOM_OTHER', sorted(traits.accept_traits_for(emit))[0]):
        with pytest.raises(ValueError):
            traits.accept_traits_for(bad)


def test_accept_names_of_both_encodings_are_understood():
    source = traits.document_traits(_mlx5(minor=41))
    dest = _mlx5(minor=43, minor_min=39)
    (emit,) = traits.emitted(source)
    v1 = set(traits.v1_accept_traits(dest.accepts[0]))
    v2 = set(traits.accept_traits(dest.accepts[0]))
    assert traits.can_migrate(source, v1)
    assert traits.can_migrate(source, v2)
    assert len(traits.accept_traits_for(emit) & v1) == 1
    assert len(traits.accept_traits_for(emit) & v2) == 1
    assert all(traits.parse(n).kind == 'A' and traits.is_owned(n)
               for n in v1 | v2)


def test_ownership_is_by_prefix():
    assert traits.is_owned('CUSTOM_VFC_1_E_X')
    assert traits.is_owned('CUSTOM_VFC_SOMETHING')
    assert not traits.is_owned('CUSTOM_VFCX')
    assert not traits.is_owned('OWNER_NOVA')


def test_check_limit():
    assert traits.check_limit({'a', 'b'}, 'host1', 2) == {'a', 'b'}
    with pytest.raises(traits.TraitLimitExceeded) as e:
        traits.check_limit({'a', 'b', 'c'}, 'host1 root provider', 2)
    assert str(e.value).startswith('host1 root provider: would carry 3')


def test_same_kind_is_the_same_driver_or_the_same_guest_device():
    from nova_vfio_compat.model import rules

    mlx5 = _mlx5()
    assert rules.same_kind(mlx5, _mlx5(minor=1, major=29))
    # Another driver for the same guest-visible VF is the same kind.
    assert rules.same_kind(mlx5, _mlx5(vendor='mlx5-vfio-pci'))
    other = records.parse_document({
        'device_api': 'vfio-pci', 'vendor': 'nvidia',
        'version': {'major': 17, 'minor': 4},
        'vfio-pci': {'vendor': 0x10de, 'device': 0x1eb8,
                     'subsystem_vendor': 0x10de,
                     'subsystem_device': 0x12a2}}, 'nv')
    assert not rules.same_kind(mlx5, other)


def test_parse_reads_back_what_the_encoding_wrote():
    doc = _mlx5(minor=3)
    stream = traits.stream_name(doc.emits)
    assert traits.parse(traits.emit_trait(doc.emits)) == ('E', stream, 3, 3)
    doc = _mlx5(minor=9, minor_min=3)
    assert sorted(traits.parse(n) for n in traits.accept_traits(
        doc.accepts[0])) == [('A', stream, 3, 3), ('A', stream, 4, 7),
                             ('A', stream, 8, 9)]
    assert sorted(traits.parse(n) for n in traits.v1_accept_traits(
        doc.accepts[0])) == [('A', stream, m, m) for m in range(3, 10)]
    assert traits.parse('CUSTOM_VFC_MLX5_RC') is None
    assert traits.parse('OWNER_NOVA') is None


def test_driver_names_differing_only_in_case_are_different_drivers():
    # Linux driver names are case-sensitive: "nvidia" and "NVIDIA" are two
    # drivers whose streams say nothing about each other.  The rules say
    # so, and the traits must agree although their readable part folds.
    lower = _mlx5(vendor='nvidia')
    upper = _mlx5(vendor='NVIDIA')
    assert not rules.check(lower, upper).compatible
    assert not rules.check(upper, lower).compatible
    assert traits.emit_trait(lower.emits) != traits.emit_trait(upper.emits)
    assert not traits.can_migrate(traits.document_traits(lower),
                                  traits.document_traits(upper))
    assert traits.can_migrate(traits.document_traits(lower),
                              traits.document_traits(_mlx5(vendor='nvidia')))
