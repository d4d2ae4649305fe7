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

"""``check`` and ``traits``: the rules and the trait encoding on document
files, with no host and no Placement involved."""

import dataclasses
import json
import sys

from nova_vfio_compat.host import files
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits


def register(subparsers):
    p = subparsers.add_parser(
        'check',
        help='Can the stream SOURCE emits be received by a DEST device?',
        description='Check the record SOURCE emits against the records DEST '
                    'accepts. Exit status 0: compatible, 1: not compatible, '
                    '2: an input is invalid, 3: an internal error.')
    p.add_argument('source', help='capability document file (JSON or YAML)')
    p.add_argument('dest', help='capability document file (JSON or YAML)')
    out = p.add_mutually_exclusive_group()
    out.add_argument('--json', action='store_true',
                     help='print {"compatible", "reasons", "create", '
                          '"nova_can_create", "nova"}')
    out.add_argument('--mdevctl', action='store_true',
                     help='for a compatible pair, print the mdevctl device '
                          'config that creates the matching device on DEST')
    p.set_defaults(func=do_check)

    p = subparsers.add_parser(
        'traits',
        help='The traits and resource class the reporter publishes for a '
             'device described by DOC.',
        description='Print the traits that the reporter publishes on the '
                    'resource provider holding this device, and its '
                    'resource class: for a vGPU, its streams typed with '
                    'the mdev type (the one its own record names, or '
                    '--mdev-type), and only the accept records Nova can '
                    'carry out. Exit status 2 for a document the reporter '
                    'would not publish (a vGPU document of no known type, '
                    'too many traits).')
    p.add_argument('doc', help='capability document file (JSON or YAML)')
    p.add_argument('--mdev-type', metavar='TYPE',
                   help='the mdev type Nova uses on the GPU (default: the '
                        'one the document\'s own record names, self: '
                        '{mdev_type: ...}; a document that names none is a '
                        'PCI device\'s)')
    p.add_argument('--json', action='store_true',
                   help='print {"traits": [...], "resource_class": ..., '
                        '"mdev_type": ... (null for a PCI device), '
                        '"notes": [...] (accept records left out)}')
    p.set_defaults(func=do_traits)


def _attrs_note(verdict):
    if not verdict.create.mdev_attrs:
        return ''
    return ('; it also creates mdevs without attributes (%s), which '
            '[nova] precreated_mdev_attrs is for'
            % records.mdev_attrs_text(verdict.create.mdev_attrs))


def nova_note(source, dest, verdict):
    """``(Nova can carry it out, note)`` for a compatible verdict.

    Nova creates a destination mdev with a type and a UUID only: a
    verdict whose creation needs mdev attributes is one Nova cannot carry
    out, unless another accepting record of ``dest`` without attributes
    accepts the stream too.  Nova also migrates an mdev only into one of
    the same type: a creation of another type than the source's own
    (``self: {mdev_type: ...}``) is one it cannot carry out.  The note is
    None when there is nothing to say.
    """
    own_type = source.emits.mdev_type
    if (verdict.compatible and verdict.create and own_type and
            verdict.create.mdev_type != own_type):
        return False, ('Nova could not carry out this creation: it '
                       'live-migrates an mdev only into one of the same '
                       'type, and the source is of type %s (the reporter '
                       'publishes vGPU streams typed, so such a host is '
                       'not chosen)%s' % (own_type, _attrs_note(verdict)))
    if not (verdict.compatible and verdict.create and
            verdict.create.mdev_attrs):
        return True, None
    plain = dataclasses.replace(dest, accepts=tuple(
        r for r in dest.accepts if not r.mdev_attrs))
    other = rules.check(source, plain)
    attrs = records.mdev_attrs_text(verdict.create.mdev_attrs)
    if other.compatible:
        return True, ('Nova creates mdevs without attributes (%s); it can '
                      'still receive the stream on an mdev of type %s, as '
                      'another accepting record says' % (
                          attrs, other.create.mdev_type if other.create
                          else 'any'))
    return False, ('Nova could not carry out this creation: it creates '
                   'mdevs without attributes (%s), so the reporter does not '
                   'publish this accept unless [nova] precreated_mdev_attrs '
                   'is set (the site creates such mdevs itself)' % attrs)


def check_data(source, dest):
    """``(verdict, answer)``: ``check``'s answer for two documents.

    ``answer`` is what ``--json`` prints (and ``openstack vfio compat
    check`` shows): the verdict with what Nova can carry out of it.
    """
    verdict = rules.check(source, dest)
    nova_ok, note = nova_note(source, dest, verdict)
    out = verdict.to_dict()
    out['nova_can_create'] = nova_ok if verdict.compatible else None
    out['nova'] = note
    return verdict, out


def traits_data(doc, max_traits=traits.DEFAULT_MAX_TRAITS, mdev_type=None,
                precreated_mdev_attrs=False):
    """``traits``' answer: what the reporter publishes for ``doc``.

    ``{"traits": [...], "resource_class": ..., "mdev_type": ...,
    "notes": [...]}`` of :func:`publication.published_document`: a vGPU
    document typed with its mdev type, only the accept records Nova can
    carry out.

    :raises publication.Unpublishable: naming the document.
    """
    published = publication.published_document(
        doc, mdev_type=mdev_type,
        precreated_mdev_attrs=precreated_mdev_attrs, max_traits=max_traits)
    return {'traits': sorted(published.traits),
            'resource_class': published.resource_class,
            'mdev_type': published.mdev_type,
            'notes': list(published.notes)}


def do_check(conf):
    source = files.load_document(conf.command.source)
    dest = files.load_document(conf.command.dest)
    verdict, out = check_data(source, dest)
    note = out['nova']
    if conf.command.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    elif conf.command.mdevctl:
        if verdict.compatible and verdict.create:
            print(json.dumps(verdict.create.to_mdevctl(), indent=2,
                             sort_keys=True))
        elif verdict.compatible:
            print('# compatible; %s accepts the stream on a device that '
                  'needs no mdev to be created' % dest.source)
        else:
            _print_verdict(verdict, source, dest)
    else:
        _print_verdict(verdict, source, dest)
    if note and conf.command.mdevctl:
        print('nova-vfio-compat: note: %s' % note, file=sys.stderr)
    elif note and not conf.command.json:
        print('  nova: %s' % note)
    return 0 if verdict.compatible else 1


def _print_verdict(verdict, source, dest):
    if verdict.compatible:
        print('compatible: %s can be received by %s'
              % (source.source, dest.source))
        if verdict.create:
            attrs = records.mdev_attrs_text(verdict.create.mdev_attrs)
            print('  create: mdev type %s%s' % (
                verdict.create.mdev_type, (' with ' + attrs) if attrs else ''))
        return
    print('not compatible: %s cannot be received by %s'
          % (source.source, dest.source))
    for reason in verdict.reasons:
        print('  - %s' % reason)


# A vGPU's streams are typed with its GPU's mdev type: say so, as a
# vGPU document that names no type is published as a PCI device's.
UNTYPED = ('none (a PCI device; a vGPU document names its type in self: '
           '{mdev_type: ...}, or give --mdev-type)')


def do_traits(conf):
    doc = files.load_document(conf.command.doc)
    out = traits_data(doc, conf.traits.max_traits_per_provider,
                      conf.command.mdev_type,
                      conf.nova.precreated_mdev_attrs)
    if conf.command.json:
        print(json.dumps(out, indent=2))
        return 0
    print('resource class: %s' % out['resource_class'])
    print('mdev type: %s' % (out['mdev_type'] or UNTYPED))
    print('traits:')
    for name in out['traits']:
        print('  %s' % name)
    for note in out['notes']:
        print('note: %s' % note)
    return 0
