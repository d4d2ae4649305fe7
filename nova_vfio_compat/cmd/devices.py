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

"""``devices``: what discovery finds on this host, and why.

The first command to run when a device is missing from Placement or has
unexpected traits: every VFIO-relevant device, its capability document,
where the document came from (provenance), the traits and resource class
it compiles to, and every source that was rejected.  Also whether each
is published and why not (an mdev type Nova does not use on its GPU, a
plain vfio-pci function that cannot migrate), and which accept records
are left out (they need mdev attributes Nova cannot set, or another mdev
type than the one Nova uses).
"""

import json
import sys

from nova_vfio_compat.cmd import common
from nova_vfio_compat.cmd import nova_config as cmd_nova_config
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records


def register(subparsers):
    p = subparsers.add_parser(
        'devices',
        help='List this host\'s VFIO devices, their capability documents, '
             'where each came from and their traits.',
        description='Discover the VFIO devices of this host through udev '
                    '(as the reporter does, with the [discovery] options) '
                    'and print each with its document, provenance, traits '
                    'and errors, and whether it is published: only the mdev '
                    'type Nova uses on each GPU (from Nova\'s configuration '
                    'files) and devices that can migrate are. Exit status '
                    '0, or 1 when a device has no usable document or too '
                    'many traits.')
    p.add_argument('--json', action='store_true',
                   help='print a JSON list of objects with address, kind, '
                        'driver, driver_version, mdev_type, provenance, '
                        'document, traits, resource_class, errors, '
                        'published, not_published (the reason), '
                        'published_traits and notes (accept records left '
                        'out)')
    p.add_argument('--nova-config', metavar='FILE', action='append',
                   help='a configuration file of nova-compute, to read '
                        '[devices] enabled_mdev_types and [mdev_<type>] '
                        'device_addresses from (repeat for several; '
                        'default: [nova] config_files and config_dirs)')
    cmd_nova_config.add_virsh_version(p)
    p.set_defaults(func=do_devices)


def _ids(pci_ids):
    if len(pci_ids or ()) != len(records.PCI_ID_KEYS):
        return None
    return '%04x:%04x (subsystem %04x:%04x)' % tuple(pci_ids)


def _plain(device, pci_ids=None, document=None, names=(), rc=None,
           errors=()):
    """The keys every device has in ``--json``, in their order."""
    return {
        'address': device.address,
        'kind': device.kind,
        'driver': device.driver,
        'driver_version': device.driver_version,
        'mdev_type': device.mdev_type,
        'pci_ids': pci_ids,
        'physfn': device.physfn,
        'iommu_group': device.iommu_group,
        'provenance': device.provenance,
        'document': document,
        'traits': list(names),
        'resource_class': rc,
        'errors': list(errors),
    }


def describe(published, max_traits):
    """The plain-data form of a device, as ``--json`` prints it.

    ``published`` is its :class:`publication.PublishedDevice`.
    """
    device = published.device
    errors = list(device.errors)
    names, rc, document = [], None, None
    if device.document is not None:
        document = records.document_to_dict(device.document)
        # What the device's streams are (an mdev type's are typed), and the
        # class Nova is configured with.
        streams, problem = publication.stream_traits(published, max_traits)
        names = sorted(streams)
        if problem is not None:
            errors.append('%s: %s' % (device.name, problem))
        if published.type_conflict is None:
            rc = published.resource_class
    out = _plain(device, _ids(device.pci_ids), document, names, rc, errors)
    if device.kind == nvc_devices.KIND_MDEV_TYPE:
        out['mdevs'] = list(device.mdevs)
        out['available_instances'] = device.available_instances
    out['published'] = published.published and names != []
    out['not_published'] = published.reason
    out['notes'] = list(published.notes)
    out['published_traits'] = (sorted(published.traits)
                               if out['published'] else [])
    return out


def _describe_or_name(published, max_traits):
    """:func:`describe`, or the device named with the error that stopped it.

    One device that cannot be described must not hide the others.
    """
    try:
        return describe(published, max_traits)
    except Exception as e:
        device = published.device
        return _plain(device, errors=list(device.errors) + [
            '%s: cannot be described (%s: %s)'
            % (device.name, type(e).__name__, e)])


def _print_human(items, result, messages=()):
    if not items:
        print('No VFIO devices found (nothing bound to vfio-pci or a VFIO '
              'variant driver, no mdev parents).')
    for item in items:
        name = item['address']
        if item['mdev_type']:
            name += ' mdev type %s' % item['mdev_type']
        print(name)
        driver = item['driver'] or '(no driver)'
        if item['driver_version']:
            driver += ' %s' % item['driver_version']
        print('  driver:      %s' % driver)
        if item['pci_ids']:
            print('  PCI IDs:     %s' % item['pci_ids'])
        if item['physfn']:
            print('  physfn:      %s' % item['physfn'])
        if item['kind'] == nvc_devices.KIND_MDEV_TYPE:
            available = item['available_instances']
            print('  mdevs:       %s (%s more can be created)' % (
                ', '.join(item['mdevs']) or 'none',
                'unknown' if available is None else available))
        print('  provenance:  %s' % (item['provenance'] or 'none'))
        if item['document'] is not None:
            doc = item['document']
            print('  emits:       %s' % records.describe_stream(
                records.parse_record(doc['self'])))
            print('  accepts:     %d record(s)' % len(doc['compatible']))
            print('  class:       %s' % item['resource_class'])
            # What the reporter publishes (an mdev type's type trait
            # included, accept records Nova cannot carry out left out);
            # the streams' own traits when it publishes nothing.
            if item.get('published'):
                print('  traits:')
                shown = item['published_traits']
            else:
                print('  traits (not published):')
                shown = item['traits']
            for name in shown:
                print('    %s' % name)
        if item.get('not_published'):
            print('  published:   no: %s' % item['not_published'])
        elif 'published' in item:
            print('  published:   %s' % ('yes (%d traits)' % len(
                item['published_traits']) if item['published'] else 'no'))
        for note in item.get('notes', ()):
            print('  note:        %s' % note)
        for error in item['errors']:
            print('  error:       %s' % error)
    for message in messages:
        print('note: %s' % message)
    for error in result.file_errors:
        print('capability file error: %s' % error)
    for warning in result.warnings:
        print('warning: %s' % warning)


def do_devices(conf):
    try:
        # Imported here: pyudev needs libudev, which the other commands do
        # not.
        from nova_vfio_compat.host import discovery
        result = discovery.scan(conf)
    except (ImportError, OSError) as e:
        return common.fail(common.CLI_PROG,
                           'cannot list the devices of this host through '
                           'udev: %s' % e)
    max_traits = conf.traits.max_traits_per_provider
    nova = published_devices.nova_view(conf, conf.command.nova_config)
    outcome = published_devices.decide(conf, result.devices, nova)
    messages = list(outcome.messages)
    if nova.error:
        messages.append(nova.error)
    items = [_describe_or_name(d, max_traits) for d in outcome.decisions]
    if any(d.live_migratable for d in outcome.decisions):
        warning = cmd_nova_config.version_warning(
            conf.command.virsh_version)
        if warning:
            messages.append('warning: %s' % warning)
    if conf.command.json:
        print(json.dumps(items, indent=2, sort_keys=True))
        for message in messages:
            print('nova-vfio-compat: note: %s' % message, file=sys.stderr)
    else:
        _print_human(items, result, messages)
    unusable = any(item['document'] is None or not item['traits']
                   for item in items)
    return 1 if unusable else 0
