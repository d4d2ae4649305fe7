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

import json
import os
import re
import sys
import tempfile

from nova_vfio_compat.cmd import common
from nova_vfio_compat.host import files
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import migration_drivers
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.placement import version as placement_version
from nova_vfio_compat.planning_reads import placement_view
from nova_vfio_compat.reporter import client
from nova_vfio_compat.reporter import generated_config
from nova_vfio_compat.reporter import hostname
from nova_vfio_compat.reporter import plan as nvc_plan

EXIT_OK = 0
EXIT_INVALID = common.EXIT_INVALID


def _add_device_list(parser):
    parser.add_argument(
        '--device-list', metavar='FILE',
        help='YAML list of the devices (default: [reporter] device_list, '
             'else udev discovery)')


def _add_nova_config(parser):
    parser.add_argument(
        '--nova-config', metavar='FILE', action='append',
        help='a configuration file of nova-compute, to read [devices] '
             'enabled_mdev_types and [mdev_<type>] device_addresses from '
             '(repeat for several; default: [nova] config_files and '
             'config_dirs)')


def add_virsh_version(parser):
    parser.add_argument(
        '--virsh-version', metavar='FILE',
        help='the output of "virsh version" on this host, for the libvirt '
             'and QEMU versions that Nova\'s PCI live migration needs '
             '(default: ask libvirt, as Nova does, when its Python binding '
             'is installed)')


def _libvirt_versions():
    """``(libvirt, qemu)`` read as Nova does, or ``(None, None)``."""
    try:
        import libvirt
        conn = libvirt.openReadOnly('qemu:///system')
        try:
            return (migration_drivers.from_libvirt_int(conn.getLibVersion()),
                    migration_drivers.from_libvirt_int(conn.getVersion()))
        finally:
            conn.close()
    except Exception:
        # No binding, no daemon, no permission: the versions are unknown.
        return None, None


def version_warning(path):
    """The libvirt/QEMU warning for this host (``--virsh-version``)."""
    if path:
        try:
            text = files.read_text(path, 64 * 1024)
        except records.InvalidDocument as e:
            return str(e)
        return migration_drivers.version_warning(
            *migration_drivers.virsh_versions(text))
    return migration_drivers.version_warning(*_libvirt_versions())


def register(subparsers):
    p = subparsers.add_parser(
        'nova-config',
        help='Print the nova.conf pieces that give Nova this host\'s '
             'device traits and resource classes.',
        description='Print [pci] device_spec entries (with traits, '
                    'resource_class and, for devices that can migrate, '
                    'live_migratable) for the PCI devices, and [devices] '
                    'enabled_mdev_types with an [mdev_<type>] section '
                    '(device_addresses, mdev_class) per mdev type, with '
                    'exactly one type per GPU: the one given with '
                    '--mdev-type, else the one Nova\'s configuration uses '
                    'there, else the type of the GPU\'s existing mdevs, else '
                    'its only type. Exit status 2 if a device or a GPU was '
                    'left out (named on stderr).')
    _add_device_list(p)
    _add_nova_config(p)
    p.add_argument(
        '--mdev-type', metavar='[ADDRESS=]TYPE', action='append',
        help='the mdev type to configure on GPU ADDRESS, or without '
             'ADDRESS on every GPU that offers TYPE (the first such '
             'option that a GPU offers wins); repeat for several')
    p.add_argument(
        '--resource-class', metavar='ADDRESS=CLASS', action='append',
        help='the resource class Nova gives device (or GPU) ADDRESS today, '
             'where Nova\'s configuration files do not say it; it is kept '
             'unless --host-empty is given (repeat for several). Offline '
             'answer: where Placement can be read, its classes and usages '
             'decide')
    p.add_argument(
        '--host-empty', action='store_true',
        help='no server holds a device of this host (drained first, see '
             '"nova-vfio-compat drain"): print the project\'s resource '
             'classes even where they differ from the classes Nova uses '
             'today. Without it those are kept: Nova cannot change the '
             'class of a provider with allocations, and nova-compute then '
             'does not start. Offline answer: where Placement can be read '
             'and says a provider is in use, its class is kept and the '
             'exit status is 2')
    p.add_argument(
        '--nodename',
        help='the compute node\'s name, as Placement names its root '
             'provider (default: [reporter] root_provider_name, else the '
             'hypervisor hostname)')
    p.add_argument(
        '--os-cloud', metavar='CLOUD', default=os.environ.get('OS_CLOUD'),
        help='the clouds.yaml cloud to read Placement with, for the '
             'classes and usages of this host\'s device providers '
             '(default: $OS_CLOUD; without either, [reporter] cloud or the '
             '[placement] options of the configuration files; with none '
             'of them Placement is not read)')
    add_virsh_version(p)
    p.add_argument('--json', action='store_true',
                   help='print {"config": {section: {option: value}}, '
                        '"mdev_types": {GPU address: {"mdev_type", '
                        '"why"}}, "errors": [...]} instead of nova.conf '
                        'text')
    p.set_defaults(func=do_nova_config)

    p = subparsers.add_parser(
        'provider-config',
        help='Write a Nova provider config file (schema 1.0) with this '
             'host\'s traits.',
        description='For [compute] provider_config_location: the traits '
                    'the reporter would publish, on $COMPUTE_NODE and on '
                    'the mdev parent providers by name, for Nova to set '
                    'itself (only what Nova uses: the one mdev type of each '
                    'GPU, accepts Nova can carry out). Exit status 2 if a '
                    'device was left out.')
    _add_device_list(p)
    _add_nova_config(p)
    p.add_argument('--output', '-o', metavar='FILE',
                   help='write the file here (atomically) instead of '
                        'printing it')
    p.add_argument('--nodename',
                   help='the compute node\'s name, for the mdev parent '
                        'provider names (default: [reporter] '
                        'root_provider_name, else the hypervisor hostname)')
    p.set_defaults(func=do_provider_config)


def _devices(conf):
    source, _signal = published_devices.device_source(
        conf, conf.command.device_list)
    return source()


def _report(errors):
    for error in errors:
        common.fail(common.CLI_PROG, error)
    return EXIT_INVALID if errors else EXIT_OK


def _operator_choices(values):
    """``({address or None: type}, errors)`` of the --mdev-type values."""
    choices, errors = {}, []
    for value in values or ():
        address, sep, mdev_type = value.rpartition('=')
        if not mdev_type or (sep and not device_config.is_pci_address(
                address)):
            errors.append('--mdev-type %s: expected TYPE or ADDRESS=TYPE '
                          'with a PCI address (0000:81:00.0)' % value)
            continue
        choices.setdefault(address or None, mdev_type)
    return choices, errors


def _decided(conf, operator=None):
    """``(outcome, errors, Nova's files)`` for the devices."""
    devices = _devices(conf)
    nova = published_devices.nova_view(conf, conf.command.nova_config)
    outcome = published_devices.decide(conf, devices, nova, operator)
    errors = [nova.error] if nova.error else []
    _notes(outcome.messages)
    return outcome, errors, nova


def _notes(messages):
    for message in messages:
        print('nova-vfio-compat: note: %s' % message, file=sys.stderr)


_CLASS_RE = re.compile(r'^(VGPU|PGPU|CUSTOM_[A-Z0-9_]{1,248})$')


def _told_classes(values):
    """``({address: class}, errors)`` of the --resource-class values."""
    told, errors = {}, []
    for value in values or ():
        address, _sep, rc = value.partition('=')
        if not device_config.is_pci_address(address) or not _CLASS_RE.match(
                rc):
            errors.append('--resource-class %s: expected ADDRESS=CLASS with '
                          'a PCI address (0000:81:00.0) and VGPU, PGPU or '
                          'CUSTOM_[A-Z0-9_]+' % value)
            continue
        told[address.lower()] = rc
    return told, errors


def provider_name(nodename, device):
    """Nova's name of the Placement provider of ``device``.

    An mdev parent's (see :func:`plan.mdev_parent_provider_name`); with
    ``[pci] report_in_placement`` a VF's PF provider, else the device's
    own (``<nodename>_<ADDRESS>``, nova/compute/pci_placement_translator).
    """
    if device.kind == nvc_devices.KIND_MDEV_TYPE:
        return nvc_plan.mdev_parent_provider_name(nodename, device.address)
    return '%s_%s' % (nodename, (device.physfn or device.address).upper())


def _placement_classes(chosen, usage, nodename, host_empty):
    """``({address: class to keep}, notes, errors, {address: state})``.

    Placement decides: a device whose provider has allocations keeps the
    class they are in; one whose provider has none (or that has no
    provider) may take the project's class.
    """
    keep, notes, errors, states = {}, [], [], {}
    for published in chosen:
        device = published.device
        ours = published.resource_class
        if device.document is None or ours is None:
            continue
        name = provider_name(nodename, device)
        rp = usage.get(name)
        if rp is None or not rp.used:
            states[device.address] = {
                'provider': name, 'held': False, 'resource_class': ours,
                'used': {}}
            notes.append(
                '%s: free to change: %s in Placement; resource class %s'
                % (device.name, 'no provider %s' % name if rp is None else
                   'provider %s has no allocations' % rp.describe(), ours))
            continue
        today = sorted(rp.used)[0]
        states[device.address] = {
            'provider': name, 'held': True, 'resource_class': today,
            'used': dict(rp.used)}
        if today == ours:
            notes.append('%s: held (provider %s): its resource class %s '
                         'stays' % (device.name, rp.describe(), ours))
            continue
        keep[device.address] = today
        notes.append(
            '%s: held: provider %s, %d consumer(s) in Placement; keeps '
            'resource class %s, not %s: Nova cannot change the class of a '
            'provider where servers hold devices (InventoryInUse, '
            'ReshapeFailed) and nova-compute would not start. To use %s, '
            'empty the host first ("nova-vfio-compat drain HOST" shows '
            'where its servers can go; live-migrate them) and rerun'
            % (device.name, rp.describe(), rp.consumers, today, ours, ours))
        if host_empty:
            errors.append(
                '--host-empty: Placement says %s is in use (provider %s, '
                '%d consumer(s)): resource class %s kept'
                % (device.name, rp.describe(), rp.consumers, today))
    return keep, notes, errors, states


def classes_to_keep(chosen, mdev_config, told, host_empty):
    """``({address: class to keep}, notes)``, offline.

    Where Nova gives a device another class today than the project's,
    the class stays unless the operator says the host is empty: Nova
    cannot change the class of a provider with allocations (its inventory
    update fails with InventoryInUse, a reshape with ReshapeFailed) and
    nova-compute then does not start.
    """
    keep, notes = {}, []
    if mdev_config is None and not told and not host_empty:
        notes.append(
            'no Nova configuration was given (--nova-config): the classes '
            'Nova uses today are unknown, so every class printed is the '
            'project\'s; where a server holds a device whose class this '
            'changes, nova-compute will not start. Give Nova\'s files or '
            '--resource-class')
    for published in chosen:
        device = published.device
        if device.document is None:
            continue
        ours = published.resource_class
        today = told.get(device.address.lower())
        why = 'given with --resource-class'
        if today is None:
            today, why = device_config.class_in_use(device, mdev_config)
        if ours is None or today is None or today == ours:
            continue
        if host_empty:
            notes.append(
                '%s: resource class %s replaces %s (%s), which is only safe '
                'where no server holds the device (--host-empty)'
                % (device.name, ours, today, why))
            continue
        keep[device.address] = today
        notes.append(
            '%s: keeps resource class %s, the class Nova uses today (%s), '
            'not %s: Nova cannot change the class of a provider where '
            'servers hold devices (InventoryInUse, ReshapeFailed) and '
            'nova-compute would not start. To use %s, empty the host first '
            '("nova-vfio-compat drain HOST" shows where its servers can '
            'go; live-migrate them), then rerun with --host-empty'
            % (device.name, today, why, ours, ours))
    return keep, notes


def configuration(outcome, mdev_config, told=None, host_empty=False,
                  max_traits=nvc_traits.DEFAULT_MAX_TRAITS, usage=None,
                  nodename=None, states=None):
    """``(data, errors, notes, configured GPUs)`` of ``nova-config``.

    :param outcome: the host's :class:`publication.Outcome`.
    :param mdev_config: Nova's configuration as read from its files (None
        when none was given).
    :param told: ``{address: class}`` Nova uses today (--resource-class).
    :param host_empty: no server holds a device (--host-empty).
    :param usage: ``{provider name: placement_view.ProviderUsage}`` of
        the host ``nodename`` as Placement has it; None when Placement is
        not read (then ``told`` and ``host_empty`` decide).
    :param states: a dict filled with ``{address: what Placement says}``.
    """
    errors = []
    # Every PCI device (one that cannot migrate gets its resource class
    # only), and the mdev type Nova uses on each GPU.
    chosen = [d for d in outcome.decisions
              if d.kind == nvc_devices.KIND_PCI or d.reason is None]
    configured = {d.address for d in chosen
                  if d.kind == nvc_devices.KIND_MDEV_TYPE}
    for address, choice in sorted(outcome.choices.items()):
        if address in configured:
            continue
        if choice.mdev_type is None:
            why = choice.why
        else:
            why = 'mdev type %s (%s) is not one it offers' % (
                choice.mdev_type, choice.why)
        errors.append('GPU %s: no mdev type configured: %s; choose one with '
                      '--mdev-type %s=TYPE' % (address, why, address))
    if usage is None:
        keep, notes = classes_to_keep(chosen, mdev_config, told or {},
                                      host_empty)
    else:
        keep, notes, held, found = _placement_classes(
            chosen, usage, nodename, host_empty)
        errors.extend(held)
        if states is not None:
            states.update(found)
    specs = mdev_config.device_specs if mdev_config else ()
    if mdev_config is None and any(
            d.kind == nvc_devices.KIND_PCI for d in chosen):
        notes.append(
            'no Nova configuration was given (--nova-config): VFs that are '
            'Neutron SR-IOV ports (a [pci] device_spec with '
            'physical_network) cannot be recognised; do not merge a '
            'device_spec printed here for such a VF')
    data, config_errors = generated_config.nova_conf_data(
        chosen, max_traits, specs, keep)
    return data, errors + config_errors, notes, configured


class PlacementUnread(Exception):
    """Placement is configured but could not be read."""


# What reading this host's providers can meet that is not a bug.
_PLACEMENT_ERRORS = (placement_reader.PlacementUnavailable,
                     placement_view.UnknownHost,
                     placement_version.PlacementTooOld)


def placement_usage(conf, nodename):
    """``{provider name: ProviderUsage}`` of ``nodename``, or None.

    None when no way to reach Placement is configured (no --os-cloud,
    $OS_CLOUD, [reporter] cloud or [placement] auth_type).

    :raises PlacementUnread: naming the request (or the cloud) when
        Placement is configured but cannot be read: that is never
        "nothing in use".
    """
    try:
        conn = client.connect(conf, cloud=conf.command.os_cloud)
    except client.ConfigurationError as e:
        if conf.command.os_cloud or conf.reporter.cloud:
            raise PlacementUnread(str(e))
        return None
    try:
        get = placement_view.sdk_get(conn)
        placement_version.check(get('/', None))
        return placement_view.read_host_usage(
            placement_view.PlacementView(get), nodename)
    except _PLACEMENT_ERRORS as e:
        raise PlacementUnread(str(e))


def do_nova_config(conf):
    operator, errors = _operator_choices(conf.command.mdev_type)
    told, told_errors = _told_classes(conf.command.resource_class)
    errors.extend(told_errors)
    if errors:
        return _report(errors)
    nodename = conf.command.nodename or hostname.root_provider_name(conf)
    offline = bool(told) or conf.command.host_empty
    try:
        usage = placement_usage(conf, nodename)
    except PlacementUnread as e:
        if not offline:
            return _report([
                'the resource classes in use on %s cannot be read from '
                'Placement: %s; give the offline answer instead '
                '(--resource-class ADDRESS=CLASS, or --host-empty on an '
                'empty host)' % (nodename, e)])
        usage = None
        _notes(['warning: Placement cannot be read (%s): the classes '
                'printed follow --resource-class/--host-empty, which '
                'Placement has not confirmed' % e])
    try:
        outcome, errors, nova = _decided(conf, operator)
    except published_devices.NoDeviceSource as e:
        return _report([e])
    states = {}
    data, config_errors, notes, configured = configuration(
        outcome, nova.mdev_config, told, conf.command.host_empty,
        conf.traits.max_traits_per_provider, usage, nodename, states)
    if any(spec.get('live_migratable') for spec in
           data.get('pci', {}).get('device_spec', ())):
        warning = version_warning(conf.command.virsh_version)
        if warning:
            notes.append('warning: %s' % warning)
    _notes(notes)
    errors.extend(config_errors)
    if conf.command.json:
        print(json.dumps({
            'config': data,
            'mdev_types': {
                address: {'mdev_type': choice.mdev_type
                          if address in configured else None,
                          'why': choice.why}
                for address, choice in sorted(outcome.choices.items())},
            'placement': None if usage is None else states,
            'errors': [str(e) for e in errors]}, indent=2, sort_keys=True))
    else:
        sys.stdout.write(generated_config.nova_conf_text(data))
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
        outcome, errors, _nova = _decided(conf)
    except published_devices.NoDeviceSource as e:
        return _report([e])
    nodename = conf.command.nodename or hostname.root_provider_name(conf)
    config, plan_errors = generated_config.provider_config(
        outcome.published, nodename, conf.traits.max_traits_per_provider)
    errors.extend(plan_errors)
    text = generated_config.provider_config_yaml(config)
    if conf.command.output:
        try:
            _write_atomically(conf.command.output, text)
        except OSError as e:
            return _report(['%s: cannot be written: %s'
                            % (conf.command.output, e.strerror or e)])
    else:
        sys.stdout.write(text)
    return _report(errors)
