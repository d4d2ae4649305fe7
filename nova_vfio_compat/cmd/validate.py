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

"""``validate``: capability files checked offline, by the reporter's rules.

The checking is :func:`capability_files.check_paths`, which reads each
file as the reporter's discovery does (:func:`capability_files.load_file`).
"""

import sys

from nova_vfio_compat.cmd import common
from nova_vfio_compat.host.discovery import capability_files

EXIT_OK = 0
EXIT_INVALID = common.EXIT_INVALID


def register(subparsers):
    p = subparsers.add_parser(
        'validate',
        help='Check capability files and directories offline.',
        description='Read each capability file (and each file of each '
                    'directory, as the reporter lists [discovery] '
                    'capability_dirs) with the reporter\'s own rules, on '
                    'this machine, without a device or Placement. Exit '
                    'status 0 when all are valid, 2 otherwise, with one '
                    'line per problem naming the file and the place in it.')
    p.add_argument('paths', nargs='+', metavar='PATH',
                   help='a capability file or a directory of them')
    p.set_defaults(func=do_validate)


def do_validate(conf):
    valid, problems = capability_files.check_paths(
        conf.command.paths, conf.discovery.max_document_size)
    for path, entries in valid:
        print('%s: %d entr%s' % (path, entries,
                                 'y' if entries == 1 else 'ies'))
    for problem in problems:
        print('%s: error: %s' % (common.CLI_PROG, problem), file=sys.stderr)
    if problems:
        return EXIT_INVALID
    print('All %d file%s valid.' % (len(valid),
                                    '' if len(valid) == 1 else 's'))
    return EXIT_OK
