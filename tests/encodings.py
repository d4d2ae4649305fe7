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

"""Trait sets of both encodings, for the tests of mixed-encoding fleets."""

from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits


def v1_traits(document):
    """What a reporter of encoding 1 published for ``document``."""
    names = {traits.emit_trait(document.emits)}
    for record in document.accepts:
        names.update(traits.v1_accept_traits(record))
    return frozenset(names)


def range_document(major, minor, minor_min=None):
    """A bare NVIDIA record of ``major.minor``.

    It emits ``major.minor`` and accepts ``minor_min`` (0 when None) up to
    ``minor``.
    """
    version = {'major': major, 'minor': minor}
    if minor_min is not None:
        version['minor_min'] = minor_min
    return records.parse_document({
        'device_api': 'vfio-pci', 'vendor': 'nvidia', 'version': version,
        'vfio-pci': {'vendor': 0x10de, 'device': 0x1eb8,
                     'subsystem_vendor': 0x10de, 'subsystem_device': 0x12a2}},
        'doc')
