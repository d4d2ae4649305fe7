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

"""The benchmarks measure the package through its public names only.

A benchmark that reaches into a private name measures something the
package may change at any time, and holds it back from changing; what a
benchmark needs is made public and documented instead.  Read from the
source (nothing is imported): no ``from nova_vfio_compat... import _x``
and no ``something._x`` other than a benchmark's own ``self._x``.
"""

import ast
import pathlib

BENCHMARKS = pathlib.Path(__file__).parents[2] / 'benchmarks'


def _private(name):
    return name.startswith('_') and not name.startswith('__')


def private_uses(source, filename='<source>'):
    """``[(line, text)]`` of every private name ``source`` reaches."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and (
                node.module or '').startswith('nova_vfio_compat'):
            found += [(node.lineno, '%s.%s' % (node.module, alias.name))
                      for alias in node.names if _private(alias.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ('self', 'cls'):
                continue
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_check_finds_private_names():
    assert private_uses(
        'from nova_vfio_compat.reporter import sync\n'
        'from nova_vfio_compat.model.traits import _slug\n'
        'sync._owned(x)\n'
        'reporter._conn.get()\n'
        'self._own = 1\n'
        'x.__class__\n') == [
        (2, 'nova_vfio_compat.model.traits._slug'), (3, 'sync._owned'),
        (4, 'reporter._conn')]


def test_benchmarks_use_public_names_only():
    files = sorted(BENCHMARKS.glob('*.py'))
    assert files
    found = {str(path.name): private_uses(path.read_text(), str(path))
             for path in files}
    assert {name: uses for name, uses in found.items() if uses} == {}
