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

"""The same traits, handed to Nova through its own configuration.

Pure: devices in, text and data out.

* Nova replaces the traits of its PCI resource providers every period, so
  a PCI device's traits and resource class must reach Nova as the
  ``traits`` and ``resource_class`` tags of its ``[pci] device_spec``.
* ``live_migratable = yes`` only for a device that can migrate
  (:func:`publication.live_migratable`: a VFIO variant driver, or a
  document from a compatibility attribute or a capability file); a plain
  ``vfio-pci`` function with a derived document gets its resource class
  only.
* For mdev types, ``[devices] enabled_mdev_types`` and an ``[mdev_<type>]``
  section per type (``device_addresses``, ``mdev_class``) make Nova's mdev
  parent providers hold the type's custom resource class.  The caller
  passes one type per GPU (:func:`publication.choose_types`); every GPU is
  listed under exactly one type, so Nova never sees duplicate types for a
  PCI address (``InvalidLibvirtMdevConfig``).
* A provider config file (``[compute] provider_config_location``, schema
  1.0) makes Nova itself put the traits on the compute node root provider
  and, by name, on the mdev parent providers, for operators who want Nova
  to own everything and not run the reporter.
"""

import json
import re

import yaml

from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.reporter import plan as nvc_plan

PROVIDER_CONFIG_SCHEMA_VERSION = '1.0'
COMPUTE_NODE = '$COMPUTE_NODE'


def _pci_spec(device, max_traits, resource_classes):
    """``(device_spec dict, error)`` of one PCI device, alone.

    ``device`` is a :class:`publication.PublishedDevice`.
    """
    if device.streams is not None and not device.live_migratable:
        # Nova must not try to live-migrate it, and its traits would
        # claim a stream it does not have: the resource class only.
        rc = device.resource_class
        return {'address': device.address,
                'resource_class': resource_classes.get(device.address,
                                                       rc)}, None
    try:
        names, rc = nvc_plan.device_traits(device, max_traits)
    except ValueError as e:
        return None, str(e)
    # A migratable driver, or a document from the kernel, the vendor or
    # the operator: it can migrate.
    return {'address': device.address,
            'live_migratable': 'yes',
            'resource_class': resource_classes.get(device.address, rc),
            'traits': ','.join(sorted(names))}, None


def pci_device_specs(devices, max_traits=nvc_traits.DEFAULT_MAX_TRAITS,
                     existing_specs=(), resource_classes=None):
    """``([device_spec dict, ...], errors)`` for the PCI devices.

    ``devices`` are :class:`publication.PublishedDevice` values (bare
    devices are taken as they are, :func:`publication.as_published`).
    Nova counts the VFs of one PF on the PF's provider and refuses to
    start when they differ in resource class or traits
    (``PlacementPciMixedResourceClassException``,
    ``PlacementPciMixedTraitsException``; ``live_migratable`` is a trait
    there): a PF whose VFs differ is reported, naming the PF and each VF,
    and none of its VFs is configured.  A device that one of
    ``existing_specs`` (Nova's ``[pci] device_spec``) with a
    ``physical_network`` may match is a Neutron port: no spec is made for
    it (one without the physical network would take it from Neutron).
    ``resource_classes`` maps an address to the class to keep.
    """
    resource_classes = resource_classes or {}
    made, errors, by_pf = [], [], {}
    for device in devices:
        device = publication.as_published(device, max_traits)
        if device.kind != nvc_devices.KIND_PCI:
            continue
        neutron = device_config.neutron_spec(device.device, existing_specs)
        if neutron is not None:
            errors.append(
                'device %s: %s (physical_network %s) may match it: a '
                'Neutron SR-IOV port, which Nova does not report in '
                'Placement; no device_spec is printed for it (keep that '
                'entry)' % (device.name, neutron.where,
                            neutron.physical_network))
            continue
        spec, error = _pci_spec(device, max_traits, resource_classes)
        if error is not None:
            errors.append(error)
            continue
        made.append((device, spec))
        if device.physfn:
            by_pf.setdefault(device.physfn, []).append((device, spec))
    mixed = set()
    for pf, vfs in sorted(by_pf.items()):
        kinds = {(s['resource_class'], s.get('traits'),
                  s.get('live_migratable')) for _d, s in vfs}
        if len(kinds) > 1:
            mixed.add(pf)
            errors.append(
                'PF %s: its VFs cannot share one resource class and trait '
                'set, which Nova requires of the VFs of one PF '
                '(PlacementPciMixedResourceClassException or '
                'PlacementPciMixedTraitsException at start): %s; none of '
                'them is configured' % (pf, '; '.join(
                    '%s: class %s, %s' % (
                        d.name, s['resource_class'],
                        'live-migratable, %d traits' % len(
                            s['traits'].split(','))
                        if s.get('live_migratable') else
                        'not live-migratable')
                    for d, s in vfs)))
    return [s for d, s in made if d.physfn not in mixed], errors


def mdev_types(devices, resource_classes=None):
    """``({mdev_type: (addresses, resource class)}, errors)``.

    ``devices`` (:class:`publication.PublishedDevice` values) should hold
    one mdev type per GPU; a GPU seen again under
    another type is reported and left out there, so that no address is
    ever listed under two types.  ``resource_classes`` maps a GPU's
    address to the class to keep.
    """
    resource_classes = resource_classes or {}
    types, errors, seen = {}, [], {}
    for device in devices:
        device = publication.as_published(device)
        if device.kind != nvc_devices.KIND_MDEV_TYPE:
            continue
        if seen.setdefault(device.address,
                           device.mdev_type) != device.mdev_type:
            errors.append(
                'device %s: the GPU is already configured with mdev type '
                '%s; Nova uses one type per GPU, so it is left out'
                % (device.name, seen[device.address]))
            continue
        if device.device.document is None:
            errors.append('device %s: no usable capability document; not '
                          'configured' % device.name)
            continue
        if device.type_conflict is not None:
            errors.append('device %s: %s; not configured'
                          % (device.name, device.type_conflict))
            continue
        rc = resource_classes.get(device.address, device.resource_class)
        addresses, known_rc = types.setdefault(device.mdev_type, ([], rc))
        if known_rc != rc:
            errors.append(
                'device %s: resource class %s differs from %s of the same '
                'mdev type elsewhere on this host; Nova has one mdev_class '
                'per type, so it is left out' % (device.name, rc, known_rc))
            continue
        addresses.append(device.address)
    return types, errors


def nova_conf_data(devices, max_traits=nvc_traits.DEFAULT_MAX_TRAITS,
                   existing_specs=(), resource_classes=None):
    """``({section: {option: value}}, errors)`` configuring ``devices``.

    What ``nova-config --json`` prints; list values are lists
    (``device_spec`` one JSON object per entry).  ``existing_specs`` and
    ``resource_classes``: see :func:`pci_device_specs`.
    """
    specs, errors = pci_device_specs(devices, max_traits, existing_specs,
                                     resource_classes)
    types, type_errors = mdev_types(devices, resource_classes)
    errors.extend(type_errors)
    data = {}
    if specs:
        data['pci'] = {'device_spec': specs}
    if types:
        data['devices'] = {'enabled_mdev_types': sorted(types)}
        for name in sorted(types):
            addresses, rc = types[name]
            data['mdev_%s' % name] = {'device_addresses': sorted(addresses),
                                      'mdev_class': rc}
    return data, errors


class UnsafeText(records.InvalidDocument):
    """A name or value that nova.conf text cannot carry as it is."""


# Section and option names: what an mdev type name may hold.
_NAME = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.:+-]*\Z')
# What would end a line, or start a comment or a continuation line, in
# the file oslo.config parses (it also takes \r as a line end).
_UNSAFE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')


def _name(kind, name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise UnsafeText('nova.conf text', '%s name %r cannot be written '
                         'to nova.conf' % (kind, name))
    return name


def _value(where, value, item=False):
    """``value`` as nova.conf text: refused, or with ``$`` escaped.

    oslo.config interpolates ``$name``; ``$$`` is a literal ``$``.  An
    item of a list may not hold the list's ``,``.
    """
    text = str(value)
    if _UNSAFE.search(text) or text != text.strip() or not text or (
            item and ',' in text):
        raise UnsafeText('nova.conf text', '%s: value %r cannot be written '
                         'to nova.conf' % (where, value))
    return text.replace('$', '$$')


def nova_conf_text(data):
    """The nova.conf text of :func:`nova_conf_data`'s sections.

    The one place that text is made: every section and option name is
    checked and every value escaped or refused, so that it can never
    carry a section or option it was not given.

    :raises UnsafeText: for a name or value that cannot be written.
    """
    lines = ['# Generated by nova-vfio-compat nova-config: merge into the '
             'nova.conf of this', '# compute host.']
    for section, options in data.items():
        lines += ['', '[%s]' % _name('section', section)]
        if section == 'pci':
            lines += ['# Needed for the traits to reach Placement; it '
                      'cannot be turned off later.',
                      '#report_in_placement = True']
        for name, value in options.items():
            where = '[%s] %s' % (section, _name('option', name))
            if name == 'device_spec':
                # JSON escapes every control character itself.
                lines += [_assignment(where, name, _value(where, json.dumps(
                    spec, sort_keys=True))) for spec in value]
            elif isinstance(value, list):
                lines.append(_assignment(where, name, ', '.join(
                    _value(where, v, item=True) for v in value)))
            else:
                lines.append(_assignment(where, name, _value(where, value)))
    return '\n'.join(lines) + '\n'


def _assignment(where, name, text):
    """``name = text``, refused where oslo.config would not read ``text``.

    Its parser drops one pair of quotes around a whole value (``"x"`` is
    read ``x``, a lone ``"`` as nothing), whatever the option's type.
    """
    if text and text[0] == text[-1] and text[0] in '"\'':
        raise UnsafeText('nova.conf text', '%s: value %r cannot be written '
                         'to nova.conf: oslo.config would drop its quotes'
                         % (where, text))
    return '%s = %s' % (name, text)


def nova_conf(devices, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """``(nova.conf text, errors)`` configuring ``devices`` in Nova."""
    data, errors = nova_conf_data(devices, max_traits)
    return nova_conf_text(data), errors


def provider_config(devices, nodename,
                    max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """``(provider config dict, errors)``: the reporter's traits for Nova.

    The data of a provider config file (schema 1.0).  The root is
    identified as ``$COMPUTE_NODE``, the mdev parents by the names Nova
    gives their providers under ``nodename``.
    """
    planned = nvc_plan.build(devices, nodename, max_traits)
    providers = []
    for name, names in planned.providers.items():
        if not names:
            continue
        ident = ({'uuid': COMPUTE_NODE} if name == nodename
                 else {'name': name})
        providers.append({'identification': ident,
                          'traits': {'additional': sorted(names)}})
    return ({'meta': {'schema_version': PROVIDER_CONFIG_SCHEMA_VERSION},
             'providers': providers}, list(planned.errors))


def provider_config_yaml(config):
    """The file's text: a header saying what it is, then the YAML."""
    return ('# Generated by nova-vfio-compat provider-config for Nova\'s '
            '[compute]\n# provider_config_location (read when nova-compute '
            'starts). Do not also\n# run the nova-vfio-compat-reporter '
            'service on this host: nova-compute re-adds\n# these traits '
            'every period, so the two would fight over stale ones.\n'
            '# Nova only ever adds these traits: after regenerating this '
            'file and\n# restarting nova-compute, run '
            '"nova-vfio-compat-reporter --once" (same\n# configuration) '
            'once, to remove the traits this file no longer has.\n' +
            yaml.safe_dump(config, default_flow_style=False,
                           sort_keys=False))
