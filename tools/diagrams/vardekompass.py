"""Writes processes/vardekompass.bpmn: the Värdekompass questionnaires of a pilot (engine/features/pilots.py).

Started by `Pilots.send_questionnaires` for a discharged case (its parent): one short questionnaire per party's staff
(form vardekompass_personal) and, when the case's own version has no such step, one for the person (form
lamna_upplevelse, registered by the fast vårdkontakt with the person). Each question is asked only when the pilot asks
it (fraga_personalen, fraga_den_enskilde); an unanswered questionnaire closes after 14 days.

Run: .venv/bin/python tools/diagrams/vardekompass.py (only this diagram; generate.py writes the three processes).
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bpmnlayout import Diagram  # noqa: E402
from generate import OUT, A  # noqa: E402

PILOTS = "Region Jönköpings län, A3 Vårdsamordning 2017 (pilot och värdekompass)"
PARTIES = [
    ("sv", "Slutenvård", "Vårdplanerare / avdelningssjuksköterska"),
    ("rp", "Region primärvård", "Vårdsamordnare, vårdcentral"),
    ("kh", "Kommun hemsjukvård", "Sjuksköterska i hemsjukvården"),
    ("ks", "Kommun socialtjänst", "Biståndshandläggare"),
]


def vardekompass() -> Diagram:
    d = Diagram(
        "vardekompass",
        "Värdekompass efter utskrivning",
        [(key, name, 2) for key, name, _ in PARTIES] + [("de", "Den enskilde", 2)],
        documentation="Korta frågor efter utskrivningen till personalen hos varje part och till den enskilde, för "
        "jämförelsen mellan en pilot och övriga enheter. Startas av implementeringsteamet från pilotens sida för "
        "utskrivna ärenden; obesvarade frågor stängs efter 14 dagar.",
    )
    d.add("start_vardekompass", "start", "Ärendet är utskrivet", "rp", 0)
    d.add("split_vardekompass", "pgw", "Fråga parterna", "rp", 1)
    d.chain("start_vardekompass", "split_vardekompass")
    for key, lane, who in PARTIES:
        gw = d.add(f"gw_personal_{key}", "xgw", "Frågor till personalen?", key, 2)
        A(
            d,
            f"vardekompass_{key}",
            "user",
            f"Värdekompass: {lane}",
            key,
            3,
            form="vardekompass_personal",
            m="Personalens bild av hur samverkan kring utskrivningen fungerade är insamlad.",
            s="Piloten jämförs också med hur det fungerade för dem som gör arbetet.",
            u=who,
            t="Efter utskrivningen",
            l=PILOTS,
        )
        d.add(f"slut_personal_{key}", "end", "Svar lämnat", key, 5)
        d.add(f"slut_ingen_fraga_{key}", "end", "Ingen fråga", key, 3, 1)
        timer = d.add(
            f"tid_personal_{key}",
            "boundary",
            "14 dagar utan svar",
            host=f"vardekompass_{key}",
            slot=0,
            interrupting=True,
            timer=("timeDuration", "P14D"),
            doc="Frågan stängs om den inte besvarats inom 14 dagar.",
        )
        d.add(f"slut_obesvarad_{key}", "end", "Obesvarad", key, 4, 1)
        d.flow("split_vardekompass", gw.id)
        d.flow(gw.id, f"vardekompass_{key}", "Ja", "fraga_personalen == True")
        d.flow(gw.id, f"slut_ingen_fraga_{key}", "Nej", default=True)
        d.flow(f"vardekompass_{key}", f"slut_personal_{key}")
        d.flow(timer.id, f"slut_obesvarad_{key}")
    d.add("gw_den_enskilde", "xgw", "Fråga den enskilde?", "de", 2)
    A(
        d,
        "lamna_upplevelse_vardekompass",
        "user",
        "Berätta om min upplevelse av vårdövergången",
        "de",
        3,
        form="lamna_upplevelse",
        m="Den enskildes upplevelse (värdekompass) är insamlad: delaktig, förberedd, fungerade hemma, stöd, samverkan.",
        s="Patientperspektivet mäts och används i jämförelsen av piloten.",
        u="Den enskilde/närstående (registreras av den fasta vårdkontakten)",
        t="Efter utskrivningen",
        l=PILOTS + "; Patientlag (2014:821)",
    )
    d.add("slut_den_enskilde", "end", "Svar lämnat", "de", 5)
    d.add("slut_ingen_fraga_de", "end", "Ingen fråga", "de", 3, 1)
    timer = d.add(
        "tid_den_enskilde",
        "boundary",
        "14 dagar utan svar",
        host="lamna_upplevelse_vardekompass",
        slot=0,
        interrupting=True,
        timer=("timeDuration", "P14D"),
        doc="Frågan stängs om den inte besvarats inom 14 dagar.",
    )
    d.add("slut_obesvarad_de", "end", "Obesvarad", "de", 4, 1)
    d.flow("split_vardekompass", "gw_den_enskilde")
    d.flow("gw_den_enskilde", "lamna_upplevelse_vardekompass", "Ja", "fraga_den_enskilde == True")
    d.flow("gw_den_enskilde", "slut_ingen_fraga_de", "Nej", default=True)
    d.flow("lamna_upplevelse_vardekompass", "slut_den_enskilde")
    d.flow(timer.id, "slut_obesvarad_de")
    return d


if __name__ == "__main__":
    diagram = vardekompass()
    diagram.write(OUT / "vardekompass.bpmn")
    print(f"{OUT / 'vardekompass.bpmn'} written")
