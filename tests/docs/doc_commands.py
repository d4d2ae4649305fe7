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

"""The project's command lines shown in the docs, as data.

Every literal block of ``README.rst`` and ``doc/source`` (``::`` blocks and
``code-block:: console``) is read; a line that starts with one of the
project's commands (after an optional ``$``), joined with its ``\\``
continuations, is an example.  What a ``$`` line's block shows after it,
up to the next ``$`` line, is the output the page claims.

An example whose words include a placeholder (``HOST``, ``DOC``...) or an
optional part (``[--json]``) is a *synopsis*: its options are checked
against the command's parser.  Every other example is run, by
``tests/docs/test_doc_commands.py`` or, for the commands that read this
host's devices through udev, by ``tests/udev/test_doc_commands.py``.
"""

import collections
import glob
import os
import re
import shlex

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PAGES = sorted([os.path.join(REPO, 'README.rst')] + glob.glob(
    os.path.join(REPO, 'doc', 'source', '**', '*.rst'), recursive=True))
PROGRAMS = ('nova-vfio-compat', 'nova-vfio-compat-reporter', 'openstack')
# The commands that discover this host's devices through udev: run under
# umockdev, in the udev test process.
UDEV_COMMANDS = ('devices', 'nova-config', 'provider-config')

Example = collections.namedtuple('Example', 'page line argv shown')

_LITERAL_START = re.compile(r'(::\s*$)|(^\s*\.\. code-block:: '
                            r'(console|shell|bash|none)\s*$)')
_PLACEHOLDER = re.compile(r'^[A-Z][A-Z_]*(=[A-Z][A-Z_]*)?$')


def _indent(line):
    return len(line) - len(line.lstrip())


def literal_blocks(path):
    """The page's literal blocks, dedented.

    ``[(first line number, [(line number, text)])]``.
    """
    with open(path) as f:
        lines = f.read().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not _LITERAL_START.search(line) or '.. code-block:: ' in line \
                and not line.strip().startswith('.. code-block::'):
            i += 1
            continue
        base = _indent(line)
        j = i + 1
        body = []
        while j < len(lines) and (not lines[j].strip()
                                  or _indent(lines[j]) > base):
            body.append((j + 1, lines[j]))
            j += 1
        while body and not body[-1][1].strip():
            body.pop()
        text = [t for _n, t in body if t.strip()]
        if text:
            cut = min(_indent(t) for t in text)
            blocks.append((body[0][0], [(n, t[cut:]) for n, t in body]))
        i = j
    return blocks


def _is_command(text):
    words = text.split()
    if not words:
        return False
    if words[0] == '$':
        words = words[1:]
    if not words or words[0] not in PROGRAMS:
        return False
    # "openstack" only with the plugin's commands
    return words[0] != 'openstack' or 'vfio' in words


def examples(paths=PAGES):
    """Every example command of the pages, in page order."""
    out = []
    for path in paths:
        page = os.path.relpath(path, REPO)
        for _first, body in literal_blocks(path):
            k = 0
            while k < len(body):
                number, text = body[k]
                if not _is_command(text):
                    k += 1
                    continue
                prompt = text.startswith('$ ')
                command = text[2:] if prompt else text
                while command.endswith('\\') and k + 1 < len(body):
                    k += 1
                    command = command[:-1] + ' ' + body[k][1].strip()
                k += 1
                shown = []
                if prompt:
                    while k < len(body) and not body[k][1].startswith('$ '):
                        shown.append(body[k][1])
                        k += 1
                    while shown and not shown[-1].strip():
                        shown.pop()
                out.append(Example(page, number, tuple(shlex.split(
                    command, comments=True)), tuple(shown)))
    return out


def is_synopsis(example):
    return any(_PLACEHOLDER.match(w) or w.startswith('[') or w == '|'
               or w.endswith(']') or w == '...' for w in example.argv)


def command_of(example):
    """The subcommand an example runs (``None`` for the reporter)."""
    argv = list(example.argv)
    if argv[0] == 'nova-vfio-compat-reporter':
        return None
    if argv[0] == 'openstack':
        return ' '.join(w for w in argv if not w.startswith('-')
                        and w in ('vfio', 'compat', 'check', 'traits',
                                  'matrix', 'drain', 'fleet', 'upgrade',
                                  'plan'))
    words = argv[1:]
    while words and words[0].startswith('--'):
        words = words[2:] if '=' not in words[0] else words[1:]
    return words[0] if words else ''


def runs_under_udev(example):
    return (example.argv[0] == 'nova-vfio-compat'
            and command_of(example) in UDEV_COMMANDS)


def matches(shown, printed):
    """Do the printed lines match the page's?

    A ``...`` line stands for any number of lines, a line ending in
    ``...`` for any line that starts with what comes before it.
    """
    shown = [s.rstrip() for s in shown]
    printed = [p.rstrip() for p in printed]

    def match(i, j):
        if i == len(shown):
            return j == len(printed)
        if shown[i].strip() == '...':
            return any(match(i + 1, k) for k in range(j, len(printed) + 1))
        return (j < len(printed) and _line_matches(shown[i], printed[j])
                and match(i + 1, j + 1))
    return match(0, 0)


def _line_matches(shown, printed):
    if shown.endswith('...'):
        return printed.startswith(shown[:-3])
    return shown == printed
