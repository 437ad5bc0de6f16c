"""engine/commands/drafts.py on a real database: one draft per user and process, the owner's alone, discarded after a
deploy,
and two saves of a new draft at the same moment (an autosave and the one sent as the tab closes) leave one draft."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from engine.commands.drafts import Drafts
from engine.domain.actors import Actor
from engine.domain.errors import Conflict, Forbidden, NotFound, TooLarge
from engine.platform import Platform
from tests.conftest import OWNER

OTHER_OWNER = Actor("olof", frozenset({"process_owner"}), name="Olof")
NURSE = Actor("vera", frozenset({"vardplanerare"}), frozenset({"SE-ward1"}))


def drafts_of(platform: Platform, max_bytes: int = 10_000) -> Drafts:
    return Drafts(platform.db, platform.clock, platform.policy, max_bytes)


def test_one_draft_per_user_and_process_newest_first_and_only_for_its_owner(platform):
    drafts = drafts_of(platform)
    first, created = drafts.save(OWNER, "p", "<a/>", 1, "P")
    assert created and first["base_version"] == 1
    platform.clock.advance(timedelta(minutes=1))
    again, created = drafts.save(OWNER, "p", "<b/>", 2, "P")
    assert not created and again["id"] == first["id"] and again["xml"] == "<b/>" and again["base_version"] == 2
    platform.clock.advance(timedelta(minutes=1))
    other, _ = drafts.save(OWNER, "q", "<c/>", None)
    theirs, _ = drafts.save(OTHER_OWNER, "p", "<d/>", 1)
    assert [d["process_id"] for d in drafts.list(OWNER)] == ["q", "p"]
    assert [d["id"] for d in drafts.list(OTHER_OWNER)] == [theirs["id"]]
    with pytest.raises(NotFound):
        drafts.get(OTHER_OWNER, first["id"])
    with pytest.raises(NotFound):
        drafts.discard(OTHER_OWNER, first["id"])
    with pytest.raises(Conflict):
        drafts.update(OWNER, other["id"], "p", "<e/>", None)
    with pytest.raises(Forbidden):
        drafts.list(NURSE)
    with pytest.raises(TooLarge):
        drafts.save(OWNER, "p", "x" * 10_001, 1)
    assert drafts.get(OWNER, first["id"])["xml"] == "<b/>"


def test_a_deploy_discards_the_deployers_draft_of_the_process_and_the_one_opened(platform):
    drafts = drafts_of(platform)
    same, _ = drafts.save(OWNER, "p", "<a/>", 1)
    opened, _ = drafts.save(OWNER, "renamed_later", "<b/>", None)
    kept, _ = drafts.save(OWNER, "q", "<c/>", None)
    theirs, _ = drafts.save(OTHER_OWNER, "p", "<d/>", 1)
    assert drafts.discard_deployed(OWNER, "p", opened["id"]) == 2
    assert [d["id"] for d in drafts.list(OWNER)] == [kept["id"]]
    assert drafts.discard_deployed(OWNER, "p", theirs["id"]) == 0  # someone else's draft id is not the deployer's
    assert [d["id"] for d in drafts.list(OTHER_OWNER)] == [theirs["id"]]


def race(platform: Platform) -> None:
    drafts = drafts_of(platform)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def save(xml: str) -> None:
        barrier.wait()
        try:
            results.append(drafts.save(OWNER, "p", xml, 1)[1])
        except Exception as exc:  # noqa: BLE001 - the test reports whatever a save raised
            results.append(exc)

    threads = [threading.Thread(target=save, args=(xml,)) for xml in ("<a/>", "<b/>")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(map(repr, results)) == ["False", "True"], results  # one created it, the other overwrote it
    [draft] = drafts.list(OWNER)
    assert drafts.get(OWNER, draft["id"])["xml"] in {"<a/>", "<b/>"}


def test_two_saves_of_a_new_draft_at_once_leave_one_draft(platform):
    race(platform)


@pytest.mark.postgres
def test_two_saves_of_a_new_draft_at_once_on_postgresql(postgres_platform):
    """Always on PostgreSQL: both transactions see no draft, one insert loses on the unique key and overwrites."""
    race(postgres_platform)
