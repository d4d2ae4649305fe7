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

"""Live-migration compatibility of VFIO devices, as Placement traits.

One package per layer (doc/source/contributor/architecture.rst, whose
table ``layers.csv`` the import-rule test reads):

* pure: :mod:`.model` (capability documents, the reference rules, their
  compiled form as traits, devices and what is published of them),
  :mod:`.planning` (maintenance planning), :mod:`.placement` (Placement's
  answers, the one reader, the version check) and :mod:`.selection` (the
  scheduler filter's test, without Nova);
* options: :mod:`.conf`;
* I/O: :mod:`.placement.sessions`, :mod:`.host` (files, discovery,
  nova-compute's configuration), :mod:`.planning_reads`, and the adapters
  :mod:`.reporter`, :mod:`.scheduler` (the Nova filter) and :mod:`.api`;
* commands: :mod:`.cmd` and :mod:`.demo`.
"""
