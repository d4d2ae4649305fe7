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

"""Benchmarks of nova-vfio-compat at fleet scale.

Run them with ``python -m benchmarks --quick`` (CI-sized) or ``python -m
benchmarks --full`` (10,000 candidate hosts, a 1,000-host fleet in a real
Placement); ``--rst`` prints the table the documentation publishes.  Every
result is a ratio of two things measured in the same run, so the numbers
carry from one machine to another.
"""
