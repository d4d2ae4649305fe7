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

Encoding version 2 (see doc/source/reference/trait-encoding.rst)::

    CUSTOM_VFC_1_E_<readable>_<hash>_M<minor>         emits this stream
    CUSTOM_VFC_2_A_<readable>_<hash>_M<low>_<high>    accepts the minors
                                                      low..high of it
    CUSTOM_VFC_<family readable>_<family hash>        resource class
    CUSTOM_VFC_2_T_<type body>_<type code>            an mdev device's
                                                      mdev type

The mdev type trait names the mdev type of a vGPU's streams exactly
(:func:`mdev_type_trait`, :func:`mdev_type_of`), so that a reader of
Placement (``fleet``) can say which type a stream is of: the stream's
hash covers the type but cannot be read back.  Nothing decides a
migration from it (the hash already keeps streams of two types apart).

``<hash>`` is the first 16 hex digits of the SHA-256 of the record's
canonical identity (:meth:`Record.identity_key`), which makes names
collision-free where ``<readable>`` (driver, PCI IDs, major version, folded
to ``[A-Z0-9_]``) loses information.

An accepted range ``[minor_min, minor]`` is published as its canonical
dyadic cover: the fewest blocks ``[k * 2**l, (k + 1) * 2**l - 1]`` whose
union is the range (at most ``2 * MINOR_BITS - 2`` of them, and never more
than two per level).  A stream ``S`` at minor ``m`` is received by a
provider exactly when the provider carries one of the
``MINOR_BITS + 1`` blocks that contain ``m``
(:func:`accept_traits_for`): the scheduler asks Placement for providers
with *any* of those names (``required=in:``) instead of testing one name.

Encoding 1 published one accept trait per accepted minor,
``CUSTOM_VFC_1_A_<readable>_<hash>_M<minor>``; its emit traits and
resource classes are those of encoding 2.  Its accept traits are still
understood (:func:`accept_traits_for` names them too), so a fleet that is
half upgraded schedules correctly; the reporter replaces them on its first
sync, since every ``CUSTOM_VFC_`` name it does not plan is removed.

The readable parts are folded by ``_slug``, which is *not*
``os_traits.normalize_name()``: see its docstring for how and why they
differ.  normalize_name() also neither bounds the length nor keeps
folded names apart, so this module adds the length budget and the hash.
"""

import collections
import hashlib
import re

import os_traits

from nova_vfio_compat.model import schema

ENCODING_VERSION = 2

# Every trait and resource class this project creates starts with PREFIX;
# the reporter adds and removes only names that do.
PREFIX = os_traits.CUSTOM_NAMESPACE + 'VFC_'
# Emit traits have not changed since encoding 1, so they keep its number:
# sources and destinations of both encodings name a stream the same way.
EMIT_PREFIX = PREFIX + '1_E_'
# Accept traits of encoding 1: read (a host not upgraded yet), never
# written.
V1_ACCEPT_PREFIX = PREFIX + '1_A_'
ACCEPT_PREFIX = '%s%d_A_' % (PREFIX, ENCODING_VERSION)
# The mdev type of an mdev device's streams; added in encoding 2.
TYPE_PREFIX = PREFIX + '2_T_'

MAX_NAME_LENGTH = 255
HASH_HEX_DIGITS = 16
DEFAULT_MAX_TRAITS = 1000
# Minor versions are unsigned 32-bit numbers as far as the encoding goes
# (the document schema allows 0..2**31 - 1).
MINOR_BITS = 32
MAX_MINOR = 2 ** MINOR_BITS - 1

_MAX_VENDOR_SLUG = 32
_MAX_API_SLUG = 16
_NAME_RE = re.compile('^CUSTOM_[A-Z0-9_]+\\Z')

Parsed = collections.namedtuple('Parsed', 'kind stream low high')


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
    """``text`` folded to ``[A-Z0-9_]``, at most ``limit`` characters.

    Upper-case (Python's full Unicode case mapping), replace each run of
    characters other than ``A-Z0-9`` by one ``_``, strip ``_`` at both
    ends, cut to ``limit``, strip ``_`` at the end again; ``X`` if
    nothing is left.

    ``os_traits.normalize_name()`` does it in the other order (replace
    runs other than ``0-9A-Za-z``, then upper-case: os-traits bug
    1762789) and strips nothing.  On ASCII text the two agree once the
    ``_`` at the ends are stripped; they differ on letters whose upper
    case is ASCII: ``'ıntel'`` folds to ``INTEL`` here but to ``_NTEL``
    there, ``'ß-drv'`` to ``SS_DRV`` here but to ``_DRV`` there.  This
    order is kept because trait names are a stable encoding (changing it
    would rename the traits of such drivers) and it keeps more of the
    name readable; uniqueness never depended on it (the hash).
    ``tests/unit/test_traits.py`` pins both the agreement and the
    difference.
    """
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


def _check_minor(minor):
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError('minor version %r is not an integer' % (minor,))
    if not 0 <= minor <= MAX_MINOR:
        raise ValueError('minor version %d is outside 0..%d'
                         % (minor, MAX_MINOR))


def cover(low, high):
    """The canonical dyadic cover of the minors ``low..high``.

    :returns: the blocks ``(start, end)``, in order, disjoint, whose union
        is exactly ``low..high``; each is ``2**l`` minors long and starts
        at a multiple of ``2**l``.  Greedy from ``low``: each block is the
        largest aligned one that starts there and fits, which gives the
        fewest blocks (at most two per level).
    :raises ValueError: when ``low..high`` is empty or not within
        ``0..MAX_MINOR``.
    """
    _check_minor(low)
    _check_minor(high)
    if low > high:
        raise ValueError('empty minor range %d..%d' % (low, high))
    blocks = []
    while low <= high:
        level = 0
        while (level < MINOR_BITS and low % (2 << level) == 0 and
               low + (2 << level) - 1 <= high):
            level += 1
        blocks.append((low, low + (1 << level) - 1))
        low += 1 << level
    return blocks


def blocks_containing(minor):
    """The ``MINOR_BITS + 1`` aligned blocks that contain ``minor``."""
    _check_minor(minor)
    return [((minor >> level) << level,
             ((minor >> level) << level) + (1 << level) - 1)
            for level in range(MINOR_BITS + 1)]


def _accept_name(stream, low, high):
    return '%s%s_M%d_%d' % (ACCEPT_PREFIX, stream, low, high)


def _v1_accept_name(stream, minor):
    return '%s%s_M%d' % (V1_ACCEPT_PREFIX, stream, minor)


def accept_traits(record):
    """The traits of a device that accepts what ``record`` accepts.

    One per block of the cover of ``record``'s accepted minors.
    """
    stream = stream_name(record)
    return [_accept_name(stream, low, high)
            for low, high in cover(record.minor_min, record.minor)]


def v1_accept_traits(record):
    """What a reporter of encoding 1 published for ``record``.

    One trait per accepted minor.  Nothing publishes these any more; they
    stand in for a host not upgraded yet (tests, benchmarks).
    """
    stream = stream_name(record)
    return [_v1_accept_name(stream, minor)
            for minor in range(record.minor_min, record.minor + 1)]


def resource_class(record):
    """The custom resource class of ``record``'s family (all versions)."""
    return '%s%s_%s' % (PREFIX, _family_readable(record),
                        _hash(record.family_key()))


def _accepted_ranges(document):
    """``{stream name: [(low, high)]}``: merged accepted ranges.

    Overlapping and adjacent ranges of one identity are merged first, so
    their cover is that of the union (no block twice, no two blocks that
    one would replace).
    """
    spans = {}
    for record in document.accepts:
        spans.setdefault(stream_name(record), []).append(
            (record.minor_min, record.minor))
    return {stream: _merged(ranges) for stream, ranges in spans.items()}


def _merged(ranges):
    """``ranges`` with the overlapping and adjacent ones joined, in order."""
    out = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def count_traits(document, extra=()):
    """How many traits :func:`document_traits` would return."""
    return 1 + len(frozenset(extra)) + sum(
        len(cover(low, high))
        for ranges in _accepted_ranges(document).values()
        for low, high in ranges)


def document_traits(document, max_traits=DEFAULT_MAX_TRAITS, extra=()):
    """All traits of a device described by ``document``.

    :param extra: more names the device carries (its
        :func:`mdev_type_trait`), counted against ``max_traits`` with the
        others.
    :raises TraitLimitExceeded: naming the document's source when there
        would be more than ``max_traits``.
    """
    count = count_traits(document, extra)
    if count > max_traits:
        raise TraitLimitExceeded(document.source, count, max_traits)
    names = {emit_trait(document.emits)} | frozenset(extra)
    for stream, ranges in _accepted_ranges(document).items():
        for low, high in ranges:
            names.update(_accept_name(stream, b_low, b_high)
                         for b_low, b_high in cover(low, high))
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
    """Is ``name`` a well-formed emit trait (of either encoding)?

    A name with the emit prefix that does not parse, or names a minor
    outside 0..MAX_MINOR (``CUSTOM_VFC_1_E_GARBAGE``: anyone allowed to
    write traits may create one), is not: an unknown trait, ignored like
    any trait of someone else's.
    """
    if not name.startswith(EMIT_PREFIX):
        return False
    parsed = parse(name)
    return parsed is not None and parsed.kind == 'E'


def is_malformed(name):
    """Is ``name`` an emit, accept or mdev type trait that does not parse?"""
    if name.startswith(TYPE_PREFIX):
        return mdev_type_of(name) is None
    return (name.startswith((EMIT_PREFIX, V1_ACCEPT_PREFIX,
                             ACCEPT_PREFIX)) and parse(name) is None)


def accept_traits_for(emit):
    """Every accept trait name that receives the stream of ``emit``.

    A provider accepts the stream exactly when it carries at least one of
    them: the blocks of encoding 2 that contain the emitted minor, and the
    encoding 1 trait of that minor (a host not upgraded yet).  This is the
    one place that knows how accepting is encoded; the filter and the
    other callers ask it.

    :raises ValueError: when ``emit`` is not an emit trait.
    """
    parsed = parse(emit)
    if parsed is None or parsed.kind != 'E':
        raise ValueError('%s is not an emit trait' % emit)
    return frozenset(
        [_v1_accept_name(parsed.stream, parsed.low)] +
        [_accept_name(parsed.stream, low, high)
         for low, high in blocks_containing(parsed.low)])


def emitted(names):
    """The emit traits among ``names``."""
    return frozenset(n for n in names if is_emit(n))


def unaccepted(source_traits, dest_traits):
    """The source's emit traits whose stream the destination refuses."""
    dest_traits = frozenset(dest_traits)
    return frozenset(e for e in emitted(source_traits)
                     if dest_traits.isdisjoint(accept_traits_for(e)))


def can_migrate(source_traits, dest_traits):
    """The one test the filter uses.

    Can every stream the source device's provider emits be received by the
    destination provider?

    Both arguments are whole trait sets of providers; traits that are not
    this project's are ignored.
    """
    return not unaccepted(source_traits, dest_traits)


def parse(name):
    """A :class:`Parsed` ``(kind, stream, low, high)``, else None.

    ``kind`` is ``'E'`` or ``'A'``; ``stream`` is :func:`stream_name`;
    ``low..high`` are the minors the trait emits (one) or accepts (one for
    encoding 1, a block for encoding 2).
    """
    if name.startswith(EMIT_PREFIX) or name.startswith(V1_ACCEPT_PREFIX):
        kind = 'E' if name.startswith(EMIT_PREFIX) else 'A'
        stream, _, minor = name[len(EMIT_PREFIX):].rpartition('_M')
        if stream and _is_minor(minor):
            return Parsed(kind, stream, int(minor), int(minor))
    elif name.startswith(ACCEPT_PREFIX):
        stream, _, block = name[len(ACCEPT_PREFIX):].rpartition('_M')
        low, _, high = block.partition('_')
        if stream and _is_minor(low) and _is_minor(high) and \
                int(low) <= int(high):
            return Parsed('A', stream, int(low), int(high))
    return None


def _is_minor(text):
    """Is ``text`` the decimal digits of a minor in 0..MAX_MINOR?"""
    return (text.isascii() and text.isdigit() and len(text) <= 10 and
            int(text) <= MAX_MINOR)


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


# -- the mdev type trait ------------------------------------------------
#
# CUSTOM_VFC_2_T_<body>_<code>.  The body is the type name with its
# letters in upper case and each separator written as "_": what people
# read.  The code is what the body leaves out, as a number written in
# base 36 (0-9 then A-Z, no leading zero): each letter and separator of
# the name, first to last, is a digit of it in base 2 (a letter: 0 lower
# case, 1 upper case) or 5 (a separator: its index in
# _TYPE_SEPARATORS), the last the least significant.  Digits of the name
# are digits of the body and not of the code.  So nvidia-222 is
# CUSTOM_VFC_2_T_NVIDIA_222_0, every name has exactly one trait, and the
# trait gives back the name.

_TYPE_SEPARATORS = '-_.:+'
_BASE36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'
_TYPE_NAME_RE = re.compile(schema.MDEV_TYPE['pattern'])
_TYPE_CODE_RE = re.compile('^(0|[1-9A-Z][0-9A-Z]*)\\Z')
_TYPE_BODY_RE = re.compile('^[A-Z0-9_]+\\Z')
# The longest mdev type name that has a trait: the document schema's
# bound, which every name within it fits (at most 58 code digits).
MAX_MDEV_TYPE_LENGTH = schema.MDEV_TYPE['maxLength']


class InvalidMdevType(ValueError):
    """An mdev type name that has no mdev type trait."""


def _base36(number):
    digits = []
    while True:
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
        if not number:
            return ''.join(reversed(digits))


def mdev_type_trait(mdev_type):
    """The trait that names ``mdev_type``, the type of a vGPU's streams.

    Only :mod:`nova_vfio_compat.model.publication` puts it on a device
    (``tests/unit/test_publication_only.py``).

    :raises InvalidMdevType: naming the type when it is not a name the
        capability documents allow for an mdev type (1 to
        :data:`MAX_MDEV_TYPE_LENGTH` letters, digits, ``_ . : + -``, a
        letter or digit first).
    """
    if not isinstance(mdev_type, str):
        raise InvalidMdevType('mdev type %r is not a string, so it has no '
                              'mdev type trait' % (mdev_type,))
    if len(mdev_type) > MAX_MDEV_TYPE_LENGTH:
        raise InvalidMdevType(
            'mdev type %r is %d characters long, more than the %d an mdev '
            'type trait can carry' % (mdev_type, len(mdev_type),
                                      MAX_MDEV_TYPE_LENGTH))
    if not _TYPE_NAME_RE.match(mdev_type):
        raise InvalidMdevType(
            'mdev type %r has no mdev type trait: a type name %s, a letter '
            'or digit first' % (mdev_type, schema.MDEV_TYPE['description']))
    body, code = [], 0
    for char in mdev_type:
        if char in _TYPE_SEPARATORS:
            body.append('_')
            code = code * 5 + _TYPE_SEPARATORS.index(char)
        elif char.isalpha():
            body.append(char.upper())
            code = code * 2 + char.isupper()
        else:
            body.append(char)
    return '%s%s_%s' % (TYPE_PREFIX, ''.join(body), _base36(code))


def mdev_type_of(name):
    """The mdev type :func:`mdev_type_trait` gave ``name``, else None.

    None for any other name, and for one with the prefix that no type
    gives (anyone allowed to write traits may create one).
    """
    if not name.startswith(TYPE_PREFIX):
        return None
    body, sep, code = name[len(TYPE_PREFIX):].rpartition('_')
    if not (sep and _TYPE_BODY_RE.match(body) and _TYPE_CODE_RE.match(code)):
        return None
    number, out = int(code, 36), []
    for char in reversed(body):
        if char == '_':
            number, digit = divmod(number, 5)
            out.append(_TYPE_SEPARATORS[digit])
        elif char.isalpha():
            number, digit = divmod(number, 2)
            out.append(char if digit else char.lower())
        else:
            out.append(char)
    mdev_type = ''.join(reversed(out))
    if number or len(mdev_type) > MAX_MDEV_TYPE_LENGTH or \
            not _TYPE_NAME_RE.match(mdev_type):
        return None
    return mdev_type


def mdev_types(names):
    """The mdev types the type traits among ``names`` name."""
    return frozenset(t for t in map(mdev_type_of, names) if t is not None)
