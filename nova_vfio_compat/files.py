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

"""Reading capability documents from files, with a size limit.

The one place the pure core meets the file system: everything after the
read is :func:`nova_vfio_compat.records.loads`.
"""

from nova_vfio_compat import records

DEFAULT_MAX_BYTES = 64 * 1024


def read_bounded(path, max_bytes=DEFAULT_MAX_BYTES):
    """Read at most ``max_bytes`` of ``path``.

    A larger file is refused without reading the rest of it (sysfs files
    and pipes included).

    :raises InvalidDocument: naming ``path`` when it cannot be read or is
        too large.
    """
    try:
        with open(path, 'rb') as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise records.InvalidDocument(
            str(path), 'cannot be read: %s' % (e.strerror or e))
    if len(data) > max_bytes:
        raise records.InvalidDocument(
            str(path), 'is larger than the limit of %d bytes' % max_bytes)
    return data


def load_document(path, max_bytes=DEFAULT_MAX_BYTES):
    """Read, parse and validate the capability document in ``path``."""
    return records.loads(read_bounded(path, max_bytes), str(path))
