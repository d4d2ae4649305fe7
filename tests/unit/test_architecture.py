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
is checked against the table below.  A failure names the module, the line
and the import.
"""

import ast
import pathlib
import sys

import pytest

import nova_vfio_compat

PACKAGE = pathlib.Path(nova_vfio_compat.__file__).parent
ROOT = 'nova_vfio_compat'

# The layer of each module: the longest matching dotted prefix (relative
# to the package) wins.  '' is the package itself.
LAYERS = {
    '': 'core',
    'records': 'core',
    'schema': 'core',
    'rules': 'core',
    'traits': 'core',
    'policy': 'core',
    'devices': 'core',
    'nova_devices': 'core',
    'migration_drivers': 'core',
    'publication': 'core',
    'placement_answers': 'core',
    'placement_get': 'core',
    'planning': 'core',
    'planning.compatibility': 'core',
    'planning.drain': 'core',
    'planning.fleet': 'core',
    'planning.assume': 'core',
    'planning.report': 'core',
    'conf': 'options',
    # The HTTP side of reading Placement (deadlines, checked sessions).
    'placement_http': 'placement-http',
    'files': 'files',
    # The bundled sample documents: a directory listing.
    'samples': 'files',
    'discovery': 'discovery',
    'reporter': 'reporter',
    'planning.placement_view': 'planning-reads',
    'planning.server_names': 'planning-reads',
    'scheduler': 'scheduler',
    'api': 'api',
    'cmd': 'commands',
    'demo': 'commands',
}

# Which layers each layer's modules may import.  Commands import anything.
MAY_IMPORT = {
    'core': {'core'},
    'options': {'core', 'options'},
    # The adapters, each of which may import those before it.
    'placement-http': {'core', 'placement-http'},
    'files': {'core', 'options', 'files'},
    'discovery': {'core', 'options', 'files', 'discovery'},
    'reporter': {'core', 'options', 'files', 'discovery', 'reporter',
                 'placement-http'},
    'planning-reads': {'core', 'options', 'files', 'discovery', 'reporter',
                       'placement-http', 'planning-reads'},
    # Inside nova-scheduler: its own option group and the Placement
    # reader's HTTP side, nothing of the reporter's or of discovery.
    'scheduler': {'core', 'conf.filter', 'placement-http', 'scheduler'},
    # Inside nova-api.
    'api': {'core', 'api'},
    'commands': None,
}

# Outside libraries that are only imported by the layers named.
OUTSIDE = {
    # Nova's processes: the filter, the extra spec validators, and the
    # demo, which runs the filter with Nova's HostState.
    'nova': {'scheduler', 'api', 'commands'},
    'placement': {'commands'},
    'pyudev': {'discovery'},
    'openstack': {'placement-http', 'reporter', 'scheduler',
                  'planning-reads', 'commands'},
    'keystoneauth1': {'options', 'placement-http', 'reporter', 'scheduler',
                      'planning-reads', 'commands'},
    'requests': {'placement-http', 'reporter', 'planning-reads',
                 'commands'},
    'oslo_config': {'options', 'reporter', 'discovery', 'commands'},
}

# What the core does not import: I/O, processes, threads, clocks, logging.
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
            elif layer == 'core' and (imported in CORE_FORBIDDEN or
                                      top in CORE_FORBIDDEN):
                found.append('%s (core, line %d) imports %s: the core does '
                             'no I/O' % (where, line, imported))
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
    # The rule is only as good as the walk: a core module that imports
    # the reporter, relatively and inside a function, is caught.
    fake = tmp_path / ROOT
    (fake / 'reporter').mkdir(parents=True)
    (fake / '__init__.py').write_text('')
    (fake / 'reporter' / '__init__.py').write_text('')
    (fake / 'reporter' / 'sync.py').write_text('')
    (fake / 'traits.py').write_text(
        'def f():\n    from .reporter import sync\n    import time\n')
    monkeypatch.setattr(sys.modules[__name__], 'PACKAGE', fake)
    found = violations()
    assert any('nova_vfio_compat.model.traits (core, line 2) imports '
               'nova_vfio_compat.reporter.sync (reporter)' in v
               for v in found), found
    assert any('line 3) imports time' in v for v in found), found


@pytest.mark.parametrize('module', sorted(OUTSIDE))
def test_outside_libraries_in_the_table_are_imported_somewhere(module):
    imported = {i.split('.')[0] for relative, path in _modules()
                for _, i in _imports(relative, path)}
    assert module in imported
