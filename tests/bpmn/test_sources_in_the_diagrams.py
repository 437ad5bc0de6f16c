"""Issue 14, point 8: what the sources name and the diagrams lacked, walked through the service layer and restored
from the database after every step (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.bpmn.conftest import ESTHER
from tests.bpmn.test_in_utskrivning import PLANNING, finish
from tests.bpmn.test_sip_and_mobilt_team import SIP_CASE


def test_jonkopings_march_change_no_new_svpl_when_the_need_is_unchanged(walk):
    instance = walk.start("sip", SIP_CASE)
    walk.complete(instance, "identifiera_behov_av_sip", sip_behov=True, nytt_eller_utokat_behov="Nej, oförändrat")
    view = walk.view(instance)
    assert view["status"] == "completed" and view["data"]["sip_utfall"] == "ej_behov"
    other = walk.start("sip", {**SIP_CASE, "personnummer": "19450921-4823"})
    walk.complete(other, "identifiera_behov_av_sip", sip_behov=True, nytt_eller_utokat_behov="Ja, nytt eller utökat")
    assert walk.active(other) == ["erbjuda_sip"]


def test_brytpunktssamtal_short_term_plan_and_dental_certificate_where_relevant(walk):
    instance = walk.admit(ESTHER)
    decisions = {
        **PLANNING,
        "lakemedelsgenomgang_slutenvard": {"brytpunktssamtal_aktuellt": True},
        "forsta_hembesok_hemsjukvard": {"ratt_till_nodvandig_tandvard": True},
    }
    done = walk.run_except(instance, {"besluta_utskrivningsklar"}, decisions)
    assert "brytpunktssamtal" in done
    assert done.index("samordnad_plan_kort_sikt") > done.index("brytpunktssamtal")  # the last step before UK
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.run_except(instance, {"genomfora_utskrivning"}, decisions)
    finish(walk, instance, decisions)
    completed = [h["element_id"] for h in walk.history(instance, "task_completed")]
    assert "intyg_nodvandig_tandvard" in completed


def test_no_brytpunktssamtal_or_certificate_when_not_relevant(walk):
    instance = walk.admit(ESTHER)
    decisions = {
        **PLANNING,
        "lakemedelsgenomgang_slutenvard": {"brytpunktssamtal_aktuellt": False},
        "forsta_hembesok_hemsjukvard": {"ratt_till_nodvandig_tandvard": False},
    }
    done = walk.run_except(instance, {"besluta_utskrivningsklar"}, decisions)
    assert "brytpunktssamtal" not in done
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.run_except(instance, {"genomfora_utskrivning"}, decisions)
    finish(walk, instance, decisions)
    assert "intyg_nodvandig_tandvard" not in [h["element_id"] for h in walk.history(instance, "task_completed")]


def test_a_palliative_readmission_is_excluded_from_the_fokuspatient_follow_up(walk):
    instance = walk.admit(ESTHER)
    decisions = {
        **PLANNING,
        "registrera_inskrivning": {
            "inskrivningsorsak": "Hjärtsvikt",
            "aterinlaggning_inom_30_dagar": True,
            "tidigare_vardtillfalle_id": "VT-0999",
        },
        "bedoma_fokuspatient": {"fokuspatient_undantag": "Palliativ fas"},
    }
    walk.run_except(instance, {"besluta_utskrivningsklar"}, decisions)
    walk.send("utskrivningsklar", ESTHER, utskrivningsklar=True)
    walk.run_except(instance, {"genomfora_utskrivning"}, decisions)
    finish(walk, instance, decisions)
    completed = [h["element_id"] for h in walk.history(instance, "task_completed")]
    assert "bedoma_fokuspatient" in completed and "folja_upp_aterinlaggning" not in completed


def test_every_agreement_states_its_rule_for_psychiatric_tvangsvard_with_the_laws_rule_and_source(process_platform):
    for key in ("nationell", "jonkoping", "goteborg"):
        rule = process_platform.catalog.agreement(key).raw["psykiatrisk_tvangsvard"]
        assert rule["law_rule"] and "2017:612" in rule["source"], key
        assert isinstance(rule["days_after_uk_notice"], int)
    assert "LPT/LRV" in process_platform.catalog.agreement("goteborg").raw["psykiatrisk_tvangsvard"]["source"]
