"""generate.validation.human_message: pydantic errors as one line naming the field and its bounds."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from generate.validation import field_bounds, human_message


class _Exclusive(BaseModel):
    seconds: float = Field(default=1.0, gt=0, le=3600)
    ratio: float = Field(default=0.5, ge=0, lt=1)


def _message(data: dict, field: str) -> str:
    with pytest.raises(ValidationError) as caught:
        _Exclusive.model_validate(data)
    return human_message(caught.value.errors()[0], field, field_bounds(_Exclusive, field))


def test_exclusive_lower_bound_says_more_than_not_at_most():
    assert _message({"seconds": 0}, "seconds") == "seconds must be more than 0 (got 0)"


def test_exclusive_upper_bound_says_less_than():
    assert _message({"ratio": 1}, "ratio") == "ratio must be less than 1 (got 1)"


def test_inclusive_upper_bound_keeps_at_most():
    assert _message({"seconds": 4000}, "seconds").startswith("seconds must be at most 3600")
