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

"""The layers of doc/source/contributor/architecture.rst, on the import graph.

Every module file of the package is parsed (``ast``, nothing is
imported) and each of its imports, at module level or inside a function,
is checked against the layer table, ``layers.csv`` beside that page (the
page shows the same file).  A failure names the module, the line and the
import.
"""

import ast
import csv
import pathlib
import subprocess
import sys

import pytest

import nova_vfio_compat

PACKAGE = pathlib.Path(nova_vfio_compat.__file__).parent
ROOT = 'nova_vfio_compat'

# The one layer table: doc/source/contributor/architecture.rst shows the
# same file (csv-table).  Columns: the layer, its packages (dotted,
# relative to the package; the longest matching prefix wins), whether it
# does no I/O, the layers (or dotted module prefixes) its modules may
# import ("anything" for the commands) and the outside libraries only the
# layers that name them may import.
TABLE = PACKAGE.parent / 'doc' / 'source' / 'contributor' / 'layers.csv'


def _cells(text):
    return [c.strip().strip('`').strip() for c in text.split(',')
            if c.strip()]


def load_table(path=TABLE):
    """``(layers, may_import, pure, outside)`` from the layer table."""
    layers, may_import, pure, outside = {}, {}, set(), {}
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    for layer, packages, no_io, allowed, libraries in rows[1:]:
        for prefix in _cells(packages):
            layers[prefix] = layer
        if no_io.strip() == 'yes':
            pure.add(layer)
        may_import[layer] = (None if allowed.strip() == 'anything'
                             else set(_cells(allowed)))
        for library in _cells(libraries):
            outside.setdefault(library, set()).add(layer)
    # The package root is a docstring; it imports nothing.
    layers[''] = 'model'
    return layers, may_import, pure, outside


LAYERS, MAY_IMPORT, PURE, OUTSIDE = load_table()

# What a layer with no I/O does not import: I/O, processes, threads,
# clocks, logging.
CORE_FORBIDDEN = {
    'os', 'io', 'socket', 'subprocess', 'shutil', 'tempfile', 'pathlib',
    'threading', 'time', 'signal', 'select', 'urllib.request', 'http',
    'wsgiref', 'logging', 'oslo_log',
}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _modules():
    return sorted((_module_name(p), p) for p in PACKAGE.rglob('*.py'))


def _layer(relative):
    best = None
    for prefix, layer in LAYERS.items():
        if relative == prefix or relative.startswith(prefix + '.') or \
                prefix == '':
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return best[1]


def _imports(relative, path):
    """``(line, imported module)`` of every import in the file.

    ``from X import y`` counts as X.y when X.y is a module of the package
    (``from nova_vfio_compat import traits``), else as X.
    """
    package = relative if path.name == '__init__.py' else \
        relative.rpartition('.')[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.') if package else []
                base = base[:len(base) - node.level + 1]
                module = '.'.join([ROOT] + base +
                                  ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                yield node.lineno, _submodule(module, alias.name)


def _submodule(module, name):
    if module.split('.')[0] != ROOT:
        return module
    candidate = PACKAGE.joinpath(*(module.split('.')[1:] + [name]))
    if candidate.with_suffix('.py').exists() or candidate.is_dir():
        return '%s.%s' % (module, name)
    return module


def _own(imported):
    """The package-relative name of one of our modules, or None."""
    if imported == ROOT:
        return ''
    if imported.startswith(ROOT + '.'):
        return imported[len(ROOT) + 1:]
    return None


def violations():
    found = []
    for relative, path in _modules():
        layer = _layer(relative)
        allowed = MAY_IMPORT[layer]
        where = '%s.%s' % (ROOT, relative) if relative else ROOT
        for line, imported in _imports(relative, path):
            own = _own(imported)
            top = imported.split('.')[0]
            if own is not None:
                target = _layer(own)
                if allowed is None or target in allowed or any(
                        own == a or own.startswith(a + '.')
                        for a in allowed if '.' in a):
                    continue
                found.append('%s (%s, line %d) imports %s (%s): the %s '
                             'layer may import only %s' % (
                                 where, layer, line, imported, target,
                                 layer, ', '.join(sorted(allowed))))
            elif top in OUTSIDE and layer not in OUTSIDE[top]:
                found.append('%s (%s, line %d) imports %s, which only %s '
                             'may import' % (where, layer, line, imported,
                                             ', '.join(sorted(OUTSIDE[top]))))
            elif layer in PURE and (imported in CORE_FORBIDDEN or
                                    top in CORE_FORBIDDEN):
                found.append('%s (%s, line %d) imports %s: the %s layer '
                             'does no I/O' % (where, layer, line, imported,
                                              layer))
    return found


def test_every_module_has_a_layer():
    for relative, _path in _modules():
        assert _layer(relative) in MAY_IMPORT, relative


def test_every_layer_in_the_table_has_modules():
    # A layer or prefix left in the table after its modules moved would
    # check nothing.
    names = [relative for relative, _ in _modules()]
    for prefix in LAYERS:
        assert any(n == prefix or n.startswith(prefix + '.')
                   for n in names), prefix


def test_the_import_graph_follows_the_layers():
    found = violations()
    assert not found, '\n'.join(found)


def test_the_checker_sees_a_broken_rule(tmp_path, monkeypatch):
    # The rule is only as good as the walk: a model module that imports
    # the reporter, relatively and inside a function, is caught, and so
    # is a clock in a layer with no I/O.
    fake = tmp_path / ROOT
    for package in ('model', 'reporter', 'selection'):
        (fake / package).mkdir(parents=True)
        (fake / package / '__init__.py').write_text('')
    (fake / '__init__.py').write_text('')
    (fake / 'reporter' / 'sync.py').write_text('')
    (fake / 'model' / 'traits.py').write_text(
        'def f():\n    from ..reporter import sync\n    import time\n')
    (fake / 'selection' / 'decision.py').write_text('import nova\n')
    monkeypatch.setattr(sys.modules[__name__], 'PACKAGE', fake)
    found = violations()
    assert any('nova_vfio_compat.model.traits (model, line 2) imports '
               'nova_vfio_compat.reporter.sync (reporter)' in v
               for v in found), found
    assert any('line 3) imports time: the model layer does no I/O' in v
               for v in found), found
    assert any('nova_vfio_compat.selection.decision (selection, line 1) '
               'imports nova' in v for v in found), found


def test_the_docs_show_the_same_table():
    # One table: the architecture page includes the file this test reads.
    page = (TABLE.parent / 'architecture.rst').read_text()
    assert ':file: %s' % TABLE.name in page


def test_the_nova_free_packages_do_not_import_nova():
    # The selection logic, the model, the planning and the Placement
    # reader run without Nova (the reporter's hosts, the commands, the
    # benchmarks): a fresh interpreter shows what importing them pulls
    # in.  The filter's own package imports Nova; nothing else may.
    code = ('import sys\n'
            'import nova_vfio_compat.selection.decision\n'
            'import nova_vfio_compat.selection.placement_reads\n'
            'import nova_vfio_compat.model.publication\n'
            'import nova_vfio_compat.planning.drain\n'
            'import nova_vfio_compat.placement.reader\n'
            'print(sorted(m for m in sys.modules\n'
            '             if m == "nova" or m.startswith("nova.")))\n')
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == '[]'


@pytest.mark.parametrize('module', sorted(OUTSIDE))
def test_outside_libraries_in_the_table_are_imported_somewhere(module):
    imported = {i.split('.')[0] for relative, path in _modules()
                for _, i in _imports(relative, path)}
    assert module in imported
