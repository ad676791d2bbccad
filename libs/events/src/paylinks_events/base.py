"""The base every event model derives from, and the registry of event types by name.

Defining a subclass with a `topic` registers it: an event type is one model class (see the README).
"""

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

# Every registered event type by its `ce_type` name. Filled by Event.__init_subclass__.
EVENT_TYPES: dict[str, type[Event]] = {}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One event type of the contract.

    Subclasses name their topic, the field that is the aggregate id (the record key) and their schema
    version; defining one registers it under its class name. When a type changes shape, bump
    `schema_version` to N+1 and add a static method `upcast_vN(payload) -> payload` that lifts a stored or
    published version-N payload one step. Unknown fields are ignored on read: consumers are tolerant readers.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    topic: ClassVar[str]
    key_field: ClassVar[str]
    schema_version: ClassVar[int] = 1

    firm_id: str = Field(min_length=1)

    def __init_subclass__(cls, *, register: bool = True, **kwargs: Any) -> None:
        """`register=False` keeps a model out of the registry (a test's throwaway type)."""
        super().__init_subclass__(**kwargs)
        if register:
            register_event_type(cls)

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.key_field))

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def register_event_type(cls: type[Event]) -> type[Event]:
    """Make `cls` decodable by its name. Two types of one name would make records ambiguous: refused."""
    name = cls.type_name()
    known = EVENT_TYPES.get(name)
    if known is not None and known is not cls:
        raise TypeError(f"event type {name} is defined twice ({known.__module__} and {cls.__module__})")
    if not isinstance(cls.__dict__.get("topic", getattr(cls, "topic", None)), str):
        raise TypeError(f"event type {name} names no topic")
    EVENT_TYPES[name] = cls
    return cls
