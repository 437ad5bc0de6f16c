"""The figures against a fixture of hand-made histories whose figures are computed by hand below.

32 in_utskrivning cases in three kommuner and two months (January and February 2026): Eksjö and Nässjö under the
Jönköping agreement (betalningsansvar as a monthly average, threshold 2.0), Mölndal under the Göteborg agreement
(monthly average 3.0 with an individual rule of 7 days). The fixture writes only history rows and deviations, as the
service layer records them; CaseFactsKeeper.refresh (what Runtime._save calls) derives each case's facts and the
figures are SQL over them. Nothing expected below is computed by code: every number is written out, with its
arithmetic in the comment.

The cases (admission 08:00; UK notice two days later at 10:00; discharge `uk` calendar days after the notice at 11:00;
home one hour after discharge; inskrivningsmeddelande two hours after admission unless said; SIP kallelse one day
after the notice; SIP meeting two days after discharge at 13:00):

| case | kommun  | admitted | age | uk days | notes                                                                  |
|------|---------|----------|-----|---------|------------------------------------------------------------------------|
| E1   | Eksjö   | 5 Jan    | 80  | 1       | 1 moved planned date; SIP offered, accepted, called, held in the home   |
| E2   | Eksjö   | 6 Jan    | 80  | 2       | SIP held in the home                                                   |
| E3   | Eksjö   | 7 Jan    | 80  | 3       | inskrivningsmeddelande after 30 h (late, deviation); SIP at the VC 4   |
|      |         |          |     |         | days after discharge (late, deviation)                                 |
| E4   | Eksjö   | 8 Jan    | 80  | 4       | readmission (fokuspatient)                                             |
| E5   | Eksjö   | 9 Jan    | 80  | 0       | discharged the day of the notice: home 2 h after it                    |
| E6   | Eksjö   | 12 Jan   | 80  | -       | running, no UK yet                                                     |
| E7   | Eksjö   | 2 Feb    | 80  | 3       | SIP held in the home                                                   |
| E8   | Eksjö   | 3 Feb    | 80  | 5       | SIP kallelse 4 days after UK (late, deviation); SIP at the VC          |
| E9   | Eksjö   | 4 Feb    | 65  | 2       | readmission, but 65 is not over 65: no fokuspatient                    |
| E10  | Eksjö   | 5 Feb    | 80  | 1 + 3   | UK withdrawn the next day, new UK 3 days after the first, discharged 3 |
|      |         |          |     |         | days after the new one                                                 |
| E11  | Eksjö   | 6 Feb    | 80  | 2       |                                                                        |
| E12  | Eksjö   | 9 Feb    | 80  | -       | running: UK sent, not discharged                                       |
| N1   | Nässjö  | 5 Jan    | 80  | 2       | SIP held in the home                                                   |
| N2   | Nässjö  | 6 Jan    | 80  | 3       | inskrivningsmeddelande after 26 h (late, deviation); SIP declined      |
| N3   | Nässjö  | 7 Jan    | 60  | 1       | 2 moved planned dates; readmission (60: no fokuspatient)               |
| N4   | Nässjö  | 14 Jan   | 80  | 3       | the weekend: UK Friday 16 Jan, discharged Monday 19 Jan                |
| N5   | Nässjö  | 15 Jan   | 80  | -       | no needs after discharge: no messages, completed                       |
| N6   | Nässjö  | 2 Feb    | 80  | 2       | SIP at the VC, held the day before discharge                           |
| N7-10| Nässjö  | 3-6 Feb  | 80  | 2 each  |                                                                        |
| M1   | Mölndal | 5 Jan    | 80  | 3       | SIP held in the home                                                   |
| M2   | Mölndal | 6 Jan    | 80  | 4       | 1 moved date; SIP kallelse exactly 3 days after UK (in time); home    |
| M3   | Mölndal | 7 Jan    | 80  | 9       | SIP declined; 9 days: the individual rule charges 9 - 7 = 2            |
| M4   | Mölndal | 8 Jan    | 80  | 2       | inskrivningsmeddelande after 23 h 59 min (in time)                     |
| M5   | Mölndal | 9 Jan    | 70  | 3       | readmission (fokuspatient)                                             |
| M6   | Mölndal | 2 Feb    | 80  | 1       | discharged 09:00 next day, home 09:30 (23.5 h); SIP accepted, called,  |
|      |         |          |     |         | not yet held                                                           |
| M7   | Mölndal | 3 Feb    | 80  | 1       | discharged 09:00 next day, home 10:00: exactly 24 h counts as in time  |
| M8   | Mölndal | 4 Feb    | 80  | 8       | individual rule: 8 - 7 = 1                                             |
| M9   | Mölndal | 5 Feb    | 66  | 2       | readmission (fokuspatient)                                             |
| M10  | Mölndal | 6 Feb    | 80  | -       | running, no UK yet                                                     |
Mölndal's cases run on process version 2, the others on version 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.config import PROJECT_ROOT, Settings
from engine.domain.clock import STOCKHOLM, SimulatedClock
from engine.domain.personnummer import luhn_digit
from engine.persistence.models import CaseFact, Deviation, HistoryEntry, ProcessDefinition, ProcessInstance
from engine.platform import Platform, build
from engine.reads.figures import FigureRow, FigureScope
from tests.conftest import truncate_all

PROCESSES = PROJECT_ROOT / "processes"
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
UNITS = {
    "Eksjö": ("jonkoping", "SE2321000057-VCEKSJO", "SE2321000057-HSMEDGER"),
    "Nässjö": ("jonkoping", "SE2321000057-VCNASSJO", "SE2321000057-HSMEDGER"),
    "Mölndal": ("goteborg", "SE2321000131-VCMOLNDAL", "SE2321000131-SUMEDICIN"),
}
IMS_LATE = "Inskrivningsmeddelande ej skickat inom tidsgränsen (24 timmar)"
CALL_LATE = "Kallelse till SIP ej skickad inom tidsgränsen"
SVPL_LATE = "SIP-möte ej genomfört inom tidsgränsen"


@dataclass
class Case:
    name: str
    kommun: str
    admitted: datetime
    age: int = 80
    uk: int | None = None  # calendar days from the notice to discharge; None: not discharged
    ims_after: timedelta | None = timedelta(hours=2)
    has_uk: bool = True
    withdrawal: bool = False
    moves: int = 0
    sip: str | None = None  # None | "declined" | "called" (not held) | "home" | "vc"
    call_after: timedelta = timedelta(days=1)
    held_after_discharge: timedelta = timedelta(days=2, hours=2)
    discharge_time: tuple[int, int] = (11, 0)
    home_after: timedelta = timedelta(hours=1)
    readmission: bool = False
    deviations: list[tuple[str, str]] = field(default_factory=list)
    no_needs: bool = False


def jan(day: int) -> datetime:
    return datetime(2026, 1, day, 8, 0, tzinfo=STOCKHOLM)


def feb(day: int) -> datetime:
    return datetime(2026, 2, day, 8, 0, tzinfo=STOCKHOLM)


CASES = [
    Case("E1", "Eksjö", jan(5), uk=1, moves=1, sip="home"),
    Case("E2", "Eksjö", jan(6), uk=2, sip="home"),
    Case(
        "E3",
        "Eksjö",
        jan(7),
        uk=3,
        ims_after=timedelta(hours=30),
        sip="vc",
        held_after_discharge=timedelta(days=4, hours=2),
        deviations=[("Slutenvård", IMS_LATE), ("Region primärvård", SVPL_LATE)],
    ),
    Case("E4", "Eksjö", jan(8), uk=4, readmission=True),
    Case("E5", "Eksjö", jan(9), uk=0),
    Case("E6", "Eksjö", jan(12), has_uk=False),
    Case("E7", "Eksjö", feb(2), uk=3, sip="home"),
    Case(
        "E8",
        "Eksjö",
        feb(3),
        uk=5,
        sip="vc",
        call_after=timedelta(days=4),
        deviations=[("Region primärvård", CALL_LATE)],
    ),
    Case("E9", "Eksjö", feb(4), age=65, uk=2, readmission=True),
    Case("E10", "Eksjö", feb(5), uk=3, withdrawal=True),
    Case("E11", "Eksjö", feb(6), uk=2),
    Case("E12", "Eksjö", feb(9)),
    Case("N1", "Nässjö", jan(5), uk=2, sip="home"),
    Case(
        "N2",
        "Nässjö",
        jan(6),
        uk=3,
        ims_after=timedelta(hours=26),
        sip="declined",
        deviations=[("Slutenvård", IMS_LATE)],
    ),
    Case("N3", "Nässjö", jan(7), age=60, uk=1, moves=2, readmission=True),
    Case("N4", "Nässjö", jan(14), uk=3),
    Case("N5", "Nässjö", jan(15), ims_after=None, has_uk=False, no_needs=True),
    Case("N6", "Nässjö", feb(2), uk=2, sip="vc", held_after_discharge=-timedelta(days=1)),
    Case("N7", "Nässjö", feb(3), uk=2),
    Case("N8", "Nässjö", feb(4), uk=2),
    Case("N9", "Nässjö", feb(5), uk=2),
    Case("N10", "Nässjö", feb(6), uk=2),
    Case("M1", "Mölndal", jan(5), uk=3, sip="home"),
    Case("M2", "Mölndal", jan(6), uk=4, moves=1, sip="home", call_after=timedelta(days=3)),
    Case("M3", "Mölndal", jan(7), uk=9, sip="declined"),
    Case("M4", "Mölndal", jan(8), uk=2, ims_after=timedelta(hours=23, minutes=59)),
    Case("M5", "Mölndal", jan(9), age=70, uk=3, readmission=True),
    Case("M6", "Mölndal", feb(2), uk=1, sip="called", discharge_time=(9, 0), home_after=timedelta(minutes=30)),
    Case("M7", "Mölndal", feb(3), uk=1, discharge_time=(9, 0), home_after=timedelta(hours=1)),
    Case("M8", "Mölndal", feb(4), uk=8),
    Case("M9", "Mölndal", feb(5), age=66, uk=2, readmission=True),
    Case("M10", "Mölndal", feb(6), has_uk=False),
]


def personnummer(born: date, serial: int) -> str:
    nine = f"{born:%y%m%d}{serial:03d}"
    return f"{born:%Y%m%d}-{serial:03d}{luhn_digit(nine)}"


def history(case: Case, serial: int) -> tuple[list[tuple[datetime, str, str | None, dict[str, Any]]], str]:
    """The history rows the service layer would have recorded for the case, and its status."""
    kommun = case.kommun
    avtal, vc, ward = UNITS[kommun]
    born = date(2026 - case.age, 1, 1)
    start_data = {
        "personnummer": personnummer(born, serial),
        "vardtillfalle_id": f"VT-{case.name}",
        "kommun": kommun,
        "vardcentral_hsa_id": vc,
        "avdelning_hsa_id": ward,
        "avtal": avtal,
        "inskrivningstid": case.admitted.isoformat(),
    }
    rows: list[tuple[datetime, str, str | None, dict[str, Any]]] = []

    def task(at: datetime, element: str, **submitted: Any) -> None:
        rows.append((at, "task_completed", element, {"submitted": submitted, "name": element, "lane": None}))

    def element(at: datetime, element_id: str) -> None:
        rows.append((at, "element_completed", element_id, {"type": "ScriptTask"}))

    rows.append((case.admitted, "started", None, {"data": start_data, "message": "inskrivning"}))
    task(case.admitted + timedelta(minutes=10), "registrera_inskrivning", aterinlaggning_inom_30_dagar=case.readmission)
    if case.no_needs:
        task(case.admitted + timedelta(hours=1), "bedoma_behov_efter_utskrivning", behov_efter_utskrivning=False)
        rows.append((case.admitted + timedelta(hours=2), "completed", None, {}))
        return rows, "completed"
    if case.ims_after is not None:
        task(case.admitted + case.ims_after, "skicka_inskrivningsmeddelande")
    for move in range(case.moves):
        if move % 2 == 0:
            element(case.admitted + timedelta(hours=20 + move), "registrera_nytt_planerat_datum")
        else:
            task(case.admitted + timedelta(hours=20 + move), "meddela_andrat_utskrivningsdatum")
    if not case.has_uk:
        return rows, "running"
    uk_at = (case.admitted + timedelta(days=2)).replace(hour=10)
    if case.name == "N4":  # the weekend case: notice on Friday 16 January
        uk_at = datetime(2026, 1, 16, 10, 0, tzinfo=STOCKHOLM)
    task(uk_at, "skicka_meddelande_utskrivningsklar")
    last_uk = uk_at
    if case.withdrawal:
        element(uk_at + timedelta(days=1, hours=5), "registrera_atertagande")
        last_uk = uk_at + timedelta(days=3)
        task(last_uk, "skicka_nytt_meddelande_utskrivningsklar")
    if case.sip is not None:
        task(uk_at + timedelta(hours=4), "erbjuda_sip", sip_samtycke=case.sip != "declined")
        if case.sip != "declined":
            task(uk_at + case.call_after, "kalla_till_sip", motesplats="I hemmet")
    if case.uk is None:
        return rows, "waiting"
    hour, minute = case.discharge_time
    discharged = (last_uk + timedelta(days=case.uk)).replace(hour=hour, minute=minute)
    if case.name == "N4":
        discharged = datetime(2026, 1, 19, 11, 0, tzinfo=STOCKHOLM)
    rows.append(
        (
            discharged + timedelta(minutes=5),  # recorded a little later; the message carries the moment
            "message_received",
            None,
            {"name": "utskriven", "message_id": f"m-{case.name}", "data": {"utskrivningstid": discharged.isoformat()}},
        )
    )
    element(discharged + timedelta(minutes=5), "registrera_utskrivning")
    if case.sip in ("home", "vc"):
        held = discharged + case.held_after_discharge
        place = "I hemmet" if case.sip == "home" else "På vårdcentralen"
        task(held + timedelta(hours=1), "genomfora_sip_mote", mote_genomfort=held.isoformat(), motesplats=place)
    home = discharged + case.home_after
    task(home + timedelta(days=1), "bekrafta_hemkomst", hemkomst=home.isoformat(), fungerade_som_planerat=True)
    rows.sort(key=lambda r: r[0])
    rows.append((rows[-1][0] + timedelta(days=30), "completed", None, {}))
    return rows, "completed"


@pytest.fixture
def figures_platform(database_url: str) -> Iterator[Platform]:
    settings = Settings(
        database_url=database_url, clock="simulated", processes_dir=PROCESSES, scheduler=False
    ).checked()
    p = build(settings, clock=SimulatedClock(datetime(2026, 3, 10, 8, 0, tzinfo=STOCKHOLM)), migrate=False)
    truncate_all(p.db)
    yield p
    p.close()


def load(p: Platform) -> dict[str, int]:
    """Write the fixture's cases as instances with history rows and deviations; derive each case's facts."""
    now = p.clock.now()
    ids: dict[str, int] = {}
    with p.db.unit_of_work() as session:
        definitions = {}
        for version in (1, 2):
            row = ProcessDefinition(
                process_id="in_utskrivning",
                version=version,
                name="In- och utskrivning",
                xml=b"<definitions/>",
                content_hash=f"h{version}",
                executable=True,
                deployed_by="agnes",
                deployed_at=now,
            )
            session.add(row)
            session.flush()
            definitions[version] = row.id
        for serial, case in enumerate(CASES, start=1):
            rows, status = history(case, serial)
            version = 2 if case.kommun == "Mölndal" else 1
            avtal, vc, ward = UNITS[case.kommun]
            start_data = rows[0][3]["data"]
            instance = ProcessInstance(
                definition_id=definitions[version],
                process_id="in_utskrivning",
                version=version,
                business_key=case.name,
                status=status,
                started_at=case.admitted,
                ended_at=rows[-1][0] if status == "completed" else None,
                updated_at=rows[-1][0],
                started_by="journal",
                data=start_data,
                state="{}",
                serializer_version="test",
                kommun=case.kommun,
                vardcentral=vc,
                avdelning=ward,
            )
            session.add(instance)
            session.flush()
            ids[case.name] = instance.id
            for at, kind, element_id, data in rows:
                session.add(HistoryEntry(instance_id=instance.id, at=at, kind=kind, element_id=element_id, data=data))
            for party, cause in case.deviations:
                session.add(Deviation(instance_id=instance.id, element_id=None, party=party, cause=cause, at=now))
            session.flush()
            p.runtime.case_facts.refresh(session, instance, now)
    return ids


def by_key(rows: list[FigureRow]) -> dict[str | None, FigureRow]:
    return {r.key: r for r in rows}


def value(row: FigureRow, figure: str) -> tuple[float | None, float, float]:
    got = row.figures[figure]
    return got.value, got.numerator, got.denominator


def test_the_total_matches_the_figures_computed_by_hand(figures_platform: Platform) -> None:
    load(figures_platform)
    [total] = figures_platform.figures.compute(FigureScope(JAN, MAR))
    assert total.key is None and total.cases == 32  # 12 Eksjö + 10 Nässjö + 10 Mölndal
    # Utskrivningsklara dagar: discharged cases E1-E5, E7-E11 (10), N1-N4, N6-N10 (9), M1-M9 (9) = 28;
    # days Eksjö 1+2+3+4+0 + 3+5+2+(1+3)+2 = 26, Nässjö 2+3+1+3 + 2*5 = 19, Mölndal 3+4+9+2+3 + 1+1+8+2 = 33: 78
    assert value(total, "utskrivningsklara_dagar") == (pytest.approx(78 / 28), 78, 28)
    # Moved planned dates: E1 1 + N3 2 + M2 1 = 4 among 32 cases; withdrawals: E10 only
    assert value(total, "flyttade_planerade_datum") == (4, 4, 32)
    assert value(total, "aterkallade_uk") == (1, 1, 32)
    # Inskrivningsmeddelanden: sent in 31 cases (all but N5); late E3 (30 h) and N2 (26 h); M4 at 23:59 in time
    assert value(total, "inskrivningsmeddelande_24h") == (pytest.approx(29 / 31), 29, 31)
    # SIP kallelse: called in E1 E2 E3 E7 E8 N1 N6 M1 M2 M6 (10); E8 after 4 days is late, M2 at exactly 3 days is not
    assert value(total, "sip_kallelse_3d") == (pytest.approx(9 / 10), 9, 10)
    # Home within 24 h of the notice the discharge followed: E5 (2 h), M6 (23.5 h), M7 (24 h exactly) of 28 homes
    assert value(total, "hem_24h") == (pytest.approx(3 / 28), 3, 28)
    # SVPL: held in E1 E2 E3 E7 E8 N1 N6 M1 M2 (9); E3 four days after discharge is late; N6 before discharge in time
    assert value(total, "svpl_3d") == (pytest.approx(8 / 9), 8, 9)
    # In the home: E1 E2 E7 N1 M1 M2 = 6 of the 9 held (E3 E8 N6 at the vårdcentral)
    assert value(total, "sip_i_hemmet") == (pytest.approx(6 / 9), 6, 9)
    # SIP offered: E1 E2 E3 E7 E8 N1 N2 N6 M1 M2 M3 M6 = 12; accepted: all but N2 and M3 (declined) = 10; held 9
    assert value(total, "sip_erbjudna") == (12, 12, 32)
    assert value(total, "sip_accepterade") == (10, 10, 12)
    assert value(total, "sip_hallna") == (9, 9, 10)
    # Readmissions: E4 E9 N3 M5 M9 = 5; fokuspatienter (over 65): E4 (80), M5 (70), M9 (66) = 3 (E9 is 65, N3 60)
    assert value(total, "aterinlaggningar_30d") == (5, 5, 32)
    assert value(total, "fokuspatienter") == (3, 3, 32)
    # Deviations: E3 two, E8 one, N2 one
    assert value(total, "avvikelser") == (4, 4, 32)
    # Betalningsansvar per kommun and month (monthly average: max(0, days - threshold * discharged), at least the
    # individual rule's days):
    #   Eksjö Jan  10 days, 5 cases: 10 - 2.0*5 = 0      Eksjö Feb  16 days, 5 cases: 16 - 10 = 6
    #   Nässjö Jan  9 days, 4 cases:  9 - 8      = 1     Nässjö Feb 10 days, 5 cases: 10 - 10 = 0
    #   Mölndal Jan 21 days, 5 cases: 21 - 3.0*5 = 6 (individual rule: M3 9-7 = 2, less)
    #   Mölndal Feb 12 days, 4 cases: 12 - 12 = 0, individual rule M8 8-7 = 1: 1
    # 0 + 6 + 1 + 0 + 6 + 1 = 14 days among 28 discharged; cost 14 * 9 300 kr (2026 price) = 130 200 kr
    assert value(total, "betalningsansvarsdagar") == (14, 14, 28)
    assert value(total, "betalningsansvar_kostnad") == (130_200, 130_200, 14)


def test_per_kommun_matches_the_figures_computed_by_hand(figures_platform: Platform) -> None:
    load(figures_platform)
    rows = by_key(figures_platform.figures.compute(FigureScope(JAN, MAR), "kommun"))
    assert sorted(rows) == ["Eksjö", "Mölndal", "Nässjö"]
    eksjo, nassjo, molndal = rows["Eksjö"], rows["Nässjö"], rows["Mölndal"]
    assert (eksjo.cases, nassjo.cases, molndal.cases) == (12, 10, 10)
    # UK days: Eksjö 26 / 10 discharged; Nässjö 19 / 9; Mölndal 33 / 9
    assert value(eksjo, "utskrivningsklara_dagar") == (pytest.approx(2.6), 26, 10)
    assert value(nassjo, "utskrivningsklara_dagar") == (pytest.approx(19 / 9), 19, 9)
    assert value(molndal, "utskrivningsklara_dagar") == (pytest.approx(33 / 9), 33, 9)
    # Betalningsansvarsdagar: Eksjö 0 + 6, Nässjö 1 + 0, Mölndal 6 + 1; cost at 9 300 kr
    assert value(eksjo, "betalningsansvarsdagar") == (6, 6, 10)
    assert value(nassjo, "betalningsansvarsdagar") == (1, 1, 9)
    assert value(molndal, "betalningsansvarsdagar") == (7, 7, 9)
    assert value(eksjo, "betalningsansvar_kostnad")[0] == 55_800  # 6 * 9 300
    assert value(nassjo, "betalningsansvar_kostnad")[0] == 9_300  # 1 * 9 300
    assert value(molndal, "betalningsansvar_kostnad")[0] == 65_100  # 7 * 9 300
    # Inskrivningsmeddelande in time: Eksjö 11 of 12 (E3 late), Nässjö 8 of 9 (N2 late, N5 none), Mölndal 10 of 10
    assert value(eksjo, "inskrivningsmeddelande_24h")[1:] == (11, 12)
    assert value(nassjo, "inskrivningsmeddelande_24h")[1:] == (8, 9)
    assert value(molndal, "inskrivningsmeddelande_24h") == (1.0, 10, 10)
    # SIP: Eksjö offered 5, accepted 5, called 5 (E8 late: 4 in time), held 5 (E3 late: 4 in time), home 3 (E1 E2 E7)
    assert [value(eksjo, f)[:2] for f in ("sip_erbjudna", "sip_accepterade", "sip_hallna")] == [(5, 5), (5, 5), (5, 5)]
    assert value(eksjo, "sip_kallelse_3d")[1:] == (4, 5)
    assert value(eksjo, "svpl_3d")[1:] == (4, 5)
    assert value(eksjo, "sip_i_hemmet")[1:] == (3, 5)
    # Nässjö: offered N1 N2 N6 = 3, accepted N1 N6 = 2 (N2 declined), held 2, home N1 = 1 of 2
    assert value(nassjo, "sip_accepterade") == (2, 2, 3)
    assert value(nassjo, "sip_i_hemmet") == (0.5, 1, 2)
    # Mölndal: offered M1 M2 M3 M6 = 4, accepted 3 (M3 declined), held M1 M2 = 2 of 3, both in the home
    assert value(molndal, "sip_hallna") == (2, 2, 3)
    assert value(molndal, "sip_i_hemmet") == (1.0, 2, 2)
    # Home within 24 h: Eksjö E5 of 10, Nässjö none of 9, Mölndal M6 M7 of 9
    assert value(eksjo, "hem_24h")[1:] == (1, 10)
    assert value(nassjo, "hem_24h") == (0.0, 0, 9)
    assert value(molndal, "hem_24h")[1:] == (2, 9)
    # Readmissions / fokuspatienter: Eksjö E4 E9 / E4; Nässjö N3 / none; Mölndal M5 M9 / both
    assert [value(r, "aterinlaggningar_30d")[0] for r in (eksjo, nassjo, molndal)] == [2, 1, 2]
    assert [value(r, "fokuspatienter")[0] for r in (eksjo, nassjo, molndal)] == [1, 0, 2]
    # Moves: E1 1, N3 2, M2 1; withdrawals: E10; deviations: E3 2 + E8 1, N2 1, none
    assert [value(r, "flyttade_planerade_datum")[0] for r in (eksjo, nassjo, molndal)] == [1, 2, 1]
    assert [value(r, "aterkallade_uk")[0] for r in (eksjo, nassjo, molndal)] == [1, 0, 0]
    assert [value(r, "avvikelser")[0] for r in (eksjo, nassjo, molndal)] == [3, 1, 0]


def test_per_month_matches_the_figures_computed_by_hand(figures_platform: Platform) -> None:
    load(figures_platform)
    rows = figures_platform.figures.compute(FigureScope(JAN, MAR), "month")
    assert [(r.key, r.cases) for r in rows] == [("2026-01", 16), ("2026-02", 16)]  # 6+5+5 and 6+5+5
    january, february = rows
    # UK days: January Eksjö 10 + Nässjö 9 + Mölndal 21 = 40 over 5 + 4 + 5 = 14; February 16 + 10 + 12 = 38 over 14
    assert value(january, "utskrivningsklara_dagar") == (pytest.approx(40 / 14), 40, 14)
    assert value(february, "utskrivningsklara_dagar") == (pytest.approx(38 / 14), 38, 14)
    # Betalningsansvar: January 0 + 1 + 6 = 7, February 6 + 0 + 1 = 7; 7 * 9 300 = 65 100 kr each
    assert value(january, "betalningsansvarsdagar") == (7, 7, 14)
    assert value(february, "betalningsansvar_kostnad")[0] == 65_100
    # Inskrivningsmeddelanden: January 15 sent (N5 none), E3 and N2 late: 13; February 16 of 16
    assert value(january, "inskrivningsmeddelande_24h")[1:] == (13, 15)
    assert value(february, "inskrivningsmeddelande_24h") == (1.0, 16, 16)
    # SIP January: offered E1 E2 E3 N1 N2 M1 M2 M3 = 8, accepted 6, held 6 (home 5: not E3), svpl 5 of 6 (E3 late),
    # called 6, all in time
    assert [value(january, f)[0] for f in ("sip_erbjudna", "sip_accepterade", "sip_hallna")] == [8, 6, 6]
    assert value(january, "sip_i_hemmet")[1:] == (5, 6)
    assert value(january, "svpl_3d")[1:] == (5, 6)
    assert value(january, "sip_kallelse_3d") == (1.0, 6, 6)
    # February: offered E7 E8 N6 M6 = 4, accepted 4, held E7 E8 N6 = 3 (home: E7), called 4 (E8 late: 3 in time)
    assert [value(february, f)[0] for f in ("sip_erbjudna", "sip_accepterade", "sip_hallna")] == [4, 4, 3]
    assert value(february, "sip_i_hemmet")[1:] == (1, 3)
    assert value(february, "sip_kallelse_3d")[1:] == (3, 4)
    # Home within 24 h: January E5 of 14, February M6 M7 of 14
    assert value(january, "hem_24h")[1:] == (1, 14)
    assert value(february, "hem_24h")[1:] == (2, 14)
    # Readmissions January E4 N3 M5 (fokus E4 M5), February E9 M9 (fokus M9); moves all in January (4)
    assert (value(january, "aterinlaggningar_30d")[0], value(january, "fokuspatienter")[0]) == (3, 2)
    assert (value(february, "aterinlaggningar_30d")[0], value(february, "fokuspatienter")[0]) == (2, 1)
    assert (value(january, "flyttade_planerade_datum")[0], value(february, "flyttade_planerade_datum")[0]) == (4, 0)
    # Deviations: January E3 (2) + N2 (1) = 3, February E8 = 1
    assert (value(january, "avvikelser")[0], value(february, "avvikelser")[0]) == (3, 1)


def test_filters_versions_and_an_instance_selection_narrow_the_cases(figures_platform: Platform) -> None:
    ids = load(figures_platform)
    figures = figures_platform.figures
    # Versions: Mölndal's 10 cases on version 2, the other 22 on version 1
    assert [(r.key, r.cases) for r in figures.compute(FigureScope(JAN, MAR), "version")] == [("1", 22), ("2", 10)]
    # One month, one kommun: Eksjö in February (E7-E12: 6 cases, 5 discharged with 16 days)
    [row] = figures.compute(FigureScope(FEB, MAR, kommuner=frozenset({"Eksjö"})))
    assert row.cases == 6 and value(row, "utskrivningsklara_dagar")[1:] == (16, 5)
    # A pilot's cases given as a SELECT of instance ids: E1, N1 and M1
    chosen = select(ProcessInstance.id).where(ProcessInstance.id.in_([ids["E1"], ids["N1"], ids["M1"]]))
    [pilot] = figures.compute(FigureScope(JAN, MAR, instance_ids=chosen))
    assert pilot.cases == 3
    assert value(pilot, "utskrivningsklara_dagar")[1:] == (6, 3)  # 1 + 2 + 3
    assert value(pilot, "sip_i_hemmet") == (1.0, 3, 3)
    # Ward filter (Mölndal's ward) and vårdcentral grouping
    [ward] = figures.compute(FigureScope(JAN, MAR, avdelningar=frozenset({"SE2321000131-SUMEDICIN"})))
    assert ward.cases == 10
    by_vc = by_key(figures.compute(FigureScope(JAN, MAR), "vardcentral"))
    assert {k: r.cases for k, r in by_vc.items()} == {
        "SE2321000057-VCEKSJO": 12,
        "SE2321000057-VCNASSJO": 10,
        "SE2321000131-VCMOLNDAL": 10,
    }
    # An empty period gives one total of no cases: shares without a denominator have no value
    [empty] = figures.compute(FigureScope(MAR, date(2026, 4, 1)))
    assert empty.cases == 0 and empty.figures["hem_24h"].value is None
    assert value(empty, "betalningsansvarsdagar") == (0, 0, 0)


def test_weeks_follow_the_stockholm_calendar(figures_platform: Platform) -> None:
    load(figures_platform)
    weeks = {r.key: r.cases for r in figures_platform.figures.compute(FigureScope(JAN, FEB), "week")}
    # 5-9 Jan is ISO week 2: E1-E5, N1-N3, M1-M5 = 13; 12 Jan (E6) and 14-15 Jan (N4, N5) are week 3
    assert weeks == {"2026-W02": 13, "2026-W03": 3}


def test_deviations_per_party_and_cause(figures_platform: Platform) -> None:
    load(figures_platform)
    rows = figures_platform.figures.deviations(FigureScope(JAN, MAR))
    assert [(r.party, r.cause, r.count) for r in rows] == [
        ("Slutenvård", IMS_LATE, 2),  # E3, N2
        ("Region primärvård", CALL_LATE, 1),  # E8
        ("Region primärvård", SVPL_LATE, 1),  # E3
    ]
    per_kommun = figures_platform.figures.deviations(FigureScope(JAN, MAR), "kommun")
    assert [(r.key, r.count) for r in per_kommun] == [("Eksjö", 1), ("Eksjö", 1), ("Eksjö", 1), ("Nässjö", 1)]


def test_facts_follow_the_history_when_it_grows(figures_platform: Platform) -> None:
    """The keeper rewrites the row from the whole history: a late SIP meeting turns up in the figures."""
    ids = load(figures_platform)
    p = figures_platform
    held = datetime(2026, 2, 4, 13, 0, tzinfo=STOCKHOLM)
    with p.db.unit_of_work() as session:
        instance = session.get(ProcessInstance, ids["M6"])
        assert instance is not None
        session.add(
            HistoryEntry(
                instance_id=instance.id,
                at=held,
                kind="task_completed",
                element_id="genomfora_sip_mote",
                data={"submitted": {"mote_genomfort": held.isoformat(), "motesplats": "Digitalt"}},
            )
        )
        session.flush()
        p.runtime.case_facts.refresh(session, instance, p.clock.now())
    [total] = p.figures.compute(FigureScope(JAN, MAR))
    assert value(total, "sip_hallna")[:2] == (10, 10)  # 9 + M6
    assert value(total, "sip_i_hemmet")[1:] == (6, 10)  # held digitally


def test_information_transfer_on_time_is_a_share_of_the_cases_that_transferred(figures_platform: Platform) -> None:
    """The fact information_on_time (derived and tested in tests/bpmn/test_deadline_anchors.py) as a figure: the
    cases that transferred on time over those that transferred at all; a case without a transfer counts in neither."""
    ids = load(figures_platform)
    verdicts = {"E1": True, "E2": True, "E3": False, "N1": True, "M1": False, "M2": False}
    with figures_platform.db.unit_of_work() as session:
        for name, on_time in verdicts.items():
            session.execute(
                update(CaseFact).where(CaseFact.instance_id == ids[name]).values(information_on_time=on_time)
            )
    [total] = figures_platform.figures.compute(FigureScope(JAN, MAR))
    assert value(total, "informationsoverforing_i_tid") == (pytest.approx(3 / 6), 3, 6)
    rows = by_key(figures_platform.figures.compute(FigureScope(JAN, MAR), "kommun"))
    assert value(rows["Eksjö"], "informationsoverforing_i_tid") == (pytest.approx(2 / 3), 2, 3)
    assert value(rows["Nässjö"], "informationsoverforing_i_tid") == (1.0, 1, 1)
    assert value(rows["Mölndal"], "informationsoverforing_i_tid") == (0.0, 0, 2)
