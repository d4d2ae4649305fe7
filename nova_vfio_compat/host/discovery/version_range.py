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

"""Driver version ranges, as capability files write them.

Driver versions are not one scheme: ``550.54.14`` (NVIDIA), ``22.36.1010``
(firmware), ``1.2-k`` or none at all (most in-tree modules).  A version is
therefore compared as the sequence of the numbers in it: ``550.54.14`` is
``(550, 54, 14)`` and sorts below ``(550, 54, 15)`` and ``(551,)``; text
between the numbers is ignored.  ``packaging.version`` was not used because
it refuses most of these strings (PEP 440 only).

A range is one or more comma-separated constraints that must all hold, for
example ``">=550.54, <551"``; the operators are ``==``, ``!=``, ``>=``,
``>``, ``<=`` and ``<``.  A bare version means ``==``.  A device whose
driver version is unknown matches no range.
"""

import operator
import re

# An optional operator and a version that starts with a digit.
_CONSTRAINT_RE = re.compile(
    r'^\s*(==|!=|>=|<=|>|<)?\s*([0-9][^\s,<>=!]*)\s*\Z')
_OPERATORS = {
    '==': operator.eq,
    '!=': operator.ne,
    '>=': operator.ge,
    '>': operator.gt,
    '<=': operator.le,
    '<': operator.lt,
}


class InvalidRange(ValueError):
    """A version range that cannot be parsed; the message says why."""


def version_key(text):
    """The comparable form of a version string: its numbers, in order.

    :raises InvalidRange: when ``text`` holds no number at all.
    """
    numbers = tuple(int(n) for n in re.findall(r'\d+', str(text)))
    if not numbers:
        raise InvalidRange('version %r has no number in it' % (text,))
    # Trailing zeros do not make a version different: 1.2 == 1.2.0.
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers = numbers[:-1]
    return numbers


class VersionRange:
    """A parsed range; ``contains(version)`` says whether it holds."""

    def __init__(self, text):
        self.text = str(text)
        self.constraints = []
        parts = self.text.split(',')
        if not self.text.strip():
            raise InvalidRange('the version range is empty')
        for part in parts:
            match = _CONSTRAINT_RE.match(part)
            if not match:
                raise InvalidRange(
                    '%r is not a version constraint (expected an operator '
                    'such as >= followed by a version)' % part.strip())
            op = match.group(1) or '=='
            self.constraints.append(
                (op, _OPERATORS[op], version_key(match.group(2))))

    def contains(self, version):
        """Does driver version ``version`` (a string or None) fall in it?

        An unknown version (None) never does.
        """
        if version is None:
            return False
        try:
            key = version_key(version)
        except InvalidRange:
            return False
        return all(test(key, bound) for _, test, bound in self.constraints)

    def __repr__(self):
        return 'VersionRange(%r)' % self.text
