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

import pytest

from nova_vfio_compat import records
from nova_vfio_compat import rules
from nova_vfio_compat import traits


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


def test_names_are_readable_and_carry_the_version():
    doc = _mlx5(minor=3)
    names = traits.document_traits(doc)
    assert traits.emit_trait(doc.emits) in names
    for name in names:
        assert name.startswith(('CUSTOM_VFC_1_E_MLX5_VFIO_PCI_15B3_101E_V28_',
                                'CUSTOM_VFC_1_A_MLX5_VFIO_PCI_15B3_101E_V28_'))
    assert sorted(n.rsplit('_M', 1)[1] for n in names
                  if traits.is_accept(n)) == ['0', '1', '2', '3']


def test_folded_driver_names_stay_apart():
    a = _mlx5(vendor='mlx5_vfio_pci').emits
    b = _mlx5(vendor='mlx5-vfio-pci').emits
    assert traits.emit_trait(a) != traits.emit_trait(b)
    assert traits.resource_class(a) != traits.resource_class(b)
    # ...while sharing the readable part.
    assert traits.emit_trait(a)[:40] == traits.emit_trait(b)[:40]


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
    assert len(names) == 1 + 4 * 44
    assert len(names) < traits.DEFAULT_MAX_TRAITS / 5


def test_absurd_range_is_refused_without_expanding_it():
    doc = _mlx5(minor=2 ** 31 - 1)
    with pytest.raises(traits.TraitLimitExceeded) as e:
        traits.document_traits(doc, max_traits=1000)
    assert e.value.where == 'mlx5.yaml'
    assert 'max_traits_per_provider' in str(e.value)
    assert traits.count_traits(doc) == 2 ** 31 + 1


def test_overlapping_ranges_are_counted_once():
    emits = records.record_to_dict(_mlx5(minor=9).emits)
    doc = records.parse_document({'self': emits, 'compatible': [
        dict(emits, version={'major': 28, 'minor': 9, 'minor_min': 2}),
        dict(emits, version={'major': 28, 'minor': 5}),
    ]}, 'x')
    assert traits.count_traits(doc) == len(traits.document_traits(doc)) == 11


def test_can_migrate_maps_emit_to_accept():
    old, new = _mlx5(minor=41), _mlx5(minor=43)
    old_t, new_t = traits.document_traits(old), traits.document_traits(new)
    assert traits.can_migrate(old_t, new_t)
    assert not traits.can_migrate(new_t, old_t)
    (emit,) = traits.emitted(new_t)
    assert traits.unaccepted(new_t, old_t) == {emit}
    assert traits.accept_trait_for(emit) in new_t
    # A provider with no emit traits (no VFIO device) constrains nothing.
    assert traits.can_migrate({'OWNER_NOVA'}, set())
    with pytest.raises(ValueError):
        traits.accept_trait_for('CUSTOM_OTHER')


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
    from nova_vfio_compat import rules

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
    assert traits.parse(traits.emit_trait(doc.emits)) == ('E', stream, 3)
    assert sorted(traits.parse(n) for n in traits.accept_traits(
        doc.accepts[0])) == [('A', stream, m) for m in range(4)]
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
