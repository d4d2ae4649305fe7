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

"""How many examples a hypothesis property gets.

Every property runs the profile's ``max_examples`` (tests/conftest.py).
The few equivalence properties the design rests on, where a wrong answer
for one rare pair is the bug (the rules against the traits, the filter's
decision against the rule engine, the dyadic cover on wide ranges), are
marked :func:`central` and run five times as many; the filter's decision
against the rule engine, which rests on them, twice as many
(:func:`downstream`). The others check
consequences of those (planning, publication, fuzzing the loaders) and
would repeat the same pairs at a cost that made the suite take twenty
minutes.
"""

from hypothesis import settings

CENTRAL_FACTOR = 5


# The filter's decision against the rule engine: the rare pairs are the
# traits' (held to the rules by the central properties); what is
# left to it is the filter's set logic over them, which a broken rule or
# cover block fails at 400 examples as at 1,000.
DOWNSTREAM_FACTOR = 2


def downstream(test):
    """Give ``test`` twice the profile's examples.

    For an equivalence that rests on a central one: the filter's
    decision or its PCI pools against the rule engine, whose rare pairs
    are those the central properties of the rules and the traits already
    draw five times as many of. Put it above ``@given``.
    """
    return settings(
        max_examples=DOWNSTREAM_FACTOR * settings.default.max_examples)(test)


def central(test):
    """Give ``test`` five times the profile's examples.

    Put it above ``@given``; a test with its own ``@settings`` passes
    them here instead (``settings`` cannot be applied twice).
    """
    return settings(
        max_examples=CENTRAL_FACTOR * settings.default.max_examples)(test)
