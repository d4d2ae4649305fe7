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

"""What is published: Nova's one type per GPU, creatable accepts,
migratable PCI devices (:mod:`nova_vfio_compat.model.publication`)."""

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from nova_vfio_compat.host.discovery import derived
from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import generated_config
from nova_vfio_compat.reporter import plan
from tests import reporter_devices as rd
from tests import strategies

GPU = '0000:81:00.0'
mdev_types = st.sampled_from(['nvidia-11', 'nvidia-12'])
OTHER_GPU = '0000:82:00.0'


def mdev(mdev_type, address=GPU, mdevs=(), subsystem=1):
    document = derived.derived_document(
        'nvidia', (0x10de, 0x1eb8, 0x10de, subsystem),
        driver_version='550.54', mdev_type=mdev_type)
    return nvc_devices.Device(address=address,
                              kind=nvc_devices.KIND_MDEV_TYPE,
                              driver='nvidia', mdev_type=mdev_type,
                              document=document, provenance='derived',
                              mdevs=tuple(mdevs))


def config(*enabled, **addresses):
    return device_config.MdevConfig(
        enabled_types=enabled,
        device_addresses={t.replace('_', '-'): tuple(a)
                          for t, a in addresses.items()},
        source='nova.conf')


def published(outcome):
    return {(d.address, d.mdev_type) for d in outcome.published}


def test_only_the_enabled_type_is_published():
    devices = [mdev('nvidia-11'), mdev('nvidia-12', subsystem=2)]
    outcome = publication.decide(devices, config('nvidia-11'))
    assert published(outcome) == {(GPU, 'nvidia-11')}
    (skipped,) = [d for d in outcome.decisions if not d.published]
    assert skipped.device.mdev_type == 'nvidia-12'
    assert skipped.reason.startswith('not enabled: Nova uses mdev type '
                                     'nvidia-11 on this GPU')
    assert outcome.messages == ()
    # the GPU provider carries the enabled type's traits, not the union
    built = plan.build(outcome.published, 'cmp1')
    name = plan.mdev_parent_provider_name('cmp1', GPU)
    assert built.providers[name] == traits.document_traits(
        devices[0].document) | {'CUSTOM_VFC_2_T_NVIDIA_11_0'}


def test_device_addresses_pick_the_type_per_gpu():
    devices = [mdev('nvidia-11'), mdev('nvidia-12', subsystem=2),
               mdev('nvidia-11', OTHER_GPU), mdev('nvidia-12', OTHER_GPU)]
    outcome = publication.decide(devices, config(
        'nvidia-11', 'nvidia-12', nvidia_12=[OTHER_GPU]))
    assert published(outcome) == {(GPU, 'nvidia-11'),
                                  (OTHER_GPU, 'nvidia-12')}


def test_no_enabled_types_publishes_no_mdev_type():
    outcome = publication.decide([mdev('nvidia-11')], config())
    assert published(outcome) == set()
    assert 'enabled_mdev_types is empty' in outcome.decisions[0].reason


def test_invalid_nova_config_publishes_no_mdev_but_the_pci_devices():
    devices = [mdev('nvidia-11'), rd.vf()]
    outcome = publication.decide(devices, config(
        'nvidia-11', 'nvidia-12', nvidia_11=[GPU], nvidia_12=[GPU]))
    assert [d.address for d in outcome.published] == [rd.VF]
    assert 'duplicate types for PCI ID %s' % GPU in \
        outcome.decisions[0].reason


def test_fallback_rule_without_nova_config():
    one = [mdev('nvidia-11')]
    in_use = [mdev('nvidia-11', OTHER_GPU),
              mdev('nvidia-12', OTHER_GPU, mdevs=['u1'])]
    ambiguous = [mdev('nvidia-11', '0000:83:00.0'),
                 mdev('nvidia-12', '0000:83:00.0')]
    outcome = publication.decide(one + in_use + ambiguous)
    assert published(outcome) == {(GPU, 'nvidia-11'),
                                  (OTHER_GPU, 'nvidia-12')}
    assert outcome.messages == (publication.NO_NOVA_CONFIG,)
    reasons = [d.reason for d in outcome.decisions
               if d.device.address == '0000:83:00.0']
    assert all('several mdev types' in r for r in reasons), reasons


@given(st.dictionaries(
    st.sampled_from([GPU, OTHER_GPU, '0000:83:00.0']),
    st.lists(st.tuples(st.sampled_from(['a', 'b', 'c']), st.booleans()),
             min_size=1, max_size=3, unique_by=lambda t: t[0]),
    min_size=1))
def test_fallback_never_publishes_two_types_of_a_gpu(gpus):
    devices = [mdev(t, address, mdevs=['u'] if used else ())
               for address, types in gpus.items() for t, used in types]
    outcome = publication.decide(devices)
    for address, types in gpus.items():
        mine = [d for d in outcome.published if d.address == address]
        assert len(mine) <= 1
        in_use = {t for t, used in types if used}
        if len(in_use) == 1:
            assert [d.mdev_type for d in mine] == list(in_use)
        elif in_use or len(types) > 1:
            assert mine == []


def _full(device):
    """``device`` with every mdev its GPU can hold created."""
    return dataclasses.replace(device, mdevs=('m1',), available_instances=0)


def test_accepts_needing_mdev_attrs_are_published_only_when_precreated():
    gvt = rd.gvt()   # accepts its stream on V5_8 with aggregation=3
    config_ = config(gvt.mdev_type)
    (default,) = publication.decide([gvt], config_).decisions
    assert default.document.accepts == ()
    (note,) = default.notes
    assert 'aggregation=3' in note and 'precreated_mdev_attrs' in note
    assert traits.document_traits(default.document) == {
        traits.emit_trait(default.document.emits)}

    # Every mdev the GPU can hold exists: Nova can only reuse them.
    full = dataclasses.replace(gvt, mdevs=('m1', 'm2'),
                               available_instances=0)
    (allowed,) = publication.decide(
        [full], config_, precreated_mdev_attrs=True).decisions
    (note,) = allowed.notes
    assert 'is published' in note and 'aggregation=3' in note
    assert allowed.document == publication.typed_document(
        gvt.document, gvt.mdev_type)[0]
    assert len(allowed.document.accepts) == 1


def test_precreated_mdev_attrs_needs_every_mdev_of_the_gpu():
    # Nova reuses any unassigned mdev of the type whatever its attributes
    # and creates plain ones when none is left: the site's word is not
    # enough while Nova can still create one, or before any exists.
    gvt = rd.gvt()
    for mdevs, available, why in (
            ((), 0, 'no mdev of this type exists'),
            (('m1',), 2, '2 more mdev(s)'),
            (('m1',), None, 'unknown more mdev(s)')):
        device = dataclasses.replace(gvt, mdevs=mdevs,
                                     available_instances=available)
        (decision,) = publication.decide(
            [device], config(gvt.mdev_type),
            precreated_mdev_attrs=True).decisions
        assert decision.document.accepts == ()
        (note,) = decision.notes
        assert why in note and 'whatever its attributes' in note


def test_accepts_naming_another_mdev_type_are_dropped():
    type4 = rd.gvt(sample='gvt-i915-v1.3-type4.yaml')  # V5_4 parent
    (decision,) = publication.decide(
        [_full(type4)], config('i915-GVTg_V5_4'),
        precreated_mdev_attrs=True).decisions
    assert decision.document == publication.typed_document(
        type4.document, 'i915-GVTg_V5_4')[0]
    other = dataclasses.replace(_full(type4), mdev_type='i915-GVTg_V5_8')
    (decision,) = publication.decide(
        [other], config('i915-GVTg_V5_8'),
        precreated_mdev_attrs=True).decisions
    assert decision.document.accepts == ()
    assert all('Nova creates i915-GVTg_V5_8' in n for n in decision.notes)


def _record(major=17, minor=2, bus_type=None):
    """A vendor record; ``bus_type`` the bus key ``mdev_type`` if any."""
    bus = {'vendor': 0x10de, 'device': 0x1eb8, 'subsystem_vendor': 0x10de,
           'subsystem_device': 0x12a2}
    if bus_type:
        bus['mdev_type'] = bus_type
    return {'device_api': 'vfio-pci', 'vendor': 'nvidia',
            'version': {'major': major, 'minor': minor}, 'vfio-pci': bus}


def _untyped(minor=2):
    """A vendor document whose records do not name an mdev type."""
    record = _record(minor=minor)
    return records.parse_document(
        {'self': record, 'compatible': [record]}, 'untyped.yaml')


def _gpu_with(document, mdev_type, address=GPU):
    return nvc_devices.Device(address=address,
                              kind=nvc_devices.KIND_MDEV_TYPE,
                              driver='nvidia', mdev_type=mdev_type,
                              document=document, provenance='file:x.yaml')


def _published_traits(device):
    (decision,) = publication.decide(
        [device], config(device.mdev_type)).decisions
    return decision, traits.document_traits(decision.document)


def test_a_vgpu_stream_is_received_only_by_a_gpu_of_the_same_type():
    # The documents leave mdev_type out entirely: only the type of the
    # GPU each is published for tells the streams apart, as Nova does.
    source, same_type_dest = _untyped(), _untyped(minor=3)
    _, emits = _published_traits(_gpu_with(source, 'nvidia-11'))
    same, same_traits = _published_traits(
        _gpu_with(same_type_dest, 'nvidia-11', OTHER_GPU))
    other, other_traits = _published_traits(
        _gpu_with(same_type_dest, 'nvidia-12', OTHER_GPU))

    assert rules.check(source, same_type_dest).compatible   # as documents
    assert traits.can_migrate(emits, same_traits)
    assert not traits.can_migrate(emits, other_traits)
    # The rules say the same of the published documents, and why.
    (source_published,) = publication.decide(
        [_gpu_with(source, 'nvidia-11')], config('nvidia-11')).published
    verdict = rules.check(source_published.document,
                          other.document)
    assert not verdict.compatible
    assert 'mdev_type' in ' '.join(verdict.reasons)
    # What the destination creates is its own type.
    assert rules.check(source_published.document,
                       same.document).create.mdev_type == \
        'nvidia-11'


def test_an_accept_of_a_stream_of_another_type_is_dropped():
    record = _record(1, 0, bus_type='nvidia-12')
    own = _record(1, 0, bus_type='nvidia-11')
    document = records.parse_document(
        {'self': own, 'compatible': [own, record]}, 'two.yaml')
    decision, _ = _published_traits(_gpu_with(document, 'nvidia-11'))
    assert len(decision.document.accepts) == 1
    (note,) = decision.notes
    assert 'compatible[1]' in note and 'nvidia-12' in note


def test_notes_name_accept_records_by_their_index_in_the_document():
    # One record left out for its attributes, one for its stream's type:
    # each note names the record where the document has it.
    own = _record(1, 0, bus_type='nvidia-11')
    needs_attrs = dict(own, mdev_type='nvidia-11',
                       mdev_attrs=[{'aggregation': '3'}])
    document = records.parse_document(
        {'self': own, 'compatible': [needs_attrs, own,
                                     _record(1, 0, bus_type='nvidia-12')]},
        'three.yaml')
    decision, _ = _published_traits(_gpu_with(document, 'nvidia-11'))
    assert len(decision.document.accepts) == 1
    attrs_note, type_note = decision.notes
    assert 'compatible[0]' in attrs_note and 'aggregation=3' in attrs_note
    assert 'compatible[2]' in type_note and 'nvidia-12' in type_note


def test_a_document_emitting_another_type_is_not_published():
    document = records.parse_document(_record(1, 0, bus_type='nvidia-12'),
                                      'other-type.yaml')
    (decision,) = publication.decide(
        [_gpu_with(document, 'nvidia-11'),
         _gpu_with(_untyped(), 'nvidia-11', OTHER_GPU)],
        config('nvidia-11')).decisions[:1]
    assert not decision.published
    assert 'nvidia-12' in decision.reason and 'nvidia-11' in decision.reason


@given(strategies.related_pairs(), mdev_types, mdev_types)
def test_published_vgpu_traits_agree_with_the_rules_and_nova(
        pair, source_type, dest_type):
    """Traits of published GPUs pass exactly the pairs Nova can migrate.

    Nova's condition: the documents' rules accept the stream (on what is
    published) and both GPUs use the same mdev type.
    """
    source = records.parse_document(pair[0], 'source')
    dest = records.parse_document(pair[1], 'dest')
    src = publication.decide([_gpu_with(source, source_type)],
                             config(source_type),
                             precreated_mdev_attrs=True).decisions[0]
    dst = publication.decide([_gpu_with(dest, dest_type, OTHER_GPU)],
                             config(dest_type),
                             precreated_mdev_attrs=True).decisions[0]
    if not (src.published and dst.published):
        return
    passes = traits.can_migrate(
        traits.document_traits(src.document),
        traits.document_traits(dst.document))
    assert passes is rules.check(src.document,
                                 dst.document).compatible
    if passes:
        assert source_type == dest_type
        assert rules.check(source, dest).compatible


def _pci(driver, provenance):
    document = derived.derived_document(
        driver, (0x8086, 0x0d58, 0x8086, 0), kernel_release='6.8.0')
    return nvc_devices.Device(address='0000:5e:00.1',
                              kind=nvc_devices.KIND_PCI, driver=driver,
                              document=document, provenance=provenance)


def test_only_known_migration_drivers_are_migratable():
    plain = _pci('vfio-pci', 'derived')
    variant = _pci('qat_vfio_pci', 'derived')
    # A capability file cannot make plain vfio-pci migrate, and a variant
    # driver without migration is not a migration driver.
    described = _pci('vfio-pci', 'file:/etc/caps/x.yaml#capabilities[0]')
    grace = _pci('nvgrace-gpu-vfio-pci', 'file:/etc/caps/g.yaml')
    unknown = _pci('acme_vfio_pci', 'file:/etc/caps/a.yaml')
    for device in (plain, described, grace, unknown):
        assert not publication.live_migratable(device)
    assert publication.live_migratable(variant)
    outcome = publication.decide([plain, described, grace, unknown])
    assert outcome.published == []
    reasons = [d.reason for d in outcome.decisions]
    assert all(r.startswith('not live-migratable') for r in reasons)
    assert 'plain vfio-pci' in reasons[1]
    assert 'nvgrace-gpu-vfio-pci' in reasons[2]
    assert 'not a known VFIO migration driver' in reasons[3]

    specs, errors = generated_config.pci_device_specs([plain])
    assert errors == []
    assert specs == [{'address': plain.address,
                      'resource_class': traits.resource_class(
                          plain.document.emits)}]
    specs, _ = generated_config.pci_device_specs([variant, described])
    assert [s.get('live_migratable') for s in specs] == ['yes', None]


def test_mlx5_migrates_only_where_the_operator_enabled_it():
    # mlx5_vfio_pci offers migration only once the VF's devlink port
    # function is "migratable", which sysfs does not show.
    vf = _pci('mlx5_vfio_pci', 'file:/etc/caps/m.yaml')
    (decision,) = publication.decide([vf]).decisions
    assert not decision.published
    assert 'migratable' in decision.reason
    assert '[discovery] migration_enabled' in decision.reason
    enabled = dataclasses.replace(vf, migration_enabled=True)
    (decision,) = publication.decide([enabled]).decisions
    assert decision.published and decision.live_migratable


def test_existing_mdevs_of_a_type_nova_does_not_use_are_named():
    devices = [mdev('nvidia-11'), mdev('nvidia-12', mdevs=['u1', 'u2'])]
    outcome = publication.decide(devices, config('nvidia-11'))
    assert published(outcome) == {(GPU, 'nvidia-11')}
    assert outcome.decisions[1].reason.endswith(
        'Nova ignores the 2 existing mdev(s) of this type')
