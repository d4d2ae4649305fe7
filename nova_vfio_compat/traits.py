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

"""The compiled form of the rules: flat custom Placement traits.

Encoding version 1 (see doc/source/reference/trait-encoding.rst)::

    CUSTOM_VFC_1_E_<readable>_<hash>_M<minor>   the device emits this stream
    CUSTOM_VFC_1_A_<readable>_<hash>_M<minor>   the device accepts it
    CUSTOM_VFC_<family readable>_<family hash>  resource class of the family

``<hash>`` is the first 16 hex digits of the SHA-256 of the record's
canonical identity (:meth:`Record.identity_key`), which makes names
collision-free where ``<readable>`` (driver, PCI IDs, major version, folded
to ``[A-Z0-9_]``) loses information.  A stream ``S`` at minor ``m`` can be
received by a provider exactly when the provider has the accept trait for
``(S, m)``, so the scheduler only ever tests set membership.

os_traits.normalize_name() folds a name the same way as ``_slug`` but
neither bounds the length nor keeps folded names apart, so this module
adds the hash and the length budget itself.
"""

import hashlib
import re

import os_traits

ENCODING_VERSION = 1

# Every trait and resource class this project creates starts with PREFIX;
# the reporter adds and removes only names that do.
PREFIX = os_traits.CUSTOM_NAMESPACE + 'VFC_'
_VERSIONED = '%s%d_' % (PREFIX, ENCODING_VERSION)
EMIT_PREFIX = _VERSIONED + 'E_'
ACCEPT_PREFIX = _VERSIONED + 'A_'

MAX_NAME_LENGTH = 255
HASH_HEX_DIGITS = 16
DEFAULT_MAX_TRAITS = 1000

_MAX_VENDOR_SLUG = 32
_MAX_API_SLUG = 16
_NAME_RE = re.compile('^CUSTOM_[A-Z0-9_]+\\Z')


class TraitLimitExceeded(ValueError):
    """A provider would carry more traits than the configured bound."""

    def __init__(self, where, count, limit):
        self.where = where
        self.count = count
        self.limit = limit
        super().__init__(
            '%s: would carry %d traits, more than the limit of %d '
            '([traits] max_traits_per_provider); narrow the accepted minor '
            'ranges of its capability document or raise the limit'
            % (where, count, limit))


def _slug(text, limit):
    return re.sub('[^A-Z0-9]+', '_', text.upper()).strip('_')[:limit].strip(
        '_') or 'X'


def _hash(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[
        :HASH_HEX_DIGITS].upper()


def _family_readable(record):
    parts = [_slug(record.vendor, _MAX_VENDOR_SLUG)]
    bus = dict(record.bus)
    if record.device_api == 'vfio-pci':
        parts.append('%04X_%04X' % (bus['vendor'], bus['device']))
    else:
        parts.append(_slug(record.device_api, _MAX_API_SLUG))
    return '_'.join(parts)


def stream_name(record):
    """The stream ``record`` is about, without the E/A marker and minor.

    ``<family readable>_V<major>_<hash of the identity>``.
    """
    return '%s_V%d_%s' % (_family_readable(record), record.major,
                          _hash(record.identity_key()))


def emit_trait(record):
    """The trait of a device that emits ``record``'s stream."""
    return '%s%s_M%d' % (EMIT_PREFIX, stream_name(record), record.minor)


def accept_traits(record):
    """The traits of a device that accepts what ``record`` accepts."""
    base = ACCEPT_PREFIX + stream_name(record)
    return ['%s_M%d' % (base, minor)
            for minor in range(record.minor_min, record.minor + 1)]


def resource_class(record):
    """The custom resource class of ``record``'s family (all versions)."""
    return '%s%s_%s' % (PREFIX, _family_readable(record),
                        _hash(record.family_key()))


def count_traits(document):
    """How many traits :func:`document_traits` would return.

    Computed without expanding the ranges, so an absurd range costs
    nothing.
    """
    ranges = {}
    for record in document.accepts:
        ranges.setdefault(record.identity, []).append(
            (record.minor_min, record.minor))
    count = 1
    for spans in ranges.values():
        end = -1
        for low, high in sorted(spans):
            low = max(low, end + 1)
            if high >= low:
                count += high - low + 1
                end = high
    return count


def document_traits(document, max_traits=DEFAULT_MAX_TRAITS):
    """All traits of a device described by ``document``.

    :raises TraitLimitExceeded: naming the document's source when there
        would be more than ``max_traits``.
    """
    count = count_traits(document)
    if count > max_traits:
        raise TraitLimitExceeded(document.source, count, max_traits)
    names = {emit_trait(document.emits)}
    for record in document.accepts:
        names.update(accept_traits(record))
    return frozenset(names)


def check_limit(names, where, max_traits=DEFAULT_MAX_TRAITS):
    """Raise :exc:`TraitLimitExceeded` if ``names`` has too many traits."""
    if len(names) > max_traits:
        raise TraitLimitExceeded(where, len(names), max_traits)
    return names


def is_owned(name):
    """Is ``name`` a trait or resource class this project manages?"""
    return name.startswith(PREFIX)


def is_emit(name):
    return name.startswith(EMIT_PREFIX)


def is_accept(name):
    return name.startswith(ACCEPT_PREFIX)


def accept_trait_for(emit):
    """The accept trait that receives the stream of emit trait ``emit``."""
    if not is_emit(emit):
        raise ValueError('%s is not an emit trait' % emit)
    return ACCEPT_PREFIX + emit[len(EMIT_PREFIX):]


def emitted(names):
    """The emit traits among ``names``."""
    return frozenset(n for n in names if is_emit(n))


def unaccepted(source_traits, dest_traits):
    """The source's emit traits whose stream the destination refuses."""
    dest_traits = frozenset(dest_traits)
    return frozenset(e for e in emitted(source_traits)
                     if accept_trait_for(e) not in dest_traits)


def can_migrate(source_traits, dest_traits):
    """The one test the filter uses.

    Can every stream the source device's provider emits be received by the
    destination provider?

    Both arguments are whole trait sets of providers; traits that are not
    this project's are ignored.
    """
    return not unaccepted(source_traits, dest_traits)


def parse(name):
    """``(kind, stream, minor)`` of an emit or accept trait, else None.

    ``kind`` is ``'E'`` or ``'A'``; ``stream`` is :func:`stream_name`.
    """
    for kind, prefix in (('E', EMIT_PREFIX), ('A', ACCEPT_PREFIX)):
        if name.startswith(prefix):
            stream, _, minor = name[len(prefix):].rpartition('_M')
            if stream and minor.isdigit():
                return kind, stream, int(minor)
    return None


def is_valid_name(name):
    """Is ``name`` a legal custom trait or resource class name?"""
    return len(name) <= MAX_NAME_LENGTH and bool(_NAME_RE.match(name))


def stream_family(stream):
    """``(family, major)`` of a :func:`stream_name`, else None.

    ``family`` is the readable part (driver and PCI vendor/device IDs, or
    the device API): streams of every version of one kind of device share
    it, which is how an operator recognises them.
    """
    family, sep, rest = stream.rpartition('_V')
    major, _, digest = rest.partition('_')
    if sep and family and major.isdigit() and digest:
        return family, int(major)
    return None
