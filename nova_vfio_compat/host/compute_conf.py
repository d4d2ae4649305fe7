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

"""What this host's Nova is configured with, read from its own files.

The reporter and the ``devices``, ``nova-config`` and ``provider-config``
commands are given nova-compute's configuration files (``[nova]
config_files`` and ``config_dirs``, or ``--nova-config``).  From them:

* ``[devices] enabled_mdev_types`` and each ``[mdev_<type>]
  device_addresses``, as a :class:`device_config.MdevConfig` (the rules
  that turn them into a type per GPU are in :mod:`device_config`);
* the compute node's UUID, from the ``compute_id`` file Nova writes in
  ``[DEFAULT] state_path`` and reads back from there and from the
  directories of its configuration files (``nova/virt/node.py``,
  ``read_local_node_uuid``).  ``state_path`` is interpolated as Nova's
  own option is: its default is ``$pybasedir``, Nova's install directory
  (``nova/conf/paths.py``), found here without importing Nova;
* which addresses of ``device_addresses`` name a virtual mdev parent
  (``/sys/devices/virtual/...``, e.g. ``mtty_mtty``), which Nova accepts
  beside PCI addresses (``_validate_device_address``).

The options are registered here as Nova registers them (names, deprecated
names, list syntax) rather than by importing Nova, which is not installed
beside every reporter.
"""

import dataclasses
import importlib.util
import os
import uuid

from oslo_config import cfg

from nova_vfio_compat.host import files
from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import records

# nova/virt/node.py COMPUTE_ID_FILE; Nova reads 40 characters of it.
COMPUTE_ID_FILE = 'compute_id'
_COMPUTE_ID_READ = 40
_COMPUTE_ID_MAX_BYTES = 4096
# What $pybasedir is where Nova is not installed beside the reporter: a
# state_path built on it is then unknown.
_NO_PYBASEDIR = '\x00unknown pybasedir\x00'


def nova_pybasedir():
    """Nova's ``[DEFAULT] pybasedir`` default, or None without Nova.

    ``nova/conf/paths.py``: the directory the ``nova`` package is in.
    Found without importing Nova.
    """
    try:
        spec = importlib.util.find_spec('nova')
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))


@dataclasses.dataclass(frozen=True)
class NovaFiles:
    """What was read.

    ``mdev_config`` is None when no file was given (the fallback rule
    applies); ``error`` says why the given files cannot be used;
    ``state_path`` is Nova's ``[DEFAULT] state_path`` (None when it cannot
    be known: built on ``$pybasedir`` where Nova is not installed);
    ``modified`` is the latest modification time of the files read
    (seconds since the epoch).
    """

    files: tuple = ()
    config_files: tuple = ()
    mdev_config: device_config.MdevConfig = None
    error: str = None
    state_path: str = None
    modified: float = None

    @property
    def given(self):
        return bool(self.files)

    def describe(self):
        return ', '.join(self.files) or 'no Nova configuration file'


class Unavailable(ValueError):
    """A file or directory of Nova's configuration cannot be read."""


def _files(config_files, config_dirs):
    """The files oslo.config reads, in its order.

    :raises Unavailable: for a directory that cannot be listed.  A missing
        ``--config-dir`` is an error for oslo.config too
        (``ConfigDirNotFoundError``): nova-compute does not start.
    """
    out = list(config_files or ())
    for directory in config_dirs or ():
        # oslo.config reads a config dir's files after the config files.
        try:
            out.extend(files.config_dir_files(directory))
        except OSError as e:
            raise Unavailable('%s: Nova configuration directory cannot be '
                              'read: %s' % (directory, e.strerror or e))
    return out


def virtual_parents(addresses, sysfs_root='/sys'):
    """The addresses that name a virtual mdev parent present here.

    Nova's test: not a PCI address, and ``/sys/devices/virtual/<address
    with '_' as '/'>`` exists.
    """
    return frozenset(
        a for a in addresses if not device_config.is_pci_address(a) and
        os.path.exists(os.path.join(sysfs_root, 'devices', 'virtual',
                                    a.replace('_', '/'))))


def _modified(files):
    try:
        return max(os.stat(f).st_mtime for f in files)
    except OSError:
        return None


def load(config_files=(), config_dirs=(), sysfs_root='/sys'):
    """Read Nova's device configuration and state path.

    Never raises: a missing or unparseable file ends up in ``error``,
    naming it.
    """
    try:
        paths = _files(config_files, config_dirs)
    except Unavailable as e:
        return NovaFiles(files=tuple(config_files or ()) +
                         tuple(config_dirs or ()), error=str(e))
    if not paths:
        return NovaFiles()
    source = ', '.join(paths)
    for path in paths:
        try:
            # oslo.config opens them itself: no FIFO may block it.
            files.check_regular(path)
        except files.Unreadable as e:
            return NovaFiles(files=tuple(paths),
                             error='%s (a Nova configuration file)' % e)
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.ListOpt('enabled_mdev_types', default=[],
                                  deprecated_name='enabled_vgpu_types'),
                      group='devices')
    # As Nova registers them (nova/conf/paths.py).
    conf.register_opt(cfg.StrOpt('pybasedir',
                                 default=nova_pybasedir() or _NO_PYBASEDIR))
    conf.register_opt(cfg.StrOpt('state_path', default='$pybasedir'))
    conf.register_opt(cfg.MultiStrOpt(
        'device_spec', default=[], deprecated_opts=[
            cfg.DeprecatedOpt('passthrough_whitelist', group='pci'),
            cfg.DeprecatedOpt('pci_passthrough_whitelist',
                              group='DEFAULT')]), group='pci')
    try:
        conf([], project='nova', default_config_files=paths,
             default_config_dirs=[], use_env=False)
        enabled = tuple(conf.devices.enabled_mdev_types)
        addresses, classes = {}, {}
        for mdev_type in enabled:
            group = 'mdev_%s' % mdev_type
            conf.register_opt(cfg.ListOpt(
                'device_addresses', default=[],
                deprecated_group='vgpu_%s' % mdev_type), group=group)
            conf.register_opt(cfg.StrOpt('mdev_class'), group=group)
            addresses[mdev_type] = tuple(conf[group].device_addresses)
            if conf[group].mdev_class:
                classes[mdev_type] = conf[group].mdev_class
        specs, spec_errors = device_config.parse_device_specs(
            conf.pci.device_spec, source)
        if spec_errors:
            raise ValueError('; '.join(spec_errors))
        state_path = conf.state_path
        if state_path is not None and _NO_PYBASEDIR in state_path:
            # Nova would use its own install directory, unknown here.
            state_path = None
    except (cfg.Error, ValueError) as e:
        return NovaFiles(files=tuple(paths),
                         config_files=tuple(config_files or ()),
                         error='%s: cannot be read as Nova configuration: %s'
                         % (source, e))
    return NovaFiles(
        files=tuple(paths), config_files=tuple(config_files or ()),
        mdev_config=device_config.MdevConfig(
            enabled_types=enabled, device_addresses=addresses,
            source=source, virtual_parents=virtual_parents(
                [a for listed in addresses.values() for a in listed],
                sysfs_root), mdev_classes=classes, device_specs=specs),
        state_path=state_path, modified=_modified(paths))


class InvalidNodeIdentity(ValueError):
    """A ``compute_id`` file Nova itself would refuse (message names it)."""


def read_node_uuid(nova_files):
    """The compute node UUID Nova stored, or None when there is none.

    Nova looks in the directories of its configuration files, then in
    ``state_path``; every file found must hold the same UUID.

    :raises InvalidNodeIdentity: for a file that is not a UUID, or two that
        disagree (nova-compute does not start either).
    """
    # Nova's CONF.config_file: the files given, not a config dir's.
    locations = [os.path.dirname(os.path.abspath(f))
                 for f in nova_files.config_files]
    if nova_files.state_path:
        locations.append(nova_files.state_path)
    found = []
    for location in locations:
        path = os.path.join(location, COMPUTE_ID_FILE)
        if not os.path.exists(path):
            # Nova skips it too (FileNotFoundError), a dangling link too.
            continue
        try:
            # Nova reads 40 characters; a file that is not a UUID is
            # refused whatever its size, so a small bound is enough.
            content = files.read_text(path, _COMPUTE_ID_MAX_BYTES)
        except records.InvalidDocument as e:
            raise InvalidNodeIdentity(str(e))
        content = content[:_COMPUTE_ID_READ]
        try:
            node_uuid = str(uuid.UUID(content.strip()))
        except ValueError:
            raise InvalidNodeIdentity('%s: not a UUID (Nova cannot parse '
                                      'it either)' % path)
        if found and found[0][0] != node_uuid:
            raise InvalidNodeIdentity('%s: UUID %s does not match %s in %s'
                                      % (path, node_uuid, found[0][0],
                                         found[0][1]))
        found.append((node_uuid, path))
    return found[0] if found else None
