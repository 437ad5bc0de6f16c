"""The figures the routines are judged by (issue 6), as SQL aggregations over case_facts (engine/domain/facts.py).

`Figures.compute(scope, group_by)` answers one question: for the cases of a process whose reference moment (the
admission, Europe/Stockholm date) falls in [start, end), optionally restricted to units, versions or a set of
instances (a pilot's cases), what are the figures, in total or per month / week / kommun / vårdcentral / ward /
process version? Each figure comes with its numerator and denominator so that callers can show counts and warn when
a group is small. Betalningsansvar is computed per kommun, month and agreement (the agreements measure it so), then
summed to the group; its cost uses the agreement's daily price of the month's year.

Nothing here loads a workflow; every figure is one GROUP BY in the database (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from engine.domain.catalog import Catalog, CatalogError
from engine.domain.facts import AgreementTerms
from engine.domain.text import Text
from engine.persistence.db import Database
from engine.persistence.models import CaseFact, Deviation
from engine.reads.units import units_by_hsa

GROUPINGS = ("month", "week", "kommun", "vardcentral", "avdelning", "version")
GROUPING_LABELS = {
    "month": "Månad",
    "week": "Vecka",
    "kommun": "Kommun",
    "vardcentral": "Vårdcentral",
    "avdelning": "Avdelning",
    "version": "Processversion",
}
UNITS_CACHE_SECONDS = 60.0
SMALL_GROUP = 5  # groups with fewer cases than this are not shown per unit (see docs/reports.md)


@dataclass(frozen=True)
class FigureScope:
    """Which cases: admitted (Europe/Stockholm calendar date) from `start` inclusive to `end` exclusive."""

    start: date
    end: date
    process_id: str = "in_utskrivning"
    kommuner: frozenset[str] | None = None
    vardcentraler: frozenset[str] | None = None
    avdelningar: frozenset[str] | None = None
    definition_ids: frozenset[int] | None = None
    instance_ids: Select[Any] | None = None  # a SELECT of process_instances.id to restrict to (e.g. a pilot's cases)


@dataclass(frozen=True)
class FigureValue:
    """value: the figure (a share 0..1, a mean, a count or an amount); None when it has no denominator (or, for
    the cost, no daily price). numerator / denominator: what it was computed from (for a count, the count and the
    number of cases it was counted among)."""

    value: float | None
    numerator: float
    denominator: float


@dataclass(frozen=True)
class FigureRow:
    key: str | None  # the group (YYYY-MM, YYYY-Www, kommun, HSA-id, version number); None for the total
    cases: int
    figures: dict[str, FigureValue] = field(default_factory=dict)
    hidden: bool = False  # hidden with a small group so that the total cannot give it away (suppress_small)

    @property
    def small(self) -> bool:
        return self.hidden or self.cases < SMALL_GROUP


@dataclass(frozen=True)
class FigureDefinition:
    id: str
    title: str
    unit: str  # share | mean_days | count | days | kronor
    definition: str
    source: str


FIGURES: tuple[FigureDefinition, ...] = (
    FigureDefinition(
        "utskrivningsklara_dagar",
        "Utskrivningsklara dagar (medel)",
        "mean_days",
        "Medelantal kalenderdagar från meddelandet om utskrivningsklar till utskrivning, för utskrivna ärenden. "
        "Dagarna räknas som skillnaden mellan datumen (Europe/Stockholm), dag 0 är dagen för meddelandet. "
        "Återtas utskrivningsklar räknas bara perioderna som utskrivningsklar (till återtagandet, och från nästa "
        "meddelande till utskrivningen).",
        "Nationell definition: tid från underrättelse om utskrivningsklar till utskrivning (Lag 2017:612); "
        "DOMAIN.md 'What is measured'.",
    ),
    FigureDefinition(
        "flyttade_planerade_datum",
        "Flyttade planerade utskrivningsdatum",
        "count",
        "Antal gånger det planerade utskrivningsdatumet ändrats: meddelandet planerat_utskrivningsdatum från "
        "vårdsystemet och uppgiften 'Meddela ändrat planerat utskrivningsdatum'. Nämnare: antal ärenden.",
        "Lag (2017:612): ändrat beräknat datum meddelas så snart som möjligt; DOMAIN.md.",
    ),
    FigureDefinition(
        "aterkallade_uk",
        "Återtagna utskrivningsklar",
        "count",
        "Antal gånger utskrivningsklar återtagits (meddelandet aterkallad_utskrivningsklar eller utfallet "
        "'återtagen' vid utskrivningen). Nämnare: antal ärenden.",
        "Lag (2017:612): återtagande meddelas genast och stoppar betalningsansvaret.",
    ),
    FigureDefinition(
        "betalningsansvarsdagar",
        "Betalningsansvarsdagar",
        "days",
        "Dagar som kommunen betalar för enligt avtalets modell, räknat per kommun, månad och avtal och summerat. "
        "Individuell modell: för varje period som utskrivningsklar, dagarna utöver avtalets antal dagar efter "
        "meddelandet. Månadssnitt: dagarna utöver tröskeln gånger antalet utskrivna (max(0, summa dagar − tröskel × "
        "antal)), men minst de dagar som avtalets individuella regel ger (dagar utöver regelns antal per person). "
        "Nämnare: utskrivna ärenden med utskrivningsklar.",
        "processes/agreements.json (betalningsansvar): nationellt 3 dagar individuellt (Lag 2017:612 6 kap.); "
        "Jönköping 2 dagar som snitt per månad (jonkoping-overenskommelse-utskrivning-2017); Västra Götaland snitt "
        "3,0 med individuell regel 7 dagar (DOMAIN.md; tolkning, bekräftas mot överenskommelsen).",
    ),
    FigureDefinition(
        "betalningsansvar_kostnad",
        "Kostnad för betalningsansvar (kr)",
        "kronor",
        "Betalningsansvarsdagar gånger avtalets dagpris för månadens år. Saknas dagpris för något år i urvalet "
        "visas ingen kostnad.",
        "processes/agreements.json (betalningsansvar.daily_prices): dagpriset finns inte i källorna; beloppen är "
        "antaganden som ska ersättas med det pris parterna fastställt.",
    ),
    FigureDefinition(
        "inskrivningsmeddelande_24h",
        "Inskrivningsmeddelande inom 24 timmar",
        "share",
        "Andel av skickade inskrivningsmeddelanden som skickades inom avtalets tidsgräns (24 timmar) från "
        "inskrivningen. Tidpunkten är när uppgiften 'Skicka inskrivningsmeddelande' slutfördes i Samflöde.",
        "Lag (2017:612) 4 kap.: inskrivningsmeddelande inom 24 timmar; agreements.json inskrivningsmeddelande.",
    ),
    FigureDefinition(
        "sip_kallelse_3d",
        "Kallelse till SIP inom 3 dagar från UK",
        "share",
        "Andel av skickade kallelser till SIP som skickades inom avtalets tidsgräns (3 kalenderdagar) från det "
        "första meddelandet om utskrivningsklar.",
        "Lag (2017:612); goteborg-in-och-utskrivningsprocessen-2025 ('senast inom 3 dagar från UK'); "
        "agreements.json kallelse_sip.",
    ),
    FigureDefinition(
        "hem_24h",
        "Hem inom 24 timmar efter UK",
        "share",
        "Andel av ärenden med registrerad hemkomst där den enskilde kom hem inom avtalets tidsgräns (24 timmar) "
        "efter det meddelande om utskrivningsklar som utskrivningen följde på. Hemkomsten är tidpunkten i "
        "uppgiften 'Bekräfta hemkomst'.",
        "jonkoping-a3-vardsamordning-2017 (målbild); agreements.json hem_efter_uk.",
    ),
    FigureDefinition(
        "svpl_3d",
        "SVPL inom 3 dagar efter utskrivning",
        "share",
        "Andel av utskrivna ärenden med genomfört SIP-möte (SVPL) där mötet hölls senast avtalets tidsgräns "
        "(3 kalenderdagar) efter utskrivningen (ett möte före utskrivningen räknas som i tid).",
        "jonkoping-a3-vardsamordning-2017: SVPL inom tre dagar efter utskrivning; agreements.json "
        "svpl_efter_utskrivning.",
    ),
    FigureDefinition(
        "informationsoverforing_i_tid",
        "Information överförd senast på utskrivningsdagen",
        "share",
        "Andel av ärenden med överförd information (uppgiften 'Överföra information' slutförd) där överföringen "
        "skedde före avtalets tidsgräns: slutet av det planerade utskrivningsdatumet (Europe/Stockholm) som det "
        "var när uppgiften slutfördes.",
        "Lag (2017:612) 4 kap.: informationen ska överföras senast på utskrivningsdagen; agreements.json "
        "informationsoverforing (antagande: det planerade datumet är utskrivningsdagen).",
    ),
    FigureDefinition(
        "sip_i_hemmet",
        "SIP-möte i hemmet",
        "share",
        "Andel av genomförda SIP-möten (SVPL) där mötesplatsen var 'I hemmet'.",
        "jonkoping-a3-vardsamordning-2017: SVPL företrädesvis i hemmet.",
    ),
    FigureDefinition(
        "sip_erbjudna",
        "SIP erbjudna",
        "count",
        "Antal ärenden där SIP erbjöds (uppgiften 'Erbjuda SIP och inhämta samtycke' slutförd). Nämnare: antal "
        "ärenden.",
        "HSL 16 kap. 4 §, SoL 2 kap. 7 §; DOMAIN.md 'SIPs offered / held'.",
    ),
    FigureDefinition(
        "sip_accepterade",
        "SIP accepterade",
        "count",
        "Antal ärenden där den enskilde samtyckte till SIP. Nämnare: erbjudna SIP (andelen är accepterade av "
        "erbjudna; resten avböjde).",
        "HSL 16 kap. 4 §: SIP upprättas bara med samtycke.",
    ),
    FigureDefinition(
        "sip_hallna",
        "SIP-möten hållna",
        "count",
        "Antal ärenden med genomfört SIP-möte. Nämnare: accepterade SIP.",
        "DOMAIN.md 'SIPs offered / held'.",
    ),
    FigureDefinition(
        "aterinlaggningar_30d",
        "Oplanerade återinläggningar inom 30 dagar",
        "count",
        "Antal ärenden som är en återinläggning inom 30 dagar efter en tidigare utskrivning: en utskrivning som "
        "Samflöde registrerat (samma personnummer) eller, för en utskrivning utanför Samflöde, avdelningens "
        "markering vid inskrivningen; utom de avdelningen markerat som planerade. Nämnare: antal ärenden "
        "(inskrivningar).",
        "Nationella indikatorer för återinläggning; jonkoping-projektplan-vardsamordning-2016 (fokuspatient).",
    ),
    FigureDefinition(
        "fokuspatienter",
        "Fokuspatienter",
        "count",
        "Antal återinläggningar inom 30 dagar där den enskilde var över 65 år vid inskrivningen (ålder från "
        "personnumret). Nämnare: antal ärenden.",
        "jonkoping-projektplan-vardsamordning-2016: fokuspatient = >65 år och återinlagd inom 30 dagar.",
    ),
    FigureDefinition(
        "avvikelser",
        "Avvikelser i samverkan",
        "count",
        "Antal registrerade avvikelser i samverkan (passerade tidsgränser med avvikelse) i ärendena. Fördelning "
        "per part och orsak visas i egen tabell. Nämnare: antal ärenden.",
        "DOMAIN.md: avvikelser i samverkan per part och orsak.",
    ),
)
FIGURE_IDS = tuple(f.id for f in FIGURES)


@dataclass(frozen=True)
class DeviationRow:
    key: str | None
    party: str | None
    cause: str
    count: int


@dataclass(frozen=True)
class DailyPrice:
    year: int
    amount: float | None
    source: str
    assumption: bool


def _share(num: Any, den: Any) -> FigureValue:
    n, d = float(num or 0), float(den or 0)
    return FigureValue(n / d if d else None, n, d)


def _count(num: Any, den: Any) -> FigureValue:
    return FigureValue(float(num or 0), float(num or 0), float(den or 0))


def _true(column: Any) -> ColumnElement[Any]:
    return func.sum(case((column.is_(True), 1), else_=0))


def _measures() -> list[tuple[str, ColumnElement[Any]]]:
    """What is summed per bucket: counts and sums only, so that buckets roll up exactly."""
    c = CaseFact
    return [
        ("cases", func.count()),
        ("uk_days_sum", func.sum(c.uk_days)),
        ("uk_days_n", func.count(c.uk_days)),
        ("payable", func.sum(c.payable_days)),
        ("moves", func.sum(c.planned_date_moves)),
        ("withdrawals", func.sum(c.uk_withdrawals)),
        ("ims_ok", _true(c.inskrivningsmeddelande_on_time)),
        ("ims_n", func.count(c.inskrivningsmeddelande_on_time)),
        ("call_ok", _true(c.sip_call_on_time)),
        ("call_n", func.count(c.sip_call_on_time)),
        ("home_ok", _true(c.home_within_24h)),
        ("home_n", func.count(c.home_within_24h)),
        ("svpl_ok", _true(c.svpl_on_time)),
        ("svpl_n", func.count(c.svpl_on_time)),
        ("info_ok", _true(c.information_on_time)),
        ("info_n", func.count(c.information_on_time)),
        ("in_home", _true(c.sip_held_in_home)),
        ("in_home_n", func.count(c.sip_held_in_home)),
        ("offered", func.count(c.sip_offered_at)),
        ("accepted", _true(c.sip_accepted)),
        ("held", func.count(c.sip_held_at)),
        ("readmissions", _true(c.readmission)),
        ("fokus", _true(c.fokuspatient)),
        ("deviations", func.sum(c.deviations)),
    ]


@dataclass(frozen=True)
class _Bucket:
    key: str | None  # the extra grouping's key, if any
    kommun: str | None
    month: str
    avtal: str | None
    values: dict[str, float]


class Figures:
    """Built once per platform (engine/platform.py) with the database and the catalog (agreements)."""

    def __init__(self, db: Database, catalog: Catalog):
        self.db = db
        self.catalog = catalog
        self._terms_cache: dict[str | None, Any] = {}
        self._units_cache: dict[str, tuple[float, dict[str, list[str]]]] = {}

    # --- configuration ---
    @staticmethod
    def definitions() -> tuple[FigureDefinition, ...]:
        return FIGURES

    def daily_price(self, avtal: str | None, year: int) -> DailyPrice:
        """The agreement's daily price for betalningsansvar in a year (agreements.json betalningsansvar.daily_prices),
        with its source and whether it is an assumption."""
        try:
            rule = self.catalog.agreement(avtal).raw.get("betalningsansvar") or {}
        except CatalogError:
            return DailyPrice(year, None, "", True)
        entry = (rule.get("daily_prices") or {}).get(str(year))
        if not isinstance(entry, dict) or entry.get("amount") is None:
            return DailyPrice(year, None, "Dagpris saknas för året i agreements.json", True)
        return DailyPrice(year, float(entry["amount"]), str(entry.get("source", "")), bool(entry.get("assumption")))

    # --- the queries ---
    def _where(self, scope: FigureScope) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [
            CaseFact.process_id == scope.process_id,
            CaseFact.ref_date >= scope.start,
            CaseFact.ref_date < scope.end,
        ]
        if scope.kommuner is not None:
            conditions.append(CaseFact.kommun.in_(sorted(scope.kommuner)))
        if scope.vardcentraler is not None:
            conditions.append(CaseFact.vardcentral.in_(sorted(scope.vardcentraler)))
        if scope.avdelningar is not None:
            conditions.append(CaseFact.avdelning.in_(sorted(scope.avdelningar)))
        if scope.definition_ids is not None:
            conditions.append(CaseFact.definition_id.in_(sorted(scope.definition_ids)))
        if scope.instance_ids is not None:
            conditions.append(CaseFact.instance_id.in_(scope.instance_ids.scalar_subquery()))
        return conditions

    @staticmethod
    def _key(group_by: str | None) -> Any:
        if group_by is None:
            return None
        if group_by not in GROUPINGS:
            raise ValueError(
                Text(
                    "okänd gruppering %(group_by)r; välj en av %(items)s", group_by=group_by, items=", ".join(GROUPINGS)
                )
            )
        return {
            "month": CaseFact.ref_month,
            "week": CaseFact.ref_week,
            "kommun": CaseFact.kommun,
            "vardcentral": CaseFact.vardcentral,
            "avdelning": CaseFact.avdelning,
            "version": CaseFact.version,
        }[group_by]

    def compute(self, scope: FigureScope, group_by: str | None = None) -> list[FigureRow]:
        """Every figure for the scope, in total (one row, key None) or per group (ordered by key, unknown last)."""
        return self.compute_many(scope, (group_by,))[group_by]

    def compute_many(self, scope: FigureScope, groupings: Sequence[str | None]) -> dict[str | None, list[FigureRow]]:
        """The figures for several groupings at once (the report page wants the total, per month, per kommun and
        per the chosen grouping): one aggregation per kommun, month and agreement (and the one other grouping
        asked for), rolled up to each grouping. Every figure is a sum of counts, so the roll-up is exact; the
        betalningsansvar model is applied per kommun, month and agreement (per group within them for groupings
        other than total, month and kommun)."""
        for grouping in groupings:
            self._key(grouping)
        extras = sorted({g for g in groupings if g not in (None, "month", "kommun")})
        out: dict[str | None, list[FigureRow]] = {}
        with self.db.read() as session:
            if not extras or any(g in (None, "month", "kommun") for g in groupings):
                extra = extras[0] if extras else None
                buckets = self._buckets(session, scope, extra)
                for grouping in groupings:
                    if grouping in (None, "month", "kommun") or grouping == extra:
                        out[grouping] = self._rollup(buckets, grouping, extra)
                extras = [g for g in extras if g != extra]
            for extra in extras:
                out[extra] = self._rollup(self._buckets(session, scope, extra), extra, extra)
        return out

    def _buckets(self, session: Any, scope: FigureScope, extra: str | None) -> list[_Bucket]:
        """The measures per kommun, month and agreement (and the extra grouping's key), and the deviations."""
        c = CaseFact
        key = self._key(extra)
        by = [key.label("key")] if key is not None else []
        fine = (c.kommun, c.ref_month, c.avtal)
        measures = [expression.label(name) for name, expression in _measures()]
        names = [name for name, _ in _measures()]
        query = (
            select(*by, *fine, *measures)
            .where(*self._where(scope))
            .group_by(*([key] if key is not None else []), *fine)
        )
        buckets = []
        for row in session.execute(query):
            group = _key_text(row.key) if key is not None else None
            values = {name: float(getattr(row, name) or 0) for name in names}
            buckets.append(_Bucket(group, row.kommun, row.ref_month, row.avtal, values))
        return buckets

    def _rollup(self, buckets: list[_Bucket], grouping: str | None, extra: str | None) -> list[FigureRow]:
        def key_of(bucket: _Bucket) -> str | None:
            if grouping is None:
                return None
            if grouping == "month":
                return bucket.month
            if grouping == "kommun":
                return bucket.kommun
            return bucket.key

        sums: dict[str | None, dict[str, float]] = {}
        for bucket in buckets:
            into = sums.setdefault(key_of(bucket), dict.fromkeys(bucket.values, 0.0))
            for name, value in bucket.values.items():
                into[name] += value
        # Betalningsansvar: the model per kommun, month and agreement (and the extra key when grouping by it).
        payment_buckets: dict[tuple[str | None, str | None, str, str | None], list[float]] = {}
        for bucket in buckets:
            fine_key = bucket.key if grouping == extra and grouping is not None else None
            entry = payment_buckets.setdefault((fine_key, bucket.kommun, bucket.month, bucket.avtal), [0.0, 0.0, 0.0])
            entry[0] += bucket.values["uk_days_sum"]
            entry[1] += bucket.values["uk_days_n"]
            entry[2] += bucket.values["payable"]
        payments: dict[str | None, tuple[float, float | None]] = {}
        for (fine_key, kommun, month, avtal), (days_sum, discharged, individual) in payment_buckets.items():
            if not discharged:
                continue
            days = payable_days(self._terms(avtal), days_sum, int(discharged), individual)
            group = key_of(_Bucket(fine_key, kommun, month, avtal, {}))
            price = self.daily_price(avtal, int(month[:4]))
            before_days, before_cost = payments.get(group, (0.0, 0.0))
            cost: float | None
            if before_cost is None or (price.amount is None and days > 0):
                cost = None
            else:
                cost = before_cost + days * (price.amount or 0.0)
            payments[group] = (before_days + days, cost)
        if grouping is None and not sums:
            sums[None] = {name: 0.0 for name, _ in _measures()}
        rows = []
        for group, m in sums.items():
            cases = int(m["cases"])
            days, cost = payments.get(group, (0.0, 0.0))
            figures = {
                "utskrivningsklara_dagar": _share(m["uk_days_sum"], m["uk_days_n"]),
                "flyttade_planerade_datum": _count(m["moves"], cases),
                "aterkallade_uk": _count(m["withdrawals"], cases),
                "betalningsansvarsdagar": _count(days, m["uk_days_n"]),
                "betalningsansvar_kostnad": FigureValue(cost, cost or 0.0, days),
                "inskrivningsmeddelande_24h": _share(m["ims_ok"], m["ims_n"]),
                "sip_kallelse_3d": _share(m["call_ok"], m["call_n"]),
                "hem_24h": _share(m["home_ok"], m["home_n"]),
                "svpl_3d": _share(m["svpl_ok"], m["svpl_n"]),
                "informationsoverforing_i_tid": _share(m["info_ok"], m["info_n"]),
                "sip_i_hemmet": _share(m["in_home"], m["in_home_n"]),
                "sip_erbjudna": _count(m["offered"], cases),
                "sip_accepterade": _count(m["accepted"], m["offered"]),
                "sip_hallna": _count(m["held"], m["accepted"]),
                "aterinlaggningar_30d": _count(m["readmissions"], cases),
                "fokuspatienter": _count(m["fokus"], cases),
                "avvikelser": _count(m["deviations"], cases),
            }
            rows.append(FigureRow(group, cases, figures))
        rows.sort(key=lambda r: (r.key is None, _sort_key(r.key)))
        return rows

    def _terms(self, avtal: str | None) -> Any:
        found = self._terms_cache.get(avtal)
        if found is None:
            try:
                found = AgreementTerms.of(self.catalog, avtal)
            except CatalogError:
                found = AgreementTerms(avtal or "nationell", {})
            self._terms_cache[avtal] = found
        return found

    def deviations(self, scope: FigureScope, group_by: str | None = None) -> list[DeviationRow]:
        """Avvikelser i samverkan per party and cause (and group), most frequent first."""
        key = self._key(group_by)
        labels = [key.label("key")] if key is not None else []
        query = (
            select(*labels, Deviation.party, Deviation.cause, func.count(Deviation.id).label("n"))
            .join(CaseFact, CaseFact.instance_id == Deviation.instance_id)
            .where(*self._where(scope))
            .group_by(*([key] if key is not None else []), Deviation.party, Deviation.cause)
        )
        with self.db.read() as session:
            rows = [
                DeviationRow(_key_text(r.key) if key is not None else None, r.party, r.cause, int(r.n))
                for r in session.execute(query)
            ]
        rows.sort(key=lambda r: (_sort_key(r.key), -r.count, r.party or "", r.cause))
        return rows

    def unit_names(self, hsa_ids: Sequence[str]) -> dict[str, str]:
        """The organisation's names of the given units (vårdcentraler and wards by HSA-id), for labels."""
        with self.db.read() as session:
            return {hsa_id: info.name for hsa_id, info in units_by_hsa(session, hsa_ids).items()}

    def units(self, process_id: str = "in_utskrivning") -> dict[str, list[str]]:
        """The kommuner, vårdcentraler and wards that have cases (the report page's filter choices). Kept for a
        minute: three DISTINCT scans of the whole table are too dear for every page view."""
        cached = self._units_cache.get(process_id)
        if cached is not None and time.monotonic() - cached[0] < UNITS_CACHE_SECONDS:
            return cached[1]
        out: dict[str, list[str]] = {}
        with self.db.read() as session:
            for name, column in (
                ("kommun", CaseFact.kommun),
                ("vardcentral", CaseFact.vardcentral),
                ("avdelning", CaseFact.avdelning),
            ):
                out[name] = sorted(
                    v
                    for v in session.scalars(
                        select(column).where(CaseFact.process_id == process_id, column.is_not(None)).distinct()
                    )
                    if v
                )
        self._units_cache[process_id] = (time.monotonic(), out)
        return out


def payable_days(terms: Any, uk_days: float, discharged: int, individual: float) -> float:
    """Betalningsansvarsdagar of one kommun-month under an agreement: the individual model charges each case's days
    beyond the agreed number (summed in `individual`); the monthly-average model charges the days beyond the
    threshold times the number of discharged cases, and at least what its individual rule charges."""
    if terms.model == "monthly_average" and terms.threshold is not None:
        return max(max(0.0, uk_days - terms.threshold * discharged), individual)
    return individual


def _key_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _sort_key(value: str | None) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if value.isdigit():
        return (0, int(value))
    return (1, value)


def with_suppression(rows: Sequence[FigureRow]) -> list[FigureRow]:
    """The same rows, each marked `small` exactly when suppress_small hides it (complementary suppression too), for
    pages that show groups beside a total."""
    shown = suppress_small(rows)
    return [
        replace(row, hidden=True) if s["suppressed"] and not row.small else row
        for row, s in zip(rows, shown, strict=True)
    ]


def suppress_small(rows: Sequence[FigureRow], minimum: int = SMALL_GROUP) -> list[dict[str, Any]]:
    """Rows as shown to people, on the pages, in the API and in every export alike: a group of fewer than `minimum`
    cases shows neither its figures nor its exact count (so that a small kommun's single readmission does not point
    at a person). When exactly one group of several is hidden, the next smallest is hidden with it (complementary
    suppression): the total less the shown groups would otherwise give the hidden one away."""
    hidden = {i for i, row in enumerate(rows) if 0 < row.cases < minimum}
    if len(hidden) == 1:
        others = sorted((row.cases, i) for i, row in enumerate(rows) if i not in hidden and row.cases > 0)
        if others:
            hidden.add(others[0][1])
    return [
        {
            "key": row.key,
            "cases": None if i in hidden else row.cases,
            "suppressed": i in hidden,
            "figures": {} if i in hidden else row.figures,
        }
        for i, row in enumerate(rows)
    ]
