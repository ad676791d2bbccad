"""The class-keyed registry of reactions, and aggregates registering their `when_` methods in it."""

from __future__ import annotations

import pytest

from paylinks_events import ContactCreated, MatterOpened, PaymentLinked
from paylinks_runtime.aggregate import Aggregate
from paylinks_runtime.reactions import Reactions

pytestmark = pytest.mark.unit

CONTACT = ContactCreated(firm_id="f", contact_id="c", name="Ann")
MATTER = MatterOpened(firm_id="f", matter_id="m", contact_id="c", name="Estate")


async def test_an_event_reaches_the_handler_of_its_class_and_others_are_ignored() -> None:
    seen: list[tuple[str, str]] = []
    reactions: Reactions[list[tuple[str, str]], object] = Reactions("test")

    @reactions.on(ContactCreated)
    async def contact(into: list[tuple[str, str]], event: ContactCreated) -> None:
        into.append(("contact", event.name))

    assert await reactions.react(seen, CONTACT) is True
    assert await reactions.react(seen, MATTER) is False
    assert seen == [("contact", "Ann")]


def test_the_registry_names_its_events_and_their_topics() -> None:
    reactions: Reactions[None, None] = Reactions("test")
    reactions.on(MatterOpened, ContactCreated)(lambda _, __: None)
    reactions.on(PaymentLinked)(lambda _, __: None)
    assert reactions.event_types == (ContactCreated, MatterOpened, PaymentLinked)
    assert reactions.topics == ("practice.events", "reconciliation.events")


def test_a_second_handler_for_one_event_class_is_refused() -> None:
    reactions: Reactions[None, None] = Reactions("test")
    reactions.on(ContactCreated)(lambda _, __: None)
    with pytest.raises(ValueError, match="already reacts to ContactCreated"):
        reactions.on(ContactCreated)(lambda _, __: None)


def test_only_event_classes_can_be_reacted_to() -> None:
    reactions: Reactions[None, None] = Reactions("test")
    with pytest.raises(TypeError):
        reactions.register(dict, lambda _, __: None)  # type: ignore[arg-type, type-var]


def test_an_aggregate_applies_events_by_the_class_its_when_methods_are_annotated_with() -> None:
    class Matter(Aggregate):
        def __init__(self, aggregate_id: str) -> None:
            super().__init__(aggregate_id)
            self.names: list[str] = []

        def when_MatterOpened(self, event: MatterOpened) -> None:
            self.names.append(event.name)

    matter = Matter.replay("m", [MATTER, CONTACT])  # an event it keeps no state for changes nothing
    assert matter.names == ["Estate"]
    assert matter.version == 2
    assert Matter.appliers.event_types == (MatterOpened,)


def test_a_when_method_named_for_another_event_than_its_annotation_is_refused() -> None:
    with pytest.raises(TypeError, match="name it when_ContactCreated"):

        class Confused(Aggregate):
            def when_MatterOpened(self, event: ContactCreated) -> None:
                pass
