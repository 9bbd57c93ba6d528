"""An actor's input checked against its input schema, as the platform does when a run starts.

The platform first fills in each top-level property the input leaves out with the property's
`default` (never `prefill`, which is only the Console's form), then validates the result as JSON
Schema (draft 7, what Ajv validates by default), skipping a `null` in a `nullable` field, then makes
the checks of the fields' editors (server/input_schema/editors.py). The first error is the answer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from server.input_schema.editors import editor_errors
from server.input_schema.messages import messages

# Ajv checks `required`, then `additionalProperties`, before each property: its first error is ours.
_FIRST = {"required": 0, "additionalProperties": 1}


@dataclass(frozen=True)
class InputSchema:
    """A schema Apify's rules accept (server/input_schema/rules.py), ready to check inputs."""

    schema: dict[str, Any]
    validator: Any  # jsonschema's Draft7Validator (untyped)

    @classmethod
    def of(cls, schema: dict[str, Any]) -> InputSchema:
        return cls(schema, Draft7Validator(schema))

    @property
    def _fields(self) -> dict[str, Any]:
        fields = self.schema.get("properties")
        return fields if isinstance(fields, dict) else {}

    def with_defaults(self, given: dict[str, Any]) -> dict[str, Any]:
        """The input with every top-level property it leaves out set to the field's `default`."""
        filled = dict(given)
        for name, field in self._fields.items():
            if name not in filled and isinstance(field, dict) and "default" in field:
                filled[name] = copy.deepcopy(field["default"])
        return filled

    def errors(self, value: dict[str, Any]) -> list[str]:
        """Every error in `value` (defaults already filled in), the platform's first first."""
        found = sorted(self.validator.iter_errors(value), key=self._order)
        out = [m for error in found if not self._null_allowed(error, value) for _, m in messages(error)]
        required = self.schema.get("required") or []
        for name, field in self._fields.items():
            if isinstance(field, dict):
                out.extend(editor_errors(name, field, value.get(name), name in required))
        return list(dict.fromkeys(out))

    def _null_allowed(self, error: ValidationError, value: dict[str, Any]) -> bool:
        path = list(error.absolute_path)
        if not path or value.get(path[0], 0) is not None:
            return False
        field = self._fields.get(path[0])
        return isinstance(field, dict) and field.get("nullable") is True

    @staticmethod
    def _order(error: ValidationError) -> int:
        return _FIRST.get(str(error.validator), 2) if not error.absolute_path else 2
