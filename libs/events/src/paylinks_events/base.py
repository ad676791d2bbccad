"""The base every event model derives from, and the registry of event types by name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
MinorUnits = Annotated[int, Field(strict=True, description="integer minor units: 12500 = 125.00")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One event type of the contract.

    Subclasses name their topic, the field that is the aggregate id (the record key) and
    their schema version. Unknown fields are ignored on read: consumers are tolerant readers.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    topic: ClassVar[str]
    key_field: ClassVar[str]
    schema_version: ClassVar[int] = 1

    firm_id: str = Field(min_length=1)

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
