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

import gc
import os

from hypothesis import HealthCheck
from hypothesis import settings
from openstack import warnings as sdk_warnings

# "dev" is quick for local iteration; CI (tools/run-tests.sh) selects "ci".
# A property runs max_examples; the central equivalence properties
# (tests.budget.central) five times as many: 1,000 pairs under "ci".
settings.register_profile('dev', max_examples=40, deadline=None)
settings.register_profile(
    'ci', max_examples=200, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'dev'))


# Python's cyclic garbage collector walks every tracked object of the
# generations it collects; Nova, Placement and their imports leave a few
# hundred thousand, walked again and again in every test process.  After
# collection (when the test modules and what they import are loaded) they
# are frozen out of its reach, and the first generation collects less
# often: about 7% of the CPU time of Nova harness tests, measured with
# and without in turn.  Objects are still freed by their reference
# counts as they were; only cycles wait longer.
GC_THRESHOLD = (50000, 20, 20)


def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def pytest_configure(config):
    # openstacksdk warns about its own internals on every call; they say
    # nothing about this project and drown what does.  The classes are
    # only in openstacksdk 4.x: the oldest supported release's has none.
    for name in ('RemovedInSDK50Warning', 'RemovedInSDK60Warning'):
        if hasattr(sdk_warnings, name):
            config.addinivalue_line(
                'filterwarnings', 'ignore::openstack.warnings.%s' % name)
