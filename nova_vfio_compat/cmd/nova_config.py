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

"""``nova-config`` and ``provider-config``: this host's traits as Nova
configuration, for what the reporter must not (or should not) write."""

import os
import sys
import tempfile

from nova_vfio_compat.reporter import hostname
from nova_vfio_compat.reporter import nova_config
from nova_vfio_compat.reporter import sources

EXIT_OK = 0
EXIT_INVALID = 2


def _add_device_list(parser):
    parser.add_argument(
        '--device-list', metavar='FILE',
        help='YAML list of the devices (default: [reporter] device_list, '
             'else udev discovery)')


def register(subparsers):
    p = subparsers.add_parser(
        'nova-config',
        help='Print the nova.conf pieces that give Nova this host\'s '
             'device traits and resource classes.',
        description='Print [pci] device_spec entries (with traits and '
                    'resource_class) for the PCI devices, and [devices] '
                    'enabled_mdev_types with an [mdev_<type>] section '
                    '(mdev_class) per mdev type. Exit status 2 if a device '
                    'was left out (named on stderr).')
    _add_device_list(p)
    p.set_defaults(func=do_nova_config)

    p = subparsers.add_parser(
        'provider-config',
        help='Write a Nova provider config file (schema 1.0) with this '
             'host\'s traits.',
        description='For [compute] provider_config_location: the traits '
                    'the reporter would publish, on $COMPUTE_NODE and on '
                    'the mdev parent providers by name, for Nova to set '
                    'itself. Exit status 2 if a device was left out.')
    _add_device_list(p)
    p.add_argument('--output', '-o', metavar='FILE',
                   help='write the file here (atomically) instead of '
                        'printing it')
    p.add_argument('--nodename',
                   help='the compute node\'s name, for the mdev parent '
                        'provider names (default: [reporter] '
                        'root_provider_name, else the hypervisor hostname)')
    p.set_defaults(func=do_provider_config)


def _devices(conf):
    source, _signal = sources.device_source(conf, conf.command.device_list)
    return source()


def _report(errors):
    for error in errors:
        print('nova-vfio-compat: error: %s' % error, file=sys.stderr)
    return EXIT_INVALID if errors else EXIT_OK


def do_nova_config(conf):
    try:
        devices = _devices(conf)
    except sources.NoDeviceSource as e:
        return _report([e])
    text, errors = nova_config.nova_conf(
        devices, conf.traits.max_traits_per_provider)
    sys.stdout.write(text)
    return _report(errors)


def _write_atomically(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.provider-config-')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def do_provider_config(conf):
    try:
        devices = _devices(conf)
    except sources.NoDeviceSource as e:
        return _report([e])
    nodename = conf.command.nodename or hostname.root_provider_name(conf)
    config, errors = nova_config.provider_config(
        devices, nodename, conf.traits.max_traits_per_provider)
    text = nova_config.provider_config_yaml(config)
    if conf.command.output:
        try:
            _write_atomically(conf.command.output, text)
        except OSError as e:
            return _report(['%s: cannot be written: %s'
                            % (conf.command.output, e.strerror or e)])
    else:
        sys.stdout.write(text)
    return _report(errors)
