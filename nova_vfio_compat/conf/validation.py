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

"""Every configured value checked once, at start-up.

oslo.config parses a value from a file only when the option is first
read, so a bad value would otherwise surface in the middle of the work,
once per device, as a traceback.  :func:`check` reads every registered
option once, right after the files are parsed.
"""

from oslo_config import cfg


class InvalidOption(ValueError):
    """A configured value that cannot be used; the message names it."""


def _describe(error):
    # oslo.config's message names the option but not its group, and
    # repeats where the value came from; keep the part that says why.
    text = str(error)
    marker = 'is not valid: '
    if marker in text:
        text = text.split(marker, 1)[1]
    return ' '.join(text.split())


def check(conf):
    """Read every option registered on ``conf``.

    :raises InvalidOption: naming ``[group] option`` for the first value
        that oslo.config cannot parse or that is out of its bounds.
    """
    for key in sorted(conf):
        try:
            value = conf[key]
        except (cfg.Error, ValueError) as e:
            raise InvalidOption('[DEFAULT] %s: %s' % (key, _describe(e)))
        if not isinstance(value, cfg.ConfigOpts.GroupAttr):
            continue
        for name in sorted(value):
            try:
                value[name]
            except (cfg.Error, ValueError) as e:
                raise InvalidOption('[%s] %s: %s'
                                    % (key, name, _describe(e)))
