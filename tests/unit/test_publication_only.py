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

"""Only publication types a document, checks its type or publishes it.

A :class:`publication.PublishedDevice` is made once, by
:mod:`nova_vfio_compat.model.publication`; the reporter, the commands, the
demo, the planning and the benchmarks read it.  Every module of the
package and of the benchmarks is parsed (``ast``, nothing is imported):
none but publication may use the typing functions, the type key or the
type check, or build a ``PublishedDevice``, nor (but the trait encoding,
which defines it) make the mdev type trait.  A failure names the module,
the line and the name.
"""

import ast
import pathlib

import nova_vfio_compat

PACKAGE = pathlib.Path(nova_vfio_compat.__file__).parent
BENCHMARKS = PACKAGE.parent / 'benchmarks'
HOME = PACKAGE / 'model' / 'publication.py'

# What types a document or checks "names another mdev type", and the
# value only publication makes.
PRIVATE = {'typed_document', 'stream_document', '_typed_record',
           '_type_refusal', 'TYPE_KEY', 'PublishedDevice',
           'mdev_type_trait'}
# The trait encoding defines the mdev type trait: the only other module
# that may name its maker.
ENCODING = PACKAGE / 'model' / 'traits.py'


def _modules():
    for root in (PACKAGE, BENCHMARKS):
        for path in sorted(root.rglob('*.py')):
            if path != HOME:
                yield path


def uses(tree):
    """``(line, name)`` of each use of a :data:`PRIVATE` name."""
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.alias):
            name = node.name.rpartition('.')[2]
        if name in PRIVATE:
            yield getattr(node, 'lineno', 0), name


def test_only_publication_types_documents():
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        found.extend('%s:%d uses %s' % (
            path.relative_to(PACKAGE.parent), line, name)
            for line, name in uses(tree)
            if not (path == ENCODING and name == 'mdev_type_trait'))
    assert found == []


def test_the_check_sees_a_call_an_attribute_and_an_import():
    tree = ast.parse(
        'from nova_vfio_compat.model.publication import stream_document\n'
        'publication.typed_document(doc, "nvidia-11")\n'
        'bus[publication.TYPE_KEY] = "x"\n')
    assert sorted(uses(tree)) == [(1, 'stream_document'),
                                  (2, 'typed_document'), (3, 'TYPE_KEY')]


def test_the_modules_are_found():
    names = {p.name for p in _modules()}
    assert {'plan.py', 'generated_config.py', 'devices.py', 'assume.py',
            'run.py', 'fleet.py', 'upgrade_real_filter.py'} <= names
    assert 'publication.py' not in {p.name for p in _modules()
                                    if p.parent == PACKAGE / 'model'}
