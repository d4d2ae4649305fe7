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

"""The compatibility rules: the reference semantics of the project.

``check(source, dest)`` says whether the stream that ``source`` emits can
be received by a device described by ``dest``, why not, and what the
destination must create.  :mod:`nova_vfio_compat.model.traits` is the compiled
form of these rules and must agree with them for every pair of documents.
"""

import dataclasses

from nova_vfio_compat.model import records


@dataclasses.dataclass(frozen=True)
class Create:
    """What the destination must create to receive the stream."""

    mdev_type: str
    mdev_attrs: tuple = ()

    def to_dict(self):
        return {'mdev_type': self.mdev_type,
                'mdev_attrs': records.mdev_attrs_data(self.mdev_attrs)}

    def to_mdevctl(self):
        """The mdevctl device config (``/etc/mdevctl.d/<parent>/<uuid>``)."""
        return {'mdev_type': self.mdev_type, 'start': 'manual',
                'attrs': records.mdev_attrs_data(self.mdev_attrs)}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The answer for one (source, destination) pair.

    ``reasons`` is empty exactly when ``compatible``; ``create`` is set only
    for a compatible pair whose matching accepting record names an mdev
    type; ``matched`` is that accepting record.
    """

    compatible: bool
    reasons: tuple = ()
    create: Create = None
    matched: records.Record = None

    def to_dict(self):
        return {'compatible': self.compatible,
                'reasons': list(self.reasons),
                'create': self.create.to_dict() if self.create else None}


def mismatches(stream, accepting):
    """Why ``accepting`` does not accept ``stream`` (empty when it does)."""
    if stream.device_api != accepting.device_api:
        return ['device_api %s is not %s'
                % (stream.device_api, accepting.device_api)]
    reasons = []
    if stream.vendor != accepting.vendor:
        reasons.append('vendor driver %r is not %r'
                       % (stream.vendor, accepting.vendor))
    if stream.major != accepting.major:
        reasons.append('major version %d is not %d'
                       % (stream.major, accepting.major))
    elif not accepting.minor_min <= stream.minor <= accepting.minor:
        reasons.append('minor version %d is outside the accepted range '
                       '%d..%d' % (stream.minor, accepting.minor_min,
                                   accepting.minor))
    api = stream.device_api
    src_bus, dst_bus = dict(stream.bus), dict(accepting.bus)
    for key in sorted(set(src_bus) | set(dst_bus)):
        if key not in dst_bus:
            reasons.append('%s.%s is set on the source only' % (api, key))
        elif key not in src_bus:
            reasons.append('%s.%s is set on the destination only'
                           % (api, key))
        elif src_bus[key] != dst_bus[key]:
            reasons.append('%s.%s %s is not %s' % (
                api, key, records.format_bus_value(api, src_bus[key]),
                records.format_bus_value(api, dst_bus[key])))
    return reasons


def _guest_device(record):
    bus = dict(record.bus)
    return (record.device_api, bus.get('vendor'), bus.get('device'))


def same_kind(source, dest):
    """Is ``dest`` the same kind of device as ``source``?

    The same vendor driver, or the same guest-visible device: then why
    ``dest`` refuses the stream is worth showing to an operator, where for
    a different device altogether every difference is.
    """
    stream = source.emits
    return any(
        (accepting.device_api, accepting.vendor) ==
        (stream.device_api, stream.vendor) or
        _guest_device(accepting) == _guest_device(stream)
        for accepting in dest.accepts)


def check(source, dest):
    """Can the stream ``source`` emits be received by ``dest``?

    The destination accepts the stream if any of its accepting records
    does; the first one that does (in document order) says what to create.
    """
    stream = source.emits
    failed = []
    for accepting in dest.accepts:
        reasons = mismatches(stream, accepting)
        if not reasons:
            create = None
            if accepting.mdev_type is not None:
                create = Create(accepting.mdev_type, accepting.mdev_attrs)
            return Verdict(True, (), create, accepting)
        failed.append(reasons)
    if len(failed) == 1:
        return Verdict(False, tuple(failed[0]))
    return Verdict(False, tuple(
        'accepted record %d: %s' % (i, reason)
        for i, reasons in enumerate(failed) for reason in reasons))
