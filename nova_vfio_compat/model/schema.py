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

"""JSON schemas of capability documents (data only).

A record's bus section is keyed by the value of its ``device_api``, which a
static schema cannot say, so :func:`record_schema` builds the record schema
for one device API; :mod:`nova_vfio_compat.model.records` validates in two
steps.
"""

MAX_INT = 2 ** 31 - 1
MAX_BUS_INT = 2 ** 63 - 1
MAX_ACCEPTED_RECORDS = 64
MAX_MDEV_ATTRS = 32
# Longer integers are refused while the text is parsed, before Python's own
# limit on int() digits (4300) could be reached: no value of a document is
# anywhere near this long.
MAX_INT_DIGITS = 32
# Deeper nesting is refused before validation; a document needs 6 levels.
MAX_DEPTH = 16

# Patterns end with \Z, never $: "$" also matches before a trailing newline.
# Text of names: no C0 or C1 control characters (lone surrogates are
# refused for every string by records.py before validation).
TEXT_PATTERN = '^[^\\x00-\\x1f\\x7f-\\x9f]*\\Z'

# The keys of a record other than its bus section: a device API may not be
# called like one of them, since the bus section is keyed by its value.
RECORD_KEYS = ('device_api', 'vendor', 'version', 'mdev_type', 'mdev_attrs')

# Integers may be written as JSON integers or as "0x..."/decimal strings;
# records.py turns the strings into integers and range-checks them.
INTEGER = {
    'description': 'must be an integer from 0 to %d (not a number with a '
                   'fraction or a boolean), or a decimal or "0x" hex '
                   'string' % MAX_INT,
    'oneOf': [
        {'type': 'integer', 'minimum': 0, 'maximum': MAX_INT},
        {'type': 'string',
         'pattern': '^(0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})\\Z',
         'description': 'must be an integer, or a decimal or "0x" hex string'},
    ],
}

PCI_ID = {
    'description': 'must be a 16-bit integer (not a number with a fraction '
                   'or a boolean) or a "0x" hex string',
    'oneOf': [
        {'type': 'integer', 'minimum': 0, 'maximum': 0xffff},
        {'type': 'string', 'pattern': '^0[xX][0-9a-fA-F]{1,4}\\Z',
         'description': 'must be a 16-bit integer or a "0x" hex string'},
    ],
}

# A name of the kind drivers and device APIs have; no control characters.
NAME = {
    'type': 'string', 'minLength': 1, 'maxLength': 128,
    'pattern': TEXT_PATTERN,
    'description': 'must not contain control characters',
}

DEVICE_API = {
    'type': 'string', 'minLength': 1, 'maxLength': 64,
    'pattern': '^[a-z0-9][a-z0-9_.-]*\\Z',
    'description': 'must be lower case letters, digits, "_", "." and "-"',
}

# Only what is needed to find the device API, so that the full record schema
# can be built for it.
RECORD_HEAD = {
    'type': 'object',
    'required': ['device_api', 'vendor', 'version'],
    'properties': {'device_api': DEVICE_API},
}

VERSION = {
    'type': 'object',
    'required': ['major', 'minor'],
    'properties': {
        'major': INTEGER,
        'minor': INTEGER,
        'minor_min': INTEGER,
    },
    'additionalProperties': False,
}

BUS_VALUE = {
    'description': 'must be an integer from 0 to 2**63-1 or a string of at '
                   'most 256 characters without control characters',
    'oneOf': [
        {'type': 'integer', 'minimum': 0, 'maximum': MAX_BUS_INT},
        {'type': 'string', 'maxLength': 256,
         'pattern': TEXT_PATTERN},
    ],
}

BUS_KEY_PATTERN = '^[a-z0-9_]{1,64}\\Z'

# Guest-visible identity of a PCI function. Further keys are allowed (and
# are part of the identity), e.g. the keys a derived record adds.
PCI_BUS = {
    'type': 'object',
    'required': ['vendor', 'device', 'subsystem_vendor', 'subsystem_device'],
    'properties': {
        'vendor': PCI_ID,
        'device': PCI_ID,
        'subsystem_vendor': PCI_ID,
        'subsystem_device': PCI_ID,
    },
    'propertyNames': {'pattern': BUS_KEY_PATTERN},
    'additionalProperties': BUS_VALUE,
    'maxProperties': 16,
}

GENERIC_BUS = {
    'type': 'object',
    'propertyNames': {'pattern': BUS_KEY_PATTERN},
    'additionalProperties': BUS_VALUE,
    'maxProperties': 16,
}

MDEV_TYPE = {
    'type': 'string', 'minLength': 1, 'maxLength': 128,
    'pattern': '^[A-Za-z0-9][A-Za-z0-9_.:+-]*\\Z',
    'description': 'must be letters, digits, "_", ".", ":", "+" and "-"',
}

MDEV_ATTRS = {
    'type': 'array',
    'maxItems': MAX_MDEV_ATTRS,
    'items': {
        'type': 'object',
        'minProperties': 1,
        'maxProperties': 1,
        'propertyNames': {
            'pattern': '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\\Z'},
        'additionalProperties': {
            'description': 'must be an integer from 0 to %d or a string of '
                           'at most 256 characters without control '
                           'characters' % MAX_INT,
            'oneOf': [
                {'type': 'string', 'maxLength': 256,
                 'pattern': TEXT_PATTERN},
                {'type': 'integer', 'minimum': 0, 'maximum': MAX_INT},
            ],
        },
    },
}


def record_schema(device_api, accepting):
    """The full schema of one record whose device API is ``device_api``.

    An emitting record (``self:``) may not bound its range with
    ``version.minor_min``: that only means something on accepting records.
    """
    bus = PCI_BUS if device_api == 'vfio-pci' else GENERIC_BUS
    version = VERSION
    if not accepting:
        version = dict(VERSION)
        version['properties'] = {'major': INTEGER, 'minor': INTEGER}
    schema = {
        'type': 'object',
        'required': ['device_api', 'vendor', 'version'],
        'properties': {
            'device_api': DEVICE_API,
            'vendor': NAME,
            'version': version,
            device_api: bus,
            'mdev_type': MDEV_TYPE,
            'mdev_attrs': MDEV_ATTRS,
        },
        'dependentRequired': {'mdev_attrs': ['mdev_type']},
        'additionalProperties': False,
    }
    if device_api == 'vfio-pci':
        schema['required'] = schema['required'] + ['vfio-pci']
    return schema


# The long form of a document.  A bare record is the short form; records
# inside are validated with record_schema() once their device API is known.
SELF_DOCUMENT = {
    'type': 'object',
    'required': ['self'],
    'properties': {
        'self': {'type': 'object'},
        'compatible': {
            'type': 'array', 'minItems': 1,
            'maxItems': MAX_ACCEPTED_RECORDS,
            'items': {'type': 'object'},
        },
    },
    'additionalProperties': False,
}
