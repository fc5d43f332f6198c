"""Field tables of the model's structs, computed once per struct type.

``msgspec.structs.fields`` re-evaluates string annotations on every call (about a
millisecond each); the converters look fields up for every table they visit, so
the answer is memoised per type (a pure function of an immutable class).
"""

from __future__ import annotations

import functools

import msgspec


@functools.cache
def struct_fields(struct: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    """``encode_name -> FieldInfo`` in declaration order."""
    return {f.encode_name: f for f in msgspec.structs.fields(struct)}
