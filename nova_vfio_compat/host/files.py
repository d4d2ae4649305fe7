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

"""Reading files: every file the project reads is opened here.

The one place the pure core meets the file system: everything after the
read is pure (:func:`nova_vfio_compat.model.records.loads` for documents).
A file is opened without blocking and checked to be a regular file before
anything is read from it, so that a FIFO, a device node or a directory
in its place can neither hang the caller nor be read.

Two kinds of failure are told apart.  :exc:`Unreadable`: what the file
says is not known (missing, not a regular file, a permission or I/O
error, not UTF-8 text).  Any other :exc:`records.InvalidDocument`: the
file was read and what it says cannot be used.  The reporter keeps what
it published while one of its inputs is unreadable (see
:mod:`nova_vfio_compat.host.published_devices`).
"""

import errno
import os
import stat

from nova_vfio_compat.conf import discovery as discovery_conf
from nova_vfio_compat.model import records

DEFAULT_MAX_BYTES = discovery_conf.DEFAULTS['max_document_size']

_KINDS = (
    (stat.S_ISDIR, 'a directory'),
    (stat.S_ISFIFO, 'a FIFO (named pipe)'),
    (stat.S_ISCHR, 'a character device'),
    (stat.S_ISBLK, 'a block device'),
    (stat.S_ISSOCK, 'a socket'),
)


class Unreadable(records.InvalidDocument):
    """A file that could not be read; the message names it and says why."""


def _kind(mode):
    for test, name in _KINDS:
        if test(mode):
            return name
    return 'not a regular file'


def _open_regular(path):
    """A read-only descriptor of the regular file ``path``.

    :raises Unreadable: naming ``path``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Unreadable(
                str(path), 'cannot be read: a loop of symbolic links')
        raise Unreadable(
            str(path), 'cannot be read: %s' % (e.strerror or e))
    try:
        mode = os.fstat(fd).st_mode
    except OSError as e:
        os.close(fd)
        raise Unreadable(str(path), 'cannot be read: %s' % (e.strerror or e))
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise Unreadable(
            str(path), 'is %s, not a regular file; only regular files '
            'are read' % _kind(mode))
    return fd


def check_regular(path):
    """Check that ``path`` is a regular file that can be opened.

    For files another library reads (oslo.config's configuration files):
    checked here first, so that a FIFO in their place cannot block it.

    :raises Unreadable: naming ``path``.
    """
    os.close(_open_regular(path))


def config_dir_files(directory):
    """The files oslo.config reads from a ``--config-dir``, in its order.

    Its ``*.conf`` files, sorted (oslo.config globs ``*.conf``, which
    matches no name that starts with a dot).

    :raises OSError: when the directory cannot be listed.
    """
    return [os.path.join(directory, name)
            for name in sorted(os.listdir(directory))
            if name.endswith('.conf') and not name.startswith('.')]


def read_bounded(path, max_bytes=DEFAULT_MAX_BYTES):
    """Read at most ``max_bytes`` of the regular file ``path``.

    Only regular files are read (sysfs attributes are regular files).  The
    file is opened without blocking and checked with fstat() before any
    read, so that a FIFO with no writer, a terminal or a device node can
    neither hang the caller nor be read; a symlink loop fails at open().
    A larger file is refused without reading the rest of it.

    :raises Unreadable: naming ``path`` when it cannot be read or is not a
        regular file.
    :raises InvalidDocument: naming ``path`` when it is too large.
    """
    fd = _open_regular(path)
    try:
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise Unreadable(
            str(path), 'cannot be read: %s' % (e.strerror or e))
    finally:
        os.close(fd)
    data = b''.join(chunks)
    if len(data) > max_bytes:
        raise records.InvalidDocument(
            str(path), 'is larger than the limit of %d bytes' % max_bytes)
    return data


def load_document(path, max_bytes=DEFAULT_MAX_BYTES):
    """Read, parse and validate the capability document in ``path``."""
    return records.loads(read_bounded(path, max_bytes), str(path))


def read_text(path, max_bytes=DEFAULT_MAX_BYTES):
    """The UTF-8 text of the regular file ``path`` (see :func:`read_bounded`).

    :raises Unreadable: naming ``path``, also for text that is not UTF-8.
    :raises InvalidDocument: naming ``path`` when it is too large.
    """
    data = read_bounded(path, max_bytes)
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        raise Unreadable(str(path), 'is not UTF-8 text (byte 0x%02x at '
                         'offset %d)' % (data[e.start], e.start))
