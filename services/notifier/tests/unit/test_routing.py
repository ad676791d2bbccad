import pytest

from notifier.routing import FIRM_GROUP, group_key, message_id, route

pytestmark = pytest.mark.unit

GROUPS = {FIRM_GROUP: ["office@firm.example"], "bank_account:ba-trust": ["trust@firm.example"]}


def test_the_bank_account_group_wins_over_the_firm_group() -> None:
    [group] = route(GROUPS, "ba-trust")
    assert group.key == "bank_account:ba-trust"
    assert group.emails == ("trust@firm.example",)


def test_other_bank_accounts_fall_back_to_the_firm_group() -> None:
    assert [g.key for g in route(GROUPS, "ba-operating")] == [FIRM_GROUP]
    assert [g.key for g in route(GROUPS, None)] == [FIRM_GROUP]


def test_no_configured_group_routes_nowhere() -> None:
    assert route({}, "ba-trust") == []
    assert route({"bank_account:ba-other": ["x@firm.example"]}, "ba-trust") == []


def test_message_id_is_stable_per_event_and_group() -> None:
    first = message_id("e1", group_key("ba-trust"), "paylinks.example")
    assert first == message_id("e1", group_key("ba-trust"), "paylinks.example")
    assert first != message_id("e1", FIRM_GROUP, "paylinks.example")
    assert first != message_id("e2", group_key("ba-trust"), "paylinks.example")
    assert first.startswith("<e1.")
    assert first.endswith("@paylinks.example>")
    assert ":" not in first
