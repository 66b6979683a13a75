import uuid

from webhook_kit.ids import new_delivery_id


def test_a_delivery_id_is_a_canonical_version_4_uuid() -> None:
    for _ in range(1000):
        text = new_delivery_id()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_delivery_ids_do_not_repeat() -> None:
    ids = {new_delivery_id() for _ in range(10_000)}
    assert len(ids) == 10_000
