"""The deployed diagrams keep every activity's lane, form, deadline and role, and every deadline timer: the table
below is the specification (issue 3), so an edit that loses one of them fails here."""

from __future__ import annotations

import pytest

from tests.bpmn.conftest import DEPLOY_ORDER

# process -> activity -> (lane, form, due, role); a user task's `due` is a deadline key in agreements.json
ACTIVITIES: dict[str, dict[str, tuple[str | None, str | None, str | None, str | None]]] = {
    "in_utskrivning": {
        "vardtillfalle": (None, None, None, None),
        "registrera_inga_behov": ("Slutenvård", None, None, None),
        "fraga_om_samtycke_igen": ("Slutenvård", "samtycke_informationsdelning", None, None),
        "planering_under_vardtiden": (None, None, None, None),
        "mottagande_inskrivningsmeddelande": (None, None, None, None),
        "brytpunktssamtal": ("Slutenvård", "brytpunktssamtal", None, "lakare_slutenvard"),
        "samordnad_plan_kort_sikt": ("Slutenvård", "samordnad_plan_kort_sikt", None, None),
        "registrera_utskrivning_utan_uk": ("Slutenvård", None, None, None),
        "registrera_utskrivningsklar_meddelad": ("Slutenvård", None, None, None),
        "eskalera_informationsoverforing": ("Slutenvård", "hantera_avvikelse", None, "samordnare"),
        "kommunens_forberedelser": (None, None, None, None),
        "intyg_nodvandig_tandvard": ("Kommun hemsjukvård", "intyg_nodvandig_tandvard", None, None),
        "bedoma_fokuspatient": ("Region primärvård", "bedoma_fokuspatient", None, None),
        "registrera_overflyttning": ("Slutenvård", None, None, None),
        "registrera_inskrivning": ("Slutenvård", "registrera_inskrivning", None, None),
        "lanka_tidigare_vardtillfalle": ("Slutenvård", None, None, None),
        "bedoma_behov_efter_utskrivning": ("Slutenvård", "bedoma_behov_efter_utskrivning", None, "lakare_slutenvard"),
        "dokumentera_inga_behov": ("Slutenvård", "dokumentera_inga_behov", None, None),
        "fraga_samtycke": ("Slutenvård", "samtycke_informationsdelning", None, None),
        "dokumentera_utan_samtycke": ("Slutenvård", "dokumentera_utan_samtycke", None, None),
        "skicka_inskrivningsmeddelande": (
            "Slutenvård",
            "skicka_inskrivningsmeddelande",
            "inskrivningsmeddelande",
            None,
        ),
        "eskalera_inskrivningsmeddelande": ("Slutenvård", "hantera_avvikelse", None, "samordnare"),
        "paborja_utskrivningsplanering": ("Slutenvård", "paborja_utskrivningsplanering", None, None),
        "dokumentera_status_och_behov": ("Slutenvård", "dokumentera_status_och_behov", None, None),
        "informera_om_processen": ("Slutenvård", "informera_om_processen", None, None),
        "kvittera_inskrivningsmeddelande_vc": (
            "Region primärvård",
            "kvittera_meddelande",
            "kvittens_inskrivningsmeddelande",
            None,
        ),
        "utse_fast_vardkontakt": ("Region primärvård", "utse_fast_vardkontakt", None, None),
        "dela_befintlig_plan": ("Region primärvård", "dela_befintlig_plan", None, None),
        "aterrapportera_hemsjukvardsinsatser": (
            "Kommun hemsjukvård",
            "aterrapportera_hemsjukvardsinsatser",
            None,
            None,
        ),
        "kvittera_inskrivningsmeddelande_kommun": ("Kommun socialtjänst", "kvittera_meddelande", None, None),
        "kontrollera_folkbokforing_och_insatser": ("Kommun socialtjänst", "kontaktblad_socialtjanst", None, None),
        "vad_ar_viktigt_for_dig": ("Den enskilde", "vad_ar_viktigt_for_dig", None, None),
        "lakemedelsgenomgang_slutenvard": ("Slutenvård", "lakemedelsgenomgang_slutenvard", None, "lakare_slutenvard"),
        "bedoma_lakaruppfoljning": ("Region primärvård", "bedoma_lakaruppfoljning", None, "lakare_primarvard"),
        "enas_om_samordning": ("Region primärvård", "enas_om_samordning", None, None),
        "bedoma_hemsjukvard_rehab_hjalpmedel": (
            "Kommun hemsjukvård",
            "bedoma_hemsjukvard_rehab_hjalpmedel",
            None,
            None,
        ),
        "tidig_kontakt_och_ansokan": ("Kommun socialtjänst", "tidig_kontakt_och_ansokan", None, None),
        "utreda_bistandsbehov": ("Kommun socialtjänst", "utreda_bistandsbehov", None, None),
        "delta_i_planeringen": ("Den enskilde", "delta_i_planeringen", None, None),
        "halla_avstamningsmote": ("Slutenvård", "halla_avstamningsmote", None, None),
        "besluta_utskrivningsklar": ("Slutenvård", "besluta_utskrivningsklar", None, "lakare_slutenvard"),
        "registrera_nytt_planerat_datum": ("Slutenvård", None, None, None),
        "meddela_andrat_utskrivningsdatum": ("Slutenvård", "meddela_andrat_utskrivningsdatum", None, None),
        "skicka_meddelande_utskrivningsklar": ("Slutenvård", "skicka_meddelande_utskrivningsklar", None, None),
        "utskrivningsklar_period": ("Slutenvård", None, None, None),
        "overfora_information": ("Slutenvård", "overfora_information", "informationsoverforing", None),
        "planera_hemtransport": ("Slutenvård", "planera_hemtransport", None, None),
        "genomfora_utskrivning": ("Slutenvård", "genomfora_utskrivning", None, None),
        "starta_betalningsansvar": ("Slutenvård", None, None, None),
        "eskalera_hem_efter_uk": ("Slutenvård", "hantera_avvikelse", None, "samordnare"),
        "registrera_atertagande": ("Slutenvård", None, None, None),
        "meddela_atertagande": ("Slutenvård", "meddela_atertagande", None, None),
        "besluta_ny_utskrivningsklar": ("Slutenvård", "besluta_ny_utskrivningsklar", None, "lakare_slutenvard"),
        "skicka_nytt_meddelande_utskrivningsklar": ("Slutenvård", "skicka_meddelande_utskrivningsklar", None, None),
        "skicka_utskrivningsmeddelande": ("Slutenvård", "skicka_utskrivningsmeddelande", None, None),
        "lamna_utskrivningsinformation": ("Slutenvård", "utskrivningsinformation", None, None),
        "registrera_utskrivning": ("Slutenvård", None, None, None),
        "fatta_bistandsbeslut": ("Kommun socialtjänst", "fatta_bistandsbeslut", None, None),
        "planera_hemtjanst": ("Kommun socialtjänst", "planera_hemtjanst", None, None),
        "planera_forsta_hembesok": ("Kommun hemsjukvård", "planera_forsta_hembesok", None, None),
        "sakerstalla_lakemedel_och_hjalpmedel": ("Kommun hemsjukvård", "sakerstalla_lakemedel_hjalpmedel", None, None),
        "samordnad_individuell_plan": ("Region primärvård", None, None, None),
        "samordna_utan_sip": ("Region primärvård", "samordna_utan_sip", None, None),
        "bekrafta_hemkomst": ("Den enskilde", "bekrafta_hemkomst", None, None),
        "forsta_hembesok_hemsjukvard": ("Kommun hemsjukvård", "forsta_hembesok_hemsjukvard", None, None),
        "starta_hemtjanst": ("Kommun socialtjänst", "starta_hemtjanst", None, None),
        "uppfoljningssamtal": ("Region primärvård", "uppfoljningssamtal", None, None),
        "lakarhembesok": ("Region primärvård", "lakarhembesok", None, "lakare_primarvard"),
        "folja_upp_aterinlaggning": ("Region primärvård", "folja_upp_aterinlaggning", None, None),
        "lamna_upplevelse": ("Den enskilde", "lamna_upplevelse", None, None),
        "avsluta_samverkan": ("Slutenvård", None, None, None),
        "registrera_dodsfall": ("Slutenvård", None, None, None),
        "overlamna_till_mottagande_sjukhus": ("Slutenvård", "overlamning_annat_sjukhus", None, None),
    },
    "sip": {
        "identifiera_behov_av_sip": ("Region primärvård", "identifiera_behov_av_sip", None, None),
        "registrera_ingen_sip": ("Region primärvård", None, None, None),
        "erbjuda_sip": ("Region primärvård", "erbjuda_sip", None, None),
        "planera_enligt_enskildes_basta": ("Region primärvård", "planera_enligt_enskildes_basta", None, None),
        "registrera_sip_avbojd": ("Region primärvård", None, None, None),
        "forbereda_med_den_enskilde": ("Den enskilde", "forbereda_sip", None, None),
        "kalla_till_sip": ("Region primärvård", "kalla_till_sip", "kallelse_sip", None),
        "eskalera_kallelse_sip": ("Region primärvård", "hantera_avvikelse", None, "samordnare"),
        "bekrafta_deltagande_slutenvard": ("Slutenvård", "bekrafta_deltagande", None, None),
        "bekrafta_deltagande_hemsjukvard": ("Kommun hemsjukvård", "bekrafta_deltagande", None, None),
        "bekrafta_deltagande_socialtjanst": ("Kommun socialtjänst", "bekrafta_deltagande", None, None),
        "genomfora_sip_mote": ("Region primärvård", "genomfora_sip_mote", "svpl_efter_utskrivning", None),
        "eskalera_sip_mote": ("Region primärvård", "hantera_avvikelse", None, "samordnare"),
        "uppratta_plan": ("Region primärvård", "uppratta_sip", None, None),
        "lamna_kopia_till_den_enskilde": ("Region primärvård", "lamna_kopia", None, None),
        "ta_del_av_planen": ("Den enskilde", "ta_del_av_planen", None, None),
        "genomfora_insatser_region": ("Region primärvård", "genomfora_insatser", None, None),
        "genomfora_insatser_hemsjukvard": ("Kommun hemsjukvård", "genomfora_insatser", None, None),
        "genomfora_insatser_socialtjanst": ("Kommun socialtjänst", "genomfora_insatser", None, None),
        "genomfora_egen_del": ("Den enskilde", "genomfora_egen_del", None, None),
        "folja_upp_sip": ("Region primärvård", "folja_upp_sip", None, None),
        "avsluta_sip": ("Region primärvård", "avsluta_sip", None, None),
        "registrera_sip_avslutad": ("Region primärvård", None, None, None),
    },
    "mobilt_team": {
        "begara_mobilt_team": ("Kommun hemsjukvård", "begara_mobilt_team", None, None),
        "direktinlaggning_korttid": ("Kommun socialtjänst", "direktinlaggning_korttid", None, None),
        "avsluta_teamet_vid_dodsfall": ("Region primärvård", "avsluta_teamet_vid_dodsfall", None, None),
        "bedoma_fortsatt_team_efter_vardtillfalle": ("Region primärvård", "bedoma_fortsatt_team", None, None),
        "godkanna_begaran": ("Region primärvård", "godkanna_begaran", None, "lakare_primarvard"),
        "meddela_avslag": ("Kommun hemsjukvård", "meddela_avslag", None, None),
        "bedoma_kriterier": ("Region primärvård", "bedoma_kriterier", None, None),
        "rakna_kriterier": ("Region primärvård", None, None, None),
        "meddela_kriterier_ej_uppfyllda": ("Region primärvård", "meddela_kriterier_ej_uppfyllda", None, None),
        "samtycke_mobilt_team": ("Den enskilde", "samtycke_mobilt_team", None, None),
        "registrera_avbojt": ("Region primärvård", None, None, None),
        "inskriva_i_mobilt_team": ("Region primärvård", "inskriva_i_mobilt_team", None, None),
        "samordnad_individuell_plan": ("Region primärvård", None, None, None),
        "forsta_gemensamma_hembesok": (
            "Region primärvård",
            "forsta_gemensamma_hembesok",
            "mobilt_team_forsta_besok",
            "lakare_primarvard",
        ),
        "eskalera_forsta_besok": ("Region primärvård", "hantera_avvikelse", None, "samordnare"),
        "uppratta_vardplan": ("Region primärvård", "uppratta_vardplan_mobilt_team", None, None),
        "satt_rondintervall": ("Region primärvård", None, None, None),
        "folja_personen_i_teamet": ("Region primärvård", "folja_personen", None, None),
        "hembesoksrond": ("Kommun hemsjukvård", "hembesoksrond", None, None),
        "bedoma_akut_i_hemmet": ("Region primärvård", "bedoma_akut_i_hemmet", None, "lakare_primarvard"),
        "atgarda_i_hemmet": ("Kommun hemsjukvård", "atgarda_i_hemmet", None, None),
        "direktinlaggning": ("Region primärvård", "direktinlaggning", None, "lakare_primarvard"),
        "ta_emot_direktinlaggning": ("Slutenvård", "ta_emot_direktinlaggning", None, None),
        "utvardera_insatser": ("Region primärvård", "utvardera_insatser", None, None),
        "skriva_ut_fran_teamet": ("Region primärvård", "skriva_ut_fran_teamet", None, None),
        "overlamna_till_ordinarie_vc": ("Region primärvård", "overlamna_till_ordinarie_vc", None, None),
    },
}

# process -> timer boundary event -> (activity it guards, deadline key, records an avvikelse, escalation task)
DEADLINE_TIMERS: dict[str, dict[str, tuple[str, str, bool, str | None]]] = {
    "in_utskrivning": {
        "tid_informationsoverforing": (
            "overfora_information",
            "informationsoverforing",
            True,
            "eskalera_informationsoverforing",
        ),
        "tid_inskrivningsmeddelande": (
            "skicka_inskrivningsmeddelande",
            "inskrivningsmeddelande",
            True,
            "eskalera_inskrivningsmeddelande",
        ),
        "tid_hem_efter_uk": ("utskrivningsklar_period", "hem_efter_uk", True, "eskalera_hem_efter_uk"),
        "tid_betalningsansvar": ("utskrivningsklar_period", "betalningsansvar", False, None),
    },
    "sip": {
        "tid_kallelse_sip": ("kalla_till_sip", "kallelse_sip", True, "eskalera_kallelse_sip"),
        "tid_svpl_efter_utskrivning": ("genomfora_sip_mote", "svpl_efter_utskrivning", True, "eskalera_sip_mote"),
    },
    "mobilt_team": {
        "tid_mobilt_team_forsta_besok": (
            "forsta_gemensamma_hembesok",
            "mobilt_team_forsta_besok",
            True,
            "eskalera_forsta_besok",
        ),
    },
}
ACTIVITY_TYPES = {"userTask", "scriptTask", "callActivity", "subProcess", "manualTask", "serviceTask", "task"}


def own_elements(platform, process_id):
    elements = platform.reports.definition(process_id)["elements"]
    # a definition also carries the elements of the processes it calls (sip inside in_utskrivning): leave those out
    return {k: v for k, v in elements.items() if v.get("process", process_id) == process_id}


@pytest.mark.parametrize("process_id", DEPLOY_ORDER)
def test_every_activity_keeps_its_lane_form_deadline_and_role(process_platform, process_id):
    elements = own_elements(process_platform, process_id)
    activities = {k: v for k, v in elements.items() if v["type"] in ACTIVITY_TYPES}
    assert sorted(activities) == sorted(ACTIVITIES[process_id])
    for element_id, (lane, form, due, role) in ACTIVITIES[process_id].items():
        info = activities[element_id]
        props = info.get("properties") or {}
        assert (info.get("lane"), props.get("form"), props.get("due"), props.get("role")) == (lane, form, due, role), (
            element_id
        )
        if info["type"] == "userTask":
            assert form and process_platform.catalog.has_form(form), element_id
        if due:
            assert process_platform.catalog.known_deadline(due), element_id
        for key in ("mal", "syfte", "utforare", "tidpunkt", "lagrum"):
            assert props.get(key), f"{element_id} has no {key}"


@pytest.mark.parametrize("process_id", DEPLOY_ORDER)
def test_every_deadline_timer_guards_its_activity_with_the_agreed_key(process_platform, process_id):
    elements = own_elements(process_platform, process_id)
    timers = {
        k: v
        for k, v in elements.items()
        if v["type"] == "boundaryEvent" and (v.get("timer") or {}).get("expression", "").startswith("deadline(")
    }
    assert sorted(timers) == sorted(DEADLINE_TIMERS[process_id])
    for timer_id, (attached_to, key, deviation, escalation) in DEADLINE_TIMERS[process_id].items():
        info = timers[timer_id]
        assert info["attached_to"] == attached_to and info["cancel_activity"] is False
        assert info["timer"]["expression"] == f"deadline('{key}')"
        assert process_platform.catalog.known_deadline(key)
        assert bool((info.get("properties") or {}).get("avvikelse")) is deviation
        if escalation:
            target = elements[escalation]
            assert target["properties"]["role"] == "samordnare"
            assert target["properties"]["form"] == "hantera_avvikelse"
