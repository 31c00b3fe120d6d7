from core import base_images, schedules, task_scheduling, trigger_store
from core.wiring import _TRIGGER_TABLES


def test_storage_setup_creates_every_table_the_trigger_modules_use() -> None:
    used = {
        base_images.INDEX_TABLE,
        trigger_store.DELIVERIES_TABLE,
        trigger_store.EVENTS_TABLE,
        schedules.TIMERS_TABLE,
        task_scheduling.RUN_KEYS_TABLE,
    }
    assert used == set(_TRIGGER_TABLES)
