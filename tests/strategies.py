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

"""Hypothesis strategies for capability documents, as plain data.

The domains are deliberately small so that generated pairs often share a
driver, IDs or a major version (and so are often compatible), and the names
are awkward: spellings that fold to the same trait text
(``mlx5-vfio-pci`` / ``mlx5_vfio_pci`` / ``MLX5.VFIO.PCI``, and names that
differ only in letter case, which are different drivers), non-ASCII, very
long, and integers that only differ as strings (``3`` vs ``"3"``).
"""

import json

from hypothesis import strategies as st

AWKWARD_VENDORS = [
    'i915', 'nvidia', 'NVIDIA', 'Nvidia', 'mlx5_vfio_pci', 'mlx5-vfio-pci',
    'MLX5.VFIO.PCI',
    'mlx5 vfio pci', 'qat_vfio_pci', 'ünïcødé', '_', '-', 'x' * 128,
    'x' * 127 + 'y',
]

vendors = st.one_of(
    st.sampled_from(AWKWARD_VENDORS),
    st.text(st.characters(blacklist_categories=('Cc', 'Cs')),
            min_size=1, max_size=40))

pci_ids = st.sampled_from([0x8086, 0x10de, 0x15b3, 0x0003, 0x0000, 0xffff])


def _hexed(value):
    # The same integer, spelled as JSON integer or "0x" string in any case.
    return st.sampled_from([value, '0x%x' % value, '0x%04X' % value])


pci_bus = st.fixed_dictionaries({
    'vendor': pci_ids.flatmap(_hexed),
    'device': pci_ids.flatmap(_hexed),
    'subsystem_vendor': pci_ids.flatmap(_hexed),
    'subsystem_device': pci_ids.flatmap(_hexed),
}, optional={
    'driver_version': st.sampled_from(['28.41.1000', '28.43', '3']),
})

generic_bus = st.dictionaries(
    st.sampled_from(['card_type', 'domain', 'chpid', 'a_b', 'ab']),
    st.one_of(st.integers(0, 3), st.sampled_from(['0', '3', '0x3', 'a', ''])),
    max_size=3)

mdev_types = st.sampled_from(
    ['foo-1', 'foo-3', 'nvidia-222', 'i915-GVTg_V5_8'])
mdev_attrs = st.lists(
    st.dictionaries(st.sampled_from(['aggregation', 'x']),
                    st.one_of(st.integers(0, 4), st.sampled_from(['1', '3'])),
                    min_size=1, max_size=1),
    max_size=2)


@st.composite
def records(draw, accepting=True, device_api=None, vendor=None, major=None):
    """A record as plain data (a dict a document file could hold)."""
    device_api = device_api or draw(
        st.sampled_from(['vfio-pci', 'vfio-pci', 'vfio-ap', 'vfio-ccw']))
    minor = draw(st.integers(0, 6))
    version = {'major': major if major is not None else draw(
        st.integers(0, 3)), 'minor': minor}
    if accepting and draw(st.booleans()):
        version['minor_min'] = draw(st.integers(0, minor))
    data = {
        'device_api': device_api,
        'vendor': vendor or draw(vendors),
        'version': version,
    }
    if device_api == 'vfio-pci':
        data['vfio-pci'] = draw(pci_bus)
    else:
        bus = draw(generic_bus)
        if bus or draw(st.booleans()):
            data[device_api] = bus
    if draw(st.booleans()):
        data['mdev_type'] = draw(mdev_types)
        if draw(st.booleans()):
            data['mdev_attrs'] = draw(mdev_attrs)
    return data


@st.composite
def documents(draw, emitting=None):
    """A capability document as plain data: bare, or self + compatible."""
    form = draw(st.sampled_from(['bare', 'self', 'compatible']))
    if form == 'bare':
        return emitting or draw(records(accepting=True))
    own = emitting or draw(records(accepting=False))
    own = dict(own, version={'major': own['version']['major'],
                             'minor': own['version']['minor']})
    if form == 'self':
        return {'self': own}
    accepted = draw(st.lists(records(accepting=True), min_size=0, max_size=3))
    # Often accept a neighbour of the own identity: same driver and IDs,
    # another major or minor range.
    if draw(st.booleans()):
        minor = draw(st.integers(0, 6))
        version = {'major': own['version']['major'], 'minor': minor}
        # And a lower bound, which a source of the same identity can be
        # under (the rules refuse it, and so must the traits).
        if draw(st.booleans()):
            version['minor_min'] = draw(st.integers(0, minor))
        accepted.append(dict(own, version=version))
    if not accepted or draw(st.booleans()):
        accepted.insert(0, own)
    return {'self': own, 'compatible': accepted}


@st.composite
def related_pairs(draw):
    """Two documents that often differ in one way only."""
    source = draw(documents())
    own = source.get('self', source)
    tweak = draw(st.sampled_from(
        ['same', 'minor', 'major', 'vendor', 'vendor_case', 'bus',
         'independent']))
    other = dict(own)
    if tweak == 'minor':
        other['version'] = dict(own['version'], minor=draw(st.integers(0, 6)))
        other['version'].pop('minor_min', None)
    elif tweak == 'major':
        other['version'] = {'major': draw(st.integers(0, 3)),
                            'minor': own['version']['minor']}
    elif tweak == 'vendor':
        other['vendor'] = draw(st.sampled_from(AWKWARD_VENDORS))
    elif tweak == 'vendor_case':
        # The same letters in another case: another driver.
        swapped = own['vendor'].swapcase()
        other['vendor'] = (swapped if swapped != own['vendor']
                           else own['vendor'] + 'X')
    elif tweak == 'bus' and own['device_api'] in own:
        bus = dict(own[own['device_api']])
        key = draw(st.sampled_from(sorted(bus) or ['card_type']))
        bus[key] = draw(st.one_of(st.integers(0, 3), st.just('3')))
        if own['device_api'] == 'vfio-pci':
            bus[key] = draw(pci_ids)
        other[own['device_api']] = bus
    if tweak == 'independent':
        dest = draw(documents())
    else:
        dest = draw(documents(emitting=other))
    return source, dest


# Hostile values: the ones that once got through validation, and anything.
HOSTILE = [2.0, 32902.0, 0.0, 1.5, True, False, None, 10 ** 40, -1,
           2 ** 31, 2 ** 63, '0x8086', '0X0', '0x', '00', '1' * 11,
           'x\ud800', '\udfff', 'a\n', '\x85', '', ' ', 'vfio-pci',
           'version', 'vendor', 'ü' * 129]


def hostile_values():
    # Half of the time one of the values that once got through.
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.floats(allow_nan=True) | st.integers(-2 ** 70, 2 ** 70) |
        st.text(max_size=8) |
        st.lists(st.integers(0, 3), max_size=2) |
        st.dictionaries(st.sampled_from(['a', 'major', 'minor', '']),
                        st.integers(0, 3), max_size=2))


def _paths(data, prefix=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


@st.composite
def hostile_documents(draw):
    """Valid documents with one to three values, anywhere, made hostile."""
    data = json.loads(json.dumps(draw(documents())))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        target = data
        for part in path[:-1]:
            target = target[part]
        if draw(st.booleans()) or not isinstance(target, dict):
            target[path[-1]] = draw(hostile_values())
        else:
            target[draw(st.sampled_from(
                ['device_api', 'vendor', 'version', 'mdev_type', 'x',
                 'minor_min', 'vfio-pci', 'vfio-ap']))] = draw(
                hostile_values())
    return data
