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

import json
import os

from nova_vfio_compat import files
from nova_vfio_compat import records
from nova_vfio_compat import rules
from nova_vfio_compat import samples
from nova_vfio_compat import traits


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
                        'reasons, create}')
    p.set_defaults(func=do_matrix)


def build(documents, max_traits=traits.DEFAULT_MAX_TRAITS):
    """All ordered pairs with their verdicts, by the rules and the traits.

    Each cell is (source, dest, verdict, traits say compatible).
    """
    names = {doc.source: traits.document_traits(doc, max_traits)
             for doc in documents}
    cells = []
    for source in documents:
        for dest in documents:
            verdict = rules.check(source, dest)
            by_traits = traits.can_migrate(names[source.source],
                                           names[dest.source])
            cells.append((source, dest, verdict, by_traits))
    return cells


def do_matrix(conf):
    paths = conf.command.docs or samples.paths()
    documents = [files.load_document(p) for p in paths]
    cells = build(documents, conf.traits.max_traits_per_provider)
    disagree = [c for c in cells if c[2].compatible is not c[3]]
    if conf.command.json:
        print(json.dumps([dict(c[2].to_dict(), source=c[0].source,
                               dest=c[1].source, traits_agree=c[2].compatible
                               is c[3]) for c in cells], indent=2))
        return 1 if disagree else 0

    labels = {doc.source: os.path.basename(doc.source) for doc in documents}
    index = {doc.source: str(i + 1) for i, doc in enumerate(documents)}
    print('Documents:')
    for doc in documents:
        print('  %2s  %s' % (index[doc.source], labels[doc.source]))
    print()
    print('Can the row\'s stream be received by the column\'s device?')
    print('      ' + ' '.join('%3s' % index[d.source] for d in documents))
    for source in documents:
        row = [c for c in cells if c[0] is source]
        print('  %2s  ' % index[source.source] + ' '.join(
            '%3s' % ('yes' if c[2].compatible else ' - ') for c in row))
    print()
    print('Why not (pairs of the same kind of device):')
    unrelated = 0
    for source, dest, verdict, _ in cells:
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
    creates = [c for c in cells if c[2].compatible and c[2].create
               and c[0] is not c[1]]
    if creates:
        print()
        print('What the destination must create:')
        for source, dest, verdict, _ in creates:
            attrs = records.mdev_attrs_text(verdict.create.mdev_attrs)
            print('  %s -> %s: mdev type %s%s' % (
                index[source.source], index[dest.source],
                verdict.create.mdev_type, (' with ' + attrs) if attrs else ''))
    print()
    if disagree:
        for source, dest, verdict, _ in disagree:
            print('ERROR: rules and traits disagree for %s -> %s'
                  % (source.source, dest.source))
        return 1
    print('The traits agree with the rules for all %d pairs.' % len(cells))
    return 0
