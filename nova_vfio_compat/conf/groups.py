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

"""Registering an option group on more than one ConfigOpts, and the
defaults of a group for code that runs without one."""

from oslo_config import cfg


def register(conf, group, opts):
    """Register ``opts`` under a fresh copy of ``group`` on ``conf``.

    ``ConfigOpts.register_group()`` keeps a shallow copy of the group it is
    given, whose option table (where overrides and defaults live) is shared
    with that group.  With one module-level group, an override set on one
    ConfigOpts would show in every other one; the CLI and the tests create
    several.
    """
    fresh = cfg.OptGroup(group.name, title=group.title, help=group.help)
    conf.register_group(fresh)
    conf.register_opts(opts, group=fresh)


def defaults(opts):
    """``{option name: default}`` of ``opts``.

    Code that can run without a ConfigOpts (a library call, a test) takes
    its defaults from here, so that each default is stated once, in its
    option.
    """
    return {opt.dest: opt.default for opt in opts}
