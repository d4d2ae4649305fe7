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

"""Validators a reader could use for allocation candidates instead.

``drain`` checks the whole of each allocation-candidates answer it reads
(:data:`nova_vfio_compat.placement.answers.ALLOCATION_CANDIDATES`) with a
check written by hand.  The benchmark times it against the libraries
that could do the work: jsonschema, the reference that writes a
refusal's message (:func:`nova_vfio_compat.model.records.validate`), and
pydantic-core, a validator compiled in Rust that OpenStack's newer
upper-constraints pin (2025.2 on; 2024.1 and 2025.1 do not have it, so
the project could not require it).  pydantic-core's schema here is the
same shape: the same types, patterns and bounds.  Neither library
expresses that a candidate names only providers the summaries describe,
so both are timed without that test (which makes them cheaper, not
dearer).
"""

from nova_vfio_compat.model import records
from nova_vfio_compat.placement import answers
from nova_vfio_compat.placement import reader

try:
    from pydantic_core import core_schema
    from pydantic_core import SchemaValidator
except ImportError:  # pragma: no cover - a test requirement
    SchemaValidator = None


def _pattern(pattern):
    """A pattern of :mod:`answers` for Rust's regex (``\\Z`` is ``$``)."""
    if not pattern.endswith('\\Z'):
        raise ValueError('unanchored pattern %r' % pattern)
    return pattern[:-2] + '$'


def pydantic_candidates():
    """pydantic-core's validator of ALLOCATION_CANDIDATES, or None.

    ``strict`` everywhere: JSON's types, no coercion (``"1"`` is no
    integer, ``true`` no integer either, as for jsonschema).
    """
    if SchemaValidator is None:
        return None
    cs = core_schema
    uuid = cs.str_schema(pattern=_pattern(answers.UUID['pattern']),
                         strict=True)
    name = cs.str_schema(pattern=_pattern(answers.NAME['pattern']),
                         min_length=1, strict=True)
    amount = cs.int_schema(ge=0, le=answers.COUNT_MAX, strict=True)

    def fields(**required):
        return cs.typed_dict_schema(
            {key: cs.typed_dict_field(value)
             for key, value in required.items()},
            extra_behavior='ignore', strict=True)

    resource = fields(capacity=amount, used=amount)
    summary = fields(
        resources=cs.dict_schema(name, resource, strict=True),
        traits=cs.list_schema(name, strict=True),
        root_provider_uuid=uuid)
    request = fields(
        allocations=cs.dict_schema(strict=True),
        mappings=cs.dict_schema(cs.str_schema(strict=True),
                                cs.list_schema(strict=True), strict=True))
    return SchemaValidator(fields(
        allocation_requests=cs.list_schema(request, strict=True),
        provider_summaries=cs.dict_schema(uuid, summary, strict=True)))


def checks(url, microversion):
    """``[(name, check(body) -> bool, or None)]``: each validator.

    The project's is what ``drain``'s reader applies to the answer to
    ``GET url`` (:func:`reader.check_route`); a check is None where its
    library is not installed.
    """
    pydantic = pydantic_candidates()

    def project(body):
        try:
            reader.check_route('allocation candidates', url, body,
                               microversion)
        except answers.MalformedAnswer:
            return False
        return True
    return [
        ('the project\'s (written by hand)', project),
        ('jsonschema (the reference)', _jsonschema),
        ('pydantic-core (compiled, Rust)',
         None if pydantic is None else pydantic.isinstance_python),
    ]


def _jsonschema(body):
    try:
        records.validate(body, answers.ALLOCATION_CANDIDATES, 'benchmark')
    except records.InvalidDocument:
        return False
    return True
