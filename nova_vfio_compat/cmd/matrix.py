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

"""``matrix``: every document against every other, by the rules and by the
traits, with the reasons for each "no"."""

import collections
import json
import os

from nova_vfio_compat.cmd import documents as nvc_documents
from nova_vfio_compat.host import files
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits
from nova_vfio_compat import samples


def register(subparsers):
    p = subparsers.add_parser(
        'matrix',
        help='Compatibility of every document with every other.',
        description='Check every DOC against every other DOC (the bundled '
                    'sample documents when none is given), once by the '
                    'rules and once by the traits, and print the matrix '
                    'with the reasons for each "no". Exit status 1 if the '
                    'rules and the traits ever disagree.')
    p.add_argument('docs', nargs='*', metavar='DOC',
                   help='capability document files (JSON or YAML)')
    p.add_argument('--json', action='store_true',
                   help='print a list of {source, dest, compatible, '
                        'reasons, create, nova_can_create, nova, '
                        'source_mdev_type, dest_mdev_type, traits_agree}')
    p.set_defaults(func=do_matrix)


Cell = collections.namedtuple('Cell', 'source dest verdict traits answer')


def build(documents, max_traits=traits.DEFAULT_MAX_TRAITS):
    """All ordered pairs with their verdicts, by the rules and the traits.

    Each :class:`Cell` has the verdict of the rules, whether the traits
    say compatible, and ``answer``: :func:`documents.check_data`'s (what
    Nova can carry out included) with the pair, their mdev types and
    whether the traits agree, which is what ``--json`` prints.
    """
    names = {doc.source: traits.document_traits(doc, max_traits)
             for doc in documents}
    cells = []
    for source in documents:
        for dest in documents:
            verdict, answer = nvc_documents.check_data(source, dest)
            by_traits = traits.can_migrate(names[source.source],
                                           names[dest.source])
            answer.update(source=source.source, dest=dest.source,
                          source_mdev_type=source.emits.mdev_type,
                          dest_mdev_type=dest.emits.mdev_type,
                          traits_agree=verdict.compatible is by_traits)
            cells.append(Cell(source, dest, verdict, by_traits, answer))
    return cells


def nova_cannot(cell):
    """Do the rules allow the move while Nova cannot carry it out?"""
    return cell.verdict.compatible and cell.answer['nova_can_create'] is False


def _mark(cell):
    if not cell.verdict.compatible:
        return ' - '
    return '(y)' if nova_cannot(cell) else 'yes'


def do_matrix(conf):
    paths = conf.command.docs or samples.paths()
    documents = [files.load_document(p) for p in paths]
    cells = build(documents, conf.traits.max_traits_per_provider)
    disagree = [c for c in cells if not c.answer['traits_agree']]
    if conf.command.json:
        print(json.dumps([c.answer for c in cells], indent=2,
                         sort_keys=True))
        return 1 if disagree else 0

    labels = {doc.source: os.path.basename(doc.source) for doc in documents}
    index = {doc.source: str(i + 1) for i, doc in enumerate(documents)}
    print('Documents:')
    for doc in documents:
        kind = (' (mdev type %s)' % doc.emits.mdev_type
                if doc.emits.mdev_type else '')
        print('  %2s  %s%s' % (index[doc.source], labels[doc.source], kind))
    print()
    print('Can the row\'s stream be received by the column\'s device?')
    print('      ' + ' '.join('%3s' % index[d.source] for d in documents))
    for source in documents:
        row = [c for c in cells if c.source is source]
        print('  %2s  ' % index[source.source] + ' '.join(
            _mark(c) for c in row))
    if any(nova_cannot(c) for c in cells):
        print('(y): the rules say yes, but Nova cannot carry out the move '
              '(see below)')
    print()
    print('Why not (pairs of the same kind of device):')
    unrelated = 0
    for source, dest, verdict, _, _ in cells:
        if verdict.compatible:
            continue
        if not rules.same_kind(source, dest):
            unrelated += 1
            continue
        print('  %s -> %s:' % (index[source.source], index[dest.source]))
        for reason in verdict.reasons:
            print('      %s' % reason)
    if unrelated:
        print('  (%d other pairs are different devices altogether; '
              '"nova-vfio-compat check"' % unrelated)
        print('   lists every difference)')
    cannot = [c for c in cells if nova_cannot(c)]
    if cannot:
        print()
        print('What Nova cannot carry out (the rules say yes):')
        for cell in cannot:
            print('  %s -> %s: %s' % (index[cell.source.source],
                                      index[cell.dest.source],
                                      cell.answer['nova']))
    creates = [c for c in cells if c.verdict.compatible and c.verdict.create
               and c.source is not c.dest]
    if creates:
        print()
        print('What the destination must create:')
        for source, dest, verdict, _, _ in creates:
            attrs = records.mdev_attrs_text(verdict.create.mdev_attrs)
            print('  %s -> %s: mdev type %s%s' % (
                index[source.source], index[dest.source],
                verdict.create.mdev_type, (' with ' + attrs) if attrs else ''))
    print()
    if disagree:
        for cell in disagree:
            print('ERROR: rules and traits disagree for %s -> %s'
                  % (cell.source.source, cell.dest.source))
        return 1
    print('The traits agree with the rules for all %d pairs.' % len(cells))
    return 0
