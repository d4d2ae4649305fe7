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

from oslo_config import cfg

from nova_vfio_compat.conf import groups


discovery_group = cfg.OptGroup(
    'discovery',
    title='Host device discovery',
    help='How this host\'s VFIO devices and their capability documents '
         'are found: udev (sysfs), compatibility attributes, capability '
         'files.')

ALL_OPTS = [
    cfg.StrOpt(
        'compat_attribute',
        default='migration_compat',
        regex=r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z',
        help='Name of the sysfs attribute holding a device\'s capability '
             'document (JSON) on kernels or drivers that provide one. It is '
             'looked for in the PCI device\'s directory and, for mdev '
             'types, in the type\'s directory under mdev_supported_types. '
             'When present and valid it is the most authoritative source '
             'of the document.'),
    cfg.ListOpt(
        'capability_dirs',
        default=['/etc/nova-vfio-compat/capabilities.d'],
        help='Directories of capability files (names ending in .yaml, '
             '.yml or .json). Each file declares which devices it applies '
             'to (driver, driver version range, PCI IDs, mdev type) and '
             'their capability document. When two files claim the same device '
             'the file whose name sorts last wins (a later directory in '
             'this list wins over an earlier one for equal names) and a '
             'warning names both. A directory that does not exist is '
             'skipped.'),
    cfg.ListOpt(
        'migration_enabled',
        default=[],
        help='PCI addresses of the devices (a VF, or a PF for all its VFs; '
             '* for every device) whose VFIO migration the operator has '
             'enabled where the kernel gates it per device and does not '
             'show it in sysfs: mlx5_vfio_pci migrates a VF only once its '
             'devlink port function is "migratable" (devlink port function '
             'set pci/<PF>/<port> migratable enable). Such a device is '
             'live-migratable only when listed here.'),
    cfg.IntOpt(
        'max_document_size',
        default=64 * 1024,
        min=256,
        max=16 * 1024 * 1024,
        help='Largest compatibility attribute or capability file, in '
             'bytes, that is read. A larger one is reported as an error '
             'naming it and skipped; the device falls back to its next '
             'source.'),
]


DEFAULTS = groups.defaults(ALL_OPTS)


def register_opts(conf):
    groups.register(conf, discovery_group, ALL_OPTS)


def list_opts():
    return {discovery_group: ALL_OPTS}
