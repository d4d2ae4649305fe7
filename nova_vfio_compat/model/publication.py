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

"""What is published: only what Nova will really do with each device.

Pure: devices and Nova's mdev configuration in, one
:class:`PublishedDevice` per device out, made here once: the device, its
typed document, its traits and resource class, and why what was left out
was left out.  Everything that publishes or shows what is published reads
these values; no other module types a document or checks its type.

* **One mdev type per GPU.**  Nova uses exactly one type on a GPU
  (:mod:`nova_vfio_compat.model.device_config`); the other types the GPU offers
  are not published, and ``devices`` says why.  Without Nova's device
  configuration the *fallback rule* applies, and it never publishes the
  union: a GPU's type is the type of the mdevs that exist on it when they
  are all of one type, else its only type when it offers one; a GPU with
  several types and no mdevs publishes nothing.
* **Accepts Nova can carry out.**  Nova creates a destination mdev with a
  type and a UUID only, never with attributes, and only of the type it
  uses on that GPU, and reuses any unassigned mdev of that type whatever
  its attributes.  An accept record that needs ``mdev_attrs`` (e.g.
  ``aggregation=3``) is dropped unless the site pre-creates such devices
  (``[nova] precreated_mdev_attrs``) and every mdev the GPU can hold
  exists (:func:`precreated_refusal`); one that names another mdev type
  than the one Nova uses on the GPU is dropped.
* **A vGPU stream is typed.**  Nova live-migrates an mdev only into an
  mdev of the *same type*: the libvirt driver's
  ``check_can_live_migrate_destination`` refuses source types missing
  from the destination's ``supported_vgpu_types`` and maps each source
  mdev only to a destination mdev of its own type.  A document need not
  say so (its accept records may leave ``mdev_type`` out), so the
  published document of an mdev device carries the type in the identity
  of every record (the bus key ``mdev_type``, as derived documents
  already do, :func:`typed_document`): a stream of one type is then never
  accepted by a GPU of another, by the rules and by the traits alike.
  The hash of a typed stream cannot be read back, so an mdev type's
  traits also name the type (:func:`traits.mdev_type_trait`), for
  people and ``fleet``; nothing decides a migration from that name.
* **What fits on the compute node provider.**  Every trait of the PCI
  devices, at most ``[traits] max_traits_per_provider``: the root is the
  only provider the reporter writes them to.  An mdev type's traits are
  on its GPU's provider alone: Placement returns every provider's traits
  with each allocation candidate, so a copy on the root would weigh on
  every scheduling request, boots included, and nothing needs one (the
  filter and ``drain`` map an accepting provider to its host through
  ``root_provider_uuid``).  Past the limit, :func:`fit_root` keeps every
  whole PCI device that fits; one that does not is left out
  (``over_limit``: not published, Nova not told it can live-migrate it).
* **Only migratable PCI devices.**  Plain ``vfio-pci`` has no migration
  support, whatever a document says, and not every variant driver has
  it.  A PCI device is live-migratable only when its driver is in the
  table of VFIO migration drivers (:mod:`migration_drivers`) with its
  per-device gate enabled; otherwise its traits are not published.
"""

import dataclasses

from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import migration_drivers
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits as nvc_traits

NO_NOVA_CONFIG = (
    'no Nova device configuration was given ([nova] config_files or '
    '--nova-config): which mdev type Nova uses on each GPU is guessed by '
    'the fallback rule (the type of the existing mdevs, else the GPU\'s '
    'only type; nothing for a GPU with several types)')


@dataclasses.dataclass(frozen=True)
class Choice:
    """The mdev type used on one GPU (None: none) and why."""

    mdev_type: str = None
    why: str = ''


@dataclasses.dataclass(frozen=True)
class PublishedDevice:
    """One device as it is published: made once, here, read by everyone.

    ``device`` is the device as found, its document as its source gave
    it.  ``streams`` is the document of the streams the device emits and
    accepts: for an mdev type, its document typed with its type
    (:func:`typed_document`); None when it has no document, or when the
    document names another mdev type (``type_conflict`` then says so).
    ``document`` is what is published: ``streams`` narrowed to the accept
    records Nova can carry out; None when the device is not published.
    ``traits`` are the names the reporter publishes for it (empty when it
    is not published): an mdev type's include the one that names its
    type (:func:`traits.mdev_type_trait`; an mdev type that has none is a
    ``problem``); ``resource_class`` is the class of its streams (None
    without them).

    ``reason`` says why the device is left out on purpose (Nova does not
    use it, it cannot migrate, its traits do not fit on the compute node
    provider: ``over_limit``, :func:`fit_root`); ``problem`` why it cannot
    be published although nothing left it out (no usable document, too
    many traits), which the reporter reports as an error.  ``notes`` say
    why each accept record left out was left out.  ``live_migratable``:
    Nova may live-migrate it (a PCI device's ``live_migratable = yes``).

    Only this module makes these values (:func:`decide`,
    :func:`as_published`, :func:`published_document`); the reporter, the
    commands, the demo and the benchmarks read them, and none of them
    types a document itself (``tests/unit/test_publication_only.py``).
    """

    device: nvc_devices.Device
    streams: records.Document = None
    document: records.Document = None
    traits: frozenset = frozenset()
    resource_class: str = None
    reason: str = None
    problem: str = None
    type_conflict: str = None
    notes: tuple = ()
    live_migratable: bool = False
    over_limit: bool = False

    @property
    def published(self):
        """Whether nothing keeps it from being published.

        True when it was not left out on purpose (no ``reason``) and
        nothing is wrong with it (no ``problem``): its ``traits`` are then
        what the reporter means to publish for it.  The reporter can
        still leave them out when the provider they go on is over its
        trait limit, and says so.  :attr:`Outcome.published`, unlike
        this, also lists the devices with a ``problem``, so that the
        reporter reports it.
        """
        return self.reason is None and self.problem is None

    @property
    def name(self):
        return self.device.name

    @property
    def address(self):
        return self.device.address

    @property
    def kind(self):
        return self.device.kind

    @property
    def mdev_type(self):
        return self.device.mdev_type

    @property
    def physfn(self):
        return self.device.physfn


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Every device of one host, published or not, and host messages.

    ``decisions`` holds a :class:`PublishedDevice` per device.
    """

    decisions: tuple
    messages: tuple = ()
    choices: dict = dataclasses.field(default_factory=dict)

    @property
    def published(self):
        """The devices to publish: those not left out on purpose.

        Those with a ``problem`` are among them, so that the reporter
        reports it.
        """
        return [d for d in self.decisions if d.reason is None]


def live_migratable(device):
    """Can Nova live-migrate this PCI device (``live_migratable = yes``)?"""
    return device.document is not None and migration_refusal(device) is None


def migration_refusal(device):
    """Why this PCI device cannot live-migrate, or None.

    Only a driver known to implement VFIO migration, with its per-device
    gate enabled (:mod:`nova_vfio_compat.model.migration_drivers`); never plain
    vfio-pci, whatever its document says.  A device-list entry that names
    no driver is taken at its document's word.
    """
    if device.driver is None:
        return None
    return migration_drivers.refusal(device.driver, device.migration_enabled)


def _by_gpu(devices):
    gpus = {}
    for device in devices:
        if device.kind == nvc_devices.KIND_MDEV_TYPE:
            gpus.setdefault(device.address, []).append(device)
    return gpus


def fallback_choice(types):
    """The fallback rule for one GPU's mdev type devices."""
    existing = sorted({d.mdev_type for d in types if d.mdevs})
    if len(existing) == 1:
        return Choice(existing[0], 'mdevs of this type exist on the GPU '
                      '(fallback rule: no Nova device configuration)')
    if existing:
        return Choice(None, 'mdevs of several types (%s) exist on the GPU '
                      'and no Nova device configuration says which one '
                      'Nova uses' % ', '.join(existing))
    if len(types) == 1:
        return Choice(types[0].mdev_type, 'the GPU\'s only mdev type '
                      '(fallback rule: no Nova device configuration)')
    return Choice(None, 'the GPU offers several mdev types (%s) and no Nova '
                  'device configuration says which one Nova uses'
                  % ', '.join(sorted(d.mdev_type for d in types)))


def choose_types(devices, mdev_config=None, config_error=None,
                 operator=None):
    """``{GPU address: Choice}`` for the mdev parents among ``devices``.

    :param mdev_config: Nova's :class:`device_config.MdevConfig`; None for
        the fallback rule.
    :param config_error: why Nova's configuration could not be used (an
        invalid one): then no GPU has a type.
    :param operator: ``{address or None: type}`` chosen by the operator
        (``nova-config --mdev-type``); the None key applies to every GPU
        that offers the type.  Wins over everything else.
    """
    gpus = _by_gpu(devices)
    gpu_types = None
    if mdev_config is not None and config_error is None:
        try:
            gpu_types = device_config.gpu_types(mdev_config)
        except device_config.InvalidMdevConfig as e:
            config_error = str(e)
    choices = {}
    for address, types in sorted(gpus.items()):
        offered = {d.mdev_type for d in types}
        pick = None
        for key in (address, None):
            wanted = (operator or {}).get(key)
            if wanted is not None and (key is not None or
                                       wanted in offered):
                pick = Choice(wanted, 'chosen with --mdev-type')
                break
        if pick is None and config_error is not None:
            pick = Choice(None, 'Nova\'s device configuration cannot be '
                          'used: %s' % config_error)
        elif pick is None and gpu_types is not None:
            pick = Choice(gpu_types.type_for(address),
                          gpu_types.why(address))
        elif pick is None:
            pick = fallback_choice(types)
        choices[address] = pick
    return choices


TYPE_KEY = 'mdev_type'


class TypeConflict(ValueError):
    """A document that names another mdev type than its device's."""


def _typed_record(record, mdev_type, accepting):
    bus = dict(record.bus)
    bus[TYPE_KEY] = mdev_type
    changes = {'bus': tuple(sorted(bus.items()))}
    if accepting and record.mdev_type is None:
        # Nova creates the destination mdev of the GPU's type.
        changes['mdev_type'] = mdev_type
    return dataclasses.replace(record, **changes)


def _where(index, record):
    return 'accept record compatible[%d] (%s)' % (
        index, records.describe_stream(record))


def _type_refusal(record, mdev_type):
    """Why accept ``record`` cannot receive into an mdev of ``mdev_type``.

    None when it can.
    """
    stream_type = dict(record.bus).get(TYPE_KEY, mdev_type)
    if stream_type != mdev_type:
        return ('receives a stream of mdev type %s, but Nova live-migrates '
                'an mdev only into one of the same type (%s)'
                % (stream_type, mdev_type))
    if record.mdev_type not in (None, mdev_type):
        return ('needs an mdev of type %s, but Nova creates %s on this GPU'
                % (record.mdev_type, mdev_type))
    return None


def typed_document(document, mdev_type):
    """``document`` as Nova can carry it out for an mdev of ``mdev_type``.

    Every record gets the bus key ``mdev_type`` (part of the stream's
    identity), and an accept record that does not say what to create
    creates ``mdev_type``.  Accept records that cannot receive into an
    mdev of ``mdev_type`` are left out: one whose bus names another type
    (a stream of another type), or that creates another type.

    :returns: ``(document, notes)``, a note per accept record left out.
    :raises TypeConflict: when the emitting record's bus names another
        type: the document describes a stream this device does not emit.
    """
    emits = document.emits
    if dict(emits.bus).get(TYPE_KEY, mdev_type) != mdev_type:
        raise TypeConflict(
            'its document emits a stream of mdev type %s (bus key %s) but '
            'the device is of type %s' % (dict(emits.bus)[TYPE_KEY],
                                          TYPE_KEY, mdev_type))
    kept, notes = [], []
    for index, record in enumerate(document.accepts):
        refusal = _type_refusal(record, mdev_type)
        if refusal is None:
            kept.append(_typed_record(record, mdev_type, True))
        else:
            notes.append('%s %s, so it is not published'
                         % (_where(index, record), refusal))
    return dataclasses.replace(
        document, emits=_typed_record(emits, mdev_type, False),
        accepts=tuple(kept)), tuple(notes)


def stream_document(device):
    """The document whose streams ``device`` publishes.

    An mdev type's document typed with its type (:func:`typed_document`;
    idempotent, so a published device gives its published document),
    else the device's document.

    :raises TypeConflict: see :func:`typed_document`.
    """
    document = device.document
    if (document is not None and device.mdev_type and
            device.kind == nvc_devices.KIND_MDEV_TYPE):
        document, _ = typed_document(document, device.mdev_type)
    return document


def precreated_refusal(device):
    """Why Nova may give ``device``'s GPU an mdev without the attributes.

    Nova reuses *any* unassigned mdev of the GPU's type, whatever its
    attributes, and creates a plain one when none is left
    (``_allocate_mdevs`` in ``nova/virt/libvirt/driver.py``).  So only
    where every mdev the GPU can hold exists (mdevs exist and
    ``available_instances`` is 0) can Nova hand out nothing but the
    pre-created ones; ``[nova] precreated_mdev_attrs`` is the site's word
    that each was created with the attributes.  None when that holds.
    """
    if device.kind != nvc_devices.KIND_MDEV_TYPE:
        return 'Nova creates no mdev for a PCI device'
    if not device.mdevs:
        return 'no mdev of this type exists on the GPU'
    if device.available_instances != 0:
        return ('%s more mdev(s) of this type can be created on the GPU '
                '(available_instances), and Nova creates them without '
                'attributes when no unassigned one is left' % (
                    'unknown' if device.available_instances is None
                    else device.available_instances))
    return None


def _own_type(device):
    """The type ``device``'s streams are typed with (None: untyped)."""
    if device.kind == nvc_devices.KIND_MDEV_TYPE and device.mdev_type:
        return device.mdev_type
    return None


def _accept_notes(device, nova_type, precreated_mdev_attrs):
    """``(accept records kept, notes on those left out)``."""
    kept, notes = [], []
    for index, record in enumerate(device.document.accepts):
        where = _where(index, record)
        if record.mdev_attrs and not precreated_mdev_attrs:
            notes.append(
                '%s needs the destination mdev created with %s; Nova '
                'creates mdevs without attributes, so it is not published '
                '(set [nova] precreated_mdev_attrs if this site creates '
                'every mdev of the GPU itself)' % (
                    where, records.mdev_attrs_text(record.mdev_attrs)))
            continue
        refusal = nova_type and _type_refusal(record, nova_type)
        if refusal:
            notes.append('%s %s, so it is not published' % (where, refusal))
            continue
        if record.mdev_attrs:
            refusal = precreated_refusal(device)
            attrs = records.mdev_attrs_text(record.mdev_attrs)
            if refusal:
                notes.append(
                    '%s needs the destination mdev created with %s, but %s; '
                    'Nova reuses any unassigned mdev of the type whatever '
                    'its attributes, so it is not published' % (
                        where, attrs, refusal))
                continue
            notes.append(
                '%s is published: every mdev of this type the GPU can hold '
                'exists (%d, none more can be created) and [nova] '
                'precreated_mdev_attrs says the site created each with %s'
                % (where, len(device.mdevs), attrs))
        kept.append(record)
    return tuple(kept), tuple(notes)


def _class_of(document):
    """The resource class of ``document``'s streams (None: unknown)."""
    try:
        return nvc_traits.resource_class(document.emits)
    except Exception:
        return None


def _compiled(document, max_traits, mdev_type=None):
    """``(traits, problem)`` of a published document.

    An mdev device (``mdev_type``) also carries the trait that names its
    type (:func:`traits.mdev_type_trait`), counted with the others.
    """
    try:
        extra = ()
        if mdev_type is not None:
            extra = (nvc_traits.mdev_type_trait(mdev_type),)
        return nvc_traits.document_traits(document, max_traits, extra), None
    except nvc_traits.InvalidMdevType as e:
        return frozenset(), str(e)
    except nvc_traits.TraitLimitExceeded as e:
        return frozenset(), str(e)
    except Exception as e:
        # A document built around the validation (no parser makes one)
        # must spoil only its own device.
        return frozenset(), 'its traits cannot be computed (%s: %s)' % (
            type(e).__name__, e)


def stream_traits(published, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """``(traits, problem)`` of all the streams of a published device.

    The traits of ``published.streams`` (every accept record, none left
    out for Nova), with the trait that names an mdev type, as
    :func:`as_published` would publish them: what ``devices`` shows for a
    device, published or not.  Empty with no streams (no document, or one
    that names another type: ``published.type_conflict`` says so);
    ``problem`` says why they cannot be computed (too many).
    """
    if published.streams is None:
        return frozenset(), published.type_conflict
    return _compiled(published.streams, max_traits,
                     _own_type(published.device))


def _streams(device):
    """``(streams, type conflict)`` of ``device``: see PublishedDevice."""
    try:
        return stream_document(device), None
    except TypeConflict as e:
        return None, str(e)


def _made(device, narrow=True, precreated_mdev_attrs=False,
          max_traits=nvc_traits.DEFAULT_MAX_TRAITS, live=False):
    """The :class:`PublishedDevice` of ``device``, published.

    ``narrow``: leave out the accept records Nova cannot carry out (the
    notes name each by its index in the device's document); what is kept
    is then typed (nothing more is left out by :func:`typed_document`).
    """
    streams, conflict = _streams(device)
    if device.document is None:
        why = '; '.join(device.errors) or 'no source gave one'
        return PublishedDevice(
            device, problem='no usable capability document (%s)' % why,
            live_migratable=live)
    if conflict is not None:
        return PublishedDevice(device, problem=conflict,
                               type_conflict=conflict, live_migratable=live)
    document, notes = streams, ()
    mdev_type = _own_type(device)
    if narrow:
        kept, notes = _accept_notes(device, mdev_type, precreated_mdev_attrs)
        document = device.document
        if kept != document.accepts:
            document = dataclasses.replace(document, accepts=kept)
        if mdev_type is not None:
            document, _ = typed_document(document, mdev_type)
    names, problem = _compiled(document, max_traits, mdev_type)
    return PublishedDevice(
        device, streams=streams, document=None if problem else document,
        traits=names, resource_class=_class_of(streams), problem=problem,
        notes=notes, live_migratable=live)


def _left_out(device, reason):
    """The :class:`PublishedDevice` of a device left out on purpose."""
    streams, conflict = _streams(device)
    return PublishedDevice(
        device, streams=streams, type_conflict=conflict,
        resource_class=streams and _class_of(streams), reason=reason)


def _decided(device, choice, precreated_mdev_attrs, max_traits):
    """The :class:`PublishedDevice` of one device (``choice``: its GPU's)."""
    if device.kind == nvc_devices.KIND_MDEV_TYPE:
        if choice.mdev_type != device.mdev_type:
            if choice.mdev_type is None:
                reason = ('not enabled: Nova uses no mdev type on this '
                          'GPU (%s)' % choice.why)
            else:
                reason = ('not enabled: Nova uses mdev type %s on this '
                          'GPU (%s)' % (choice.mdev_type, choice.why))
            if device.mdevs:
                # Nova counts and reuses only mdevs of the GPU's type.
                reason += ('; Nova ignores the %d existing mdev(s) of '
                           'this type' % len(device.mdevs))
            return _left_out(device, reason)
        _, conflict = _streams(device)
        if conflict is not None:
            return _left_out(device, 'not published: %s' % conflict)
        return _made(device, True, precreated_mdev_attrs, max_traits)
    if device.document is not None and not live_migratable(device):
        return _left_out(device, 'not live-migratable: %s'
                         % migration_refusal(device))
    return _made(device, True, precreated_mdev_attrs, max_traits,
                 live=device.document is not None)


@dataclasses.dataclass(frozen=True)
class RootFit:
    """Whose traits the compute node provider carries (:func:`fit_root`).

    ``traits`` is what the root carries for ``on_root``, the PCI devices
    it holds; ``left_out`` the PCI devices that do not fit (the root is
    the only provider the reporter gives their traits).
    """

    traits: frozenset = frozenset()
    on_root: tuple = ()
    left_out: tuple = ()


def fit_root(devices, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The :class:`RootFit` of the published ``devices`` of one host.

    Whole devices, never part of one: a device's accept traits without
    its emit trait (or some of its blocks) would be a claim nobody made.
    The PCI devices in the given order: a device is on the root when its
    traits fit with those of the devices before it, so the root never
    has more than ``max_traits`` names, and what is left out is left out
    only because it does not fit.  mdev types are on their GPU's provider
    alone; devices not published (a ``reason`` or ``problem``) are not
    considered.
    """
    root = set()
    on_root, left_out = [], []
    for device in devices:
        if not device.published or \
                device.kind == nvc_devices.KIND_MDEV_TYPE:
            continue
        if len(root | device.traits) <= max_traits:
            root |= device.traits
            on_root.append(device)
        else:
            left_out.append(device)
    return RootFit(frozenset(root), tuple(on_root), tuple(left_out))


def _streams_named(device):
    """The emit trait of ``device``'s stream."""
    if device.streams is None:
        return 'none'
    return nvc_traits.emit_trait(device.streams.emits)


def _over_limit_reason(device, max_traits):
    """Why ``device`` (a PCI device :func:`fit_root` left out) is."""
    return ('left out: its %d traits (stream %s) do not fit on the compute '
            'node provider with those of the devices before it (at most %d, '
            '[traits] max_traits_per_provider); Nova is not told it can '
            'live-migrate it' % (len(device.traits), _streams_named(device),
                                 max_traits))


def named_with_stream(device):
    """``device`` and its stream, as the messages name what is left out."""
    return '%s (stream %s)' % (device.name, _streams_named(device))


def left_out_message(names, max_traits):
    """One line naming what :func:`fit_root` left out.

    ``names`` are :func:`named_with_stream` of the devices left out.
    """
    return ('%d device(s) left out: their traits do not fit on the compute '
            'node provider with the others\' (at most %d, [traits] '
            'max_traits_per_provider); everything else is published: %s'
            % (len(names), max_traits, ', '.join(names)))


def _fitted(decisions, max_traits):
    """``decisions`` with :func:`fit_root` applied."""
    fit = fit_root(decisions, max_traits)
    left_out = {id(d) for d in fit.left_out}
    out = []
    for d in decisions:
        if id(d) in left_out:
            d = dataclasses.replace(
                d, reason=_over_limit_reason(d, max_traits), document=None,
                traits=frozenset(), live_migratable=False, over_limit=True)
        out.append(d)
    return tuple(out)


def decide(devices, mdev_config=None, config_error=None,
           precreated_mdev_attrs=False, operator=None,
           max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The :class:`Outcome` for ``devices``.

    One :class:`PublishedDevice` per device, in their order.

    :param mdev_config: Nova's :class:`device_config.MdevConfig`, or None
        when no Nova configuration was given (the fallback rule applies).
    :param config_error: why the given Nova configuration cannot be used.
    :param precreated_mdev_attrs: publish accept records that need mdev
        attributes (the site pre-creates such mdevs).
    :param max_traits: a device with more traits has a ``problem``; the
        PCI devices whose traits do not fit on the compute node
        provider together are left out (:func:`fit_root`).
    """
    messages = []
    if mdev_config is None and config_error is None:
        if any(d.kind == nvc_devices.KIND_MDEV_TYPE for d in devices):
            messages.append(NO_NOVA_CONFIG)
    choices = choose_types(devices, mdev_config, config_error, operator)
    out = _fitted([_decided(device, choices.get(device.address),
                            precreated_mdev_attrs, max_traits)
                   for device in devices], max_traits)
    left_out = [named_with_stream(d) for d in out if d.over_limit]
    if left_out:
        messages.append(left_out_message(left_out, max_traits))
    return Outcome(decisions=out, messages=tuple(messages), choices=choices)


def as_published(device, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """``device`` as a :class:`PublishedDevice`, taken as it is.

    A :class:`PublishedDevice` is returned unchanged.  A bare
    :class:`~nova_vfio_compat.model.devices.Device` (a device list or a test
    given to the reporter directly, the demo's simulated hosts) is
    published whole, with no decision of :func:`decide`: only typed (an
    mdev type's document with its type), its traits compiled.
    """
    if isinstance(device, PublishedDevice):
        return device
    live = (device.kind == nvc_devices.KIND_PCI and
            live_migratable(device))
    return _made(device, narrow=False, max_traits=max_traits, live=live)


class Unpublishable(records.InvalidDocument):
    """A document alone that the reporter would not publish, and why."""

    def __init__(self, source, message):
        prefix = '%s: ' % source
        if message.startswith(prefix):
            message = message[len(prefix):]
        super().__init__(source, message)


def _document_device(document, mdev_type):
    kind = (nvc_devices.KIND_MDEV_TYPE if mdev_type else
            nvc_devices.KIND_PCI)
    return nvc_devices.Device(
        address=document.source, kind=kind, driver=document.emits.vendor,
        document=document, mdev_type=mdev_type,
        provenance='%s:%s' % (nvc_devices.SOURCE_FILE, document.source),
        # A document alone describes a device whose migration is enabled
        # (mlx5: devlink "migratable"); its driver is still checked.
        migration_enabled=True)


def published_document(document, mdev_type=None,
                       precreated_mdev_attrs=False,
                       max_traits=nvc_traits.DEFAULT_MAX_TRAITS, narrow=True):
    """What the reporter publishes for a device described by ``document``.

    The document alone, with no host: the device is an mdev type (a vGPU)
    of ``mdev_type``, else of the type its own record names (``self:
    {mdev_type: ...}``), on a GPU where Nova uses that type; a document
    that names no type at all is a PCI device's, described by a
    capability file (so live-migratable).  Either way the device is
    published exactly as :func:`decide` publishes it (a GPU with no mdevs
    yet); with ``narrow`` False it is only typed, every accept record its
    type allows kept (:func:`as_published`).

    :returns: its :class:`PublishedDevice`, published.
    :raises Unpublishable: naming the document, when the reporter would
        not publish it: no type is given or named by its own record but
        its accept records name one (it describes a vGPU, whose streams
        the reporter types with the type Nova uses on the GPU, and that
        type is not known); it emits a stream of another type than
        ``mdev_type``; it has too many traits.
    """
    mdev_type = mdev_type or document.emits.mdev_type
    if mdev_type is None:
        named = sorted({r.mdev_type for r in document.accepts
                        if r.mdev_type is not None})
        if named:
            raise Unpublishable(
                document.source,
                'its accept records create mdevs (of type %s) but its own '
                'record (self) names no mdev type: the reporter publishes '
                'a vGPU\'s streams typed with the mdev type Nova uses on '
                'the GPU; name it (self: {mdev_type: ...}) or give it '
                '(--mdev-type)' % ', '.join(named))
    device = _document_device(document, mdev_type)
    if not narrow:
        published = as_published(device, max_traits)
    elif mdev_type is None:
        published = _decided(device, None, precreated_mdev_attrs,
                             max_traits)
    else:
        published = _decided(device, Choice(mdev_type, 'the document\'s '
                                            'type'),
                             precreated_mdev_attrs, max_traits)
    if not published.published:
        raise Unpublishable(document.source,
                            published.problem or published.reason)
    return published
