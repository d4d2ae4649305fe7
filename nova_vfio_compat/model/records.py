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

"""Capability records and documents: parsing, validation, canonical form.

A *record* says what migration stream a device emits, or which streams it
accepts.  A *document* is the record a device emits plus the records it
accepts.  Documents come as JSON or YAML text; :func:`loads` turns text into
a validated, canonical :class:`Document` or raises :exc:`InvalidDocument`
naming the source and the place in it.  No I/O happens here.
"""

import dataclasses
import json
import re

import jsonschema
import yaml

from nova_vfio_compat.model import schema

PCI_ID_KEYS = ('vendor', 'device', 'subsystem_vendor', 'subsystem_device')


class InvalidDocument(ValueError):
    """A capability document that cannot be used.

    ``source`` names the file or device it came from; ``path`` is where in
    the document the problem is (``compatible[1].version.minor``).
    """

    def __init__(self, source, message, path=''):
        self.source = source
        self.path = path
        self.message = message
        where = '%s: at %s' % (source, path) if path else source
        super().__init__('%s: %s' % (where, message))


@dataclasses.dataclass(frozen=True)
class Record:
    """One capability record, canonical: equal records compare equal.

    ``bus`` is the bus section as sorted ``(key, value)`` pairs, values as
    int or str.  ``minor_min`` and ``minor`` bound the accepted range of an
    accepting record; an emitting record emits ``minor``.
    """

    device_api: str
    vendor: str
    major: int
    minor: int
    bus: tuple = ()
    minor_min: int = 0
    mdev_type: str = None
    mdev_attrs: tuple = ()

    @property
    def identity(self):
        """What a stream is keyed on: all but the minor and what to create."""
        return (self.device_api, self.vendor, self.major, self.bus)

    @property
    def family(self):
        """The identity without the version: one resource class each."""
        return (self.device_api, self.vendor, self.bus)

    def identity_key(self):
        """The canonical text of :attr:`identity` (input to trait hashes)."""
        return _canonical_json({'device_api': self.device_api,
                                'vendor': self.vendor,
                                'major': self.major,
                                'bus': dict(self.bus)})

    def family_key(self):
        """The canonical text of :attr:`family`."""
        return _canonical_json({'device_api': self.device_api,
                                'vendor': self.vendor,
                                'bus': dict(self.bus)})


@dataclasses.dataclass(frozen=True)
class Document:
    """What a device emits and which streams it accepts.

    ``source`` names where the document came from, for messages; it is not
    part of the document's value (two equal documents from different files
    compare equal).
    """

    emits: Record
    accepts: tuple
    source: str = dataclasses.field(default='<document>', compare=False)


def _canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=False)


class _Refused(ValueError):
    """Text refused while it is parsed (the message says why)."""


def _refuse_duplicates(pairs):
    """``object_pairs_hook`` for JSON: a key given twice is an error."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Refused('duplicate key %r' % (key,))
        out[key] = value
    return out


# Only text with such a run of digits can hold a _LongInt.
_LONG_INT_TEXT = re.compile(r'[0-9]{%d}' % (schema.MAX_INT_DIGITS + 1))


class _LongInt:
    """Where JSON had an integer too long to convert (its digit count)."""

    def __init__(self, digits):
        self.digits = digits


def _bounded_int(text):
    """``parse_int`` for JSON: absurdly long integers are not converted.

    They are marked (:class:`_LongInt`) so that the error can say where
    they are (:func:`_long_int_at`); json's hooks know no position.
    """
    digits = len(text.lstrip('+-'))
    if digits > schema.MAX_INT_DIGITS:
        return _LongInt(digits)
    return int(text)


def _long_int_at(data, path=()):
    """``(path, digits)`` of the first :class:`_LongInt` in ``data``."""
    if isinstance(data, _LongInt):
        return json_path('', path), data.digits
    if isinstance(data, dict):
        children = data.items()
    elif isinstance(data, list):
        children = enumerate(data)
    else:
        return None
    for key, value in children:
        found = _long_int_at(value, path + (key,))
        if found is not None:
            return found
    return None


class _StrictLoader(yaml.SafeLoader):
    """safe_load without aliases, duplicate keys or absurd integers.

    Capability documents never need anchors and aliases, and aliases are
    how a few bytes of YAML expand into gigabytes ("billion laughs").  A
    key given twice in one mapping is refused rather than letting the last
    one win silently.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, 'YAML aliases are not allowed in capability '
                'documents', event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    # An unhashable key: SafeLoader refuses it itself.
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, 'duplicate key %r' % (key,),
                        key_node.start_mark)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        digits = len(text.lstrip('+-').replace('_', ''))
        if digits > schema.MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, 'an integer of %d digits is longer than the '
                'limit of %d digits' % (digits, schema.MAX_INT_DIGITS),
                node.start_mark)
        return super().construct_yaml_int(node)


_StrictLoader.add_constructor('tag:yaml.org,2002:int',
                              _StrictLoader.construct_yaml_int)


def _decoded(text, source, max_bytes):
    if max_bytes is not None and len(text) > max_bytes:
        raise InvalidDocument(
            source, 'is %d bytes, larger than the limit of %d bytes'
            % (len(text), max_bytes))
    if isinstance(text, bytes):
        try:
            return text.decode('utf-8')
        except UnicodeDecodeError as e:
            raise InvalidDocument(source, 'is not UTF-8 text (%s)' % e)
    return text


def _json(text, source):
    """Strict ``json.loads``; a syntax error is left a plain ValueError."""
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicates,
                          parse_int=_bounded_int)
    except _Refused as e:
        raise InvalidDocument(source, str(e))
    except RecursionError:
        raise InvalidDocument(source, 'is nested too deeply')
    if _LONG_INT_TEXT.search(text):
        try:
            found = _long_int_at(data)
        except RecursionError:
            raise InvalidDocument(source, 'is nested too deeply')
        if found is not None:
            raise InvalidDocument(
                source, 'an integer of %d digits is longer than the limit '
                'of %d digits' % (found[1], schema.MAX_INT_DIGITS), found[0])
    return data


def parse_json(text, source, max_bytes=None):
    """JSON text (str or bytes) to plain data; YAML is refused.

    For sources that are JSON only (a compatibility attribute in sysfs).

    :raises InvalidDocument: naming ``source``, as :func:`parse_text`.
    """
    text = _decoded(text, source, max_bytes)
    try:
        return _json(text, source)
    except InvalidDocument:
        raise
    except ValueError as e:
        raise InvalidDocument(source, 'is not valid JSON: %s' % e)


def parse_text(text, source, max_bytes=None):
    """JSON or YAML text (str or bytes) to plain data.

    Text that starts with ``{`` or ``[`` is read as JSON first; if it is
    not valid JSON it is read as YAML, and when that fails too the JSON
    error is reported.

    :raises InvalidDocument: naming ``source``, for text that is too large,
        not UTF-8, neither valid JSON nor valid YAML, has a key twice in
        one mapping or an integer longer than ``schema.MAX_INT_DIGITS``.
    """
    text = _decoded(text, source, max_bytes)
    json_error = None
    if text.lstrip().startswith(('{', '[')):
        try:
            return _json(text, source)
        except InvalidDocument:
            raise
        except ValueError as e:
            json_error = e
    try:
        return yaml.load(text, Loader=_StrictLoader)  # nosec: safe loader
    except yaml.YAMLError as e:
        if json_error is not None:
            raise InvalidDocument(source, 'is not valid JSON: %s' % json_error)
        raise InvalidDocument(source,
                              'is not valid YAML: %s' % _yaml_error(e, text))
    except RecursionError:
        raise InvalidDocument(source, 'is nested too deeply')
    except ValueError as e:
        # A scalar SafeLoader cannot construct (a date such as 2020-02-30).
        raise InvalidDocument(source, 'is not valid YAML: %s'
                              % ' '.join(str(e).split()))


def _yaml_error(error, text):
    """One line: where the YAML error is, and what it is."""
    mark = getattr(error, 'problem_mark', None)
    if isinstance(error, yaml.reader.ReaderError):
        # A character YAML does not allow; it has a position, not a mark.
        before = text[:error.position]
        where = 'line %d column %d: ' % (
            before.count('\n') + 1, error.position - before.rfind('\n'))
        character = error.character
        problem = ('character #x%04x is not allowed in YAML' % character
                   if isinstance(character, int) else error.reason)
    else:
        problem = getattr(error, 'problem', None) or str(error)
        where = ('line %d column %d: ' % (mark.line + 1, mark.column + 1)
                 if mark is not None else '')
    return where + ' '.join(str(problem).split())


def loads(text, source='<input>', max_bytes=None):
    """Parse and validate a capability document from JSON or YAML text."""
    return parse_document(parse_text(text, source, max_bytes), source)


def json_path(base, error_path):
    """``compatible[1].version`` from a base path and a jsonschema path."""
    out = base
    for part in error_path:
        if isinstance(part, int):
            out += '[%d]' % part
        else:
            out += ('.%s' % part) if out else str(part)
    return out or '(top level)'


def _is_integer(checker, instance):
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema 2020-12 calls 2.0 an integer; the rules and the traits need
# Python ints (range(), "%X"), so an integer is exactly an int, never a
# float or a bool.
Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        'integer', _is_integer))


def validate(data, json_schema, source, base=''):
    """Raise InvalidDocument for the best-matching schema error, if any."""
    validator = Validator(json_schema)
    errors = sorted(validator.iter_errors(data),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        message = error.message
        # A regular expression is no help to an operator: say it in words.
        if (error.validator in ('pattern', 'oneOf') and
                'description' in error.schema):
            message = '%r %s' % (error.instance, error.schema['description'])
        elif (error.validator in ('minItems', 'minLength') and
                error.validator_value == 1):
            # jsonschema words this so from 4.21 on; the older ones of the
            # releases this project supports say "is too short".
            message = '%r should be non-empty' % (error.instance,)
        raise InvalidDocument(source, message,
                              json_path(base, error.absolute_path))


def check_plain(data, source, base='', depth=0):
    """Refuse what no schema should have to see.

    Mapping keys that are not strings (YAML allows them), strings that are
    not well-formed Unicode (a lone surrogate, which JSON's ``\\ud800``
    escape can produce and which cannot be encoded or hashed), integers
    too long to be a value of a document, and nesting deeper than
    ``schema.MAX_DEPTH``.
    """
    where = base or '(top level)'
    if depth > schema.MAX_DEPTH:
        raise InvalidDocument(source, 'is nested deeper than %d levels'
                              % schema.MAX_DEPTH, where)
    if isinstance(data, str):
        _check_text(data, source, where)
    elif isinstance(data, int) and not isinstance(data, bool):
        if data.bit_length() > schema.MAX_INT_DIGITS * 4:
            raise InvalidDocument(
                source, 'an integer of about %d digits is longer than the '
                'limit of %d digits' % (data.bit_length() * 0.30103 + 1,
                                        schema.MAX_INT_DIGITS), where)
    elif isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                raise InvalidDocument(
                    source, 'key %r is not a string' % (key,), where)
            _check_text(key, source, where)
            check_plain(value, source, json_path(base, [key]), depth + 1)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            check_plain(value, source, json_path(base, [i]), depth + 1)


def _check_text(text, source, where):
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        raise InvalidDocument(source, '%r is not well-formed Unicode (it '
                              'has a lone surrogate)' % (text,), where)


def hex_int(text):
    """The integer of hex text such as ``"0x10de"`` (``0x`` optional).

    How documents write integers in hex, and how sysfs writes PCI IDs.

    :raises ValueError: when ``text`` is not hex.
    """
    return int(text, 16)


def int_value(value):
    """The int of a schema-checked integer: an int, hex or decimal text.

    Documents may write an integer as a JSON integer, a ``"0x"`` hex
    string or (where the schema allows it) a decimal string.
    """
    if isinstance(value, str):
        return hex_int(value) if value[:2].lower() == '0x' else int(value)
    return value


def _bus_value(value):
    # "0x.." strings are integers written in hex; every other string is
    # kept as it is, so "3" and 3 stay different identities.
    # Hex strings too large for the integer form stay strings.
    if isinstance(value, str) and value[:2].lower() == '0x':
        try:
            number = hex_int(value)
        except ValueError:
            return value
        if number <= schema.MAX_BUS_INT:
            return number
    return value


def parse_record(data, source='<input>', path='', accepting=False):
    """Validate one record and return its canonical :class:`Record`."""
    if not isinstance(data, dict):
        raise InvalidDocument(source, 'a record must be a mapping, not %s'
                              % type(data).__name__, path or '(top level)')
    check_plain(data, source, path)
    validate(data, schema.RECORD_HEAD, source, path)
    device_api = data['device_api']
    if device_api in schema.RECORD_KEYS:
        raise InvalidDocument(
            source, '%r is the name of another key of the record, so it '
            'cannot name the bus section' % device_api,
            json_path(path, ['device_api']))
    validate(data, schema.record_schema(device_api, accepting), source, path)

    version = data['version']
    major = int_value(version['major'])
    minor = int_value(version['minor'])
    minor_min = int_value(version.get('minor_min', 0))
    for name, value in (('major', major), ('minor', minor),
                        ('minor_min', minor_min)):
        if value > schema.MAX_INT:
            raise InvalidDocument(source, '%d is larger than %d'
                                  % (value, schema.MAX_INT),
                                  json_path(path, ['version', name]))
    if minor_min > minor:
        raise InvalidDocument(
            source, 'minor_min %d is greater than minor %d: the accepted '
            'range is empty' % (minor_min, minor),
            json_path(path, ['version']))

    bus = tuple(sorted((key, _bus_value(value))
                       for key, value in data.get(device_api, {}).items()))
    attrs = tuple(
        (key, str(value))
        for item in data.get('mdev_attrs', ()) for key, value in item.items())
    return Record(device_api=device_api, vendor=data['vendor'], major=major,
                  minor=minor, bus=bus, minor_min=minor_min,
                  mdev_type=data.get('mdev_type'), mdev_attrs=attrs)


def parse_document(data, source='<input>'):
    """Validate plain data as a capability document.

    A bare record is short for "emits this, and accepts this identity at
    its own minor or any lower one (down to ``version.minor_min``, default
    0)".  The long form spells out ``self`` and ``compatible``; without
    ``compatible`` it means the same as the bare record.
    """
    if not isinstance(data, dict):
        raise InvalidDocument(source, 'a capability document must be a '
                              'mapping, not %s' % type(data).__name__)
    if 'self' not in data:
        accepting = parse_record(data, source, accepting=True)
        emits = dataclasses.replace(accepting, minor_min=0)
        return Document(emits=emits, accepts=(accepting,), source=source)

    check_plain(data, source, '')
    validate(data, schema.SELF_DOCUMENT, source, '')
    emits = parse_record(data['self'], source, 'self')
    if 'compatible' not in data:
        return Document(emits=emits, accepts=(emits,), source=source)
    accepts = tuple(
        parse_record(item, source, 'compatible[%d]' % i, accepting=True)
        for i, item in enumerate(data['compatible']))
    return Document(emits=emits, accepts=accepts, source=source)


def mdev_attrs_text(attrs):
    """``aggregation=3, foo=bar``: mdev attributes as messages show them.

    ``attrs`` are ``(key, value)`` pairs, as in :attr:`Record.mdev_attrs`.
    """
    return ', '.join('%s=%s' % (key, value) for key, value in attrs)


def mdev_attrs_data(attrs):
    """``[{key: value}, ...]``: the plain-data form of mdev attributes.

    The form documents and mdevctl's device configuration write.
    """
    return [{key: value} for key, value in attrs]


def format_bus_value(device_api, value):
    """A bus attribute's value as documents write it (PCI ids in hex)."""
    if device_api == 'vfio-pci' and isinstance(value, int):
        return '0x%04x' % value
    return value


def record_to_dict(record, accepting=False):
    """The canonical plain-data form of a record (round-trips)."""
    out = {
        'device_api': record.device_api,
        'vendor': record.vendor,
        'version': {'major': record.major, 'minor': record.minor},
    }
    if accepting and record.minor_min:
        out['version']['minor_min'] = record.minor_min
    if record.bus or record.device_api == 'vfio-pci':
        out[record.device_api] = {
            key: format_bus_value(record.device_api, value)
            for key, value in record.bus}
    if record.mdev_type is not None:
        out['mdev_type'] = record.mdev_type
    if record.mdev_attrs:
        out['mdev_attrs'] = mdev_attrs_data(record.mdev_attrs)
    return out


def document_to_dict(document):
    """The canonical long form of a document (round-trips)."""
    return {
        'self': record_to_dict(document.emits),
        'compatible': [record_to_dict(r, accepting=True)
                       for r in document.accepts],
    }


def describe_stream(record):
    """A short human name of the stream a record emits, for messages."""
    ids = ''
    if record.device_api == 'vfio-pci':
        bus = dict(record.bus)
        ids = ' %04x:%04x' % (bus.get('vendor', 0), bus.get('device', 0))
        if 'subsystem_vendor' in bus:
            ids += ' (%04x:%04x)' % (bus.get('subsystem_vendor', 0),
                                     bus.get('subsystem_device', 0))
    return '%s %s%s v%d.%d' % (record.device_api, record.vendor, ids,
                               record.major, record.minor)
