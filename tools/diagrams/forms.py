"""Generate processes/forms/<form>.json (JSON Schema draft 2020-12) from compact field lists.

A field name starting with '*' is required. Field names must match what gateway conditions and scripts read.
Run:  .venv/bin/python tools/diagrams/forms.py
"""
from __future__ import annotations

import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parents[2] / "processes" / "forms"
PARTER = ["Slutenvård", "Region primärvård", "Kommun hemsjukvård", "Kommun socialtjänst", "Den enskilde"]
HUVUDMAN = ["Region", "Kommun", "Annan"]
VARDEKOMPASS = ["Instämmer helt", "Instämmer delvis", "Instämmer inte", "Vill inte svara"]


def _f(kind, name, title, desc, **extra):
    return (name, dict(type=kind, title=title, description=desc, **extra))


def b(n, t, d): return _f("boolean", n, t, d)
def s(n, t, d, maxlen=2000): return _f("string", n, t, d, maxLength=maxlen)
def da(n, t, d): return _f("string", n, t, d, format="date")
def dt(n, t, d): return _f("string", n, t, d, format="date-time")
def hsa(n, t, d): return _f("string", n, t, d, format="hsa-id", maxLength=31)
def i(n, t, d, lo=0, hi=365): return _f("integer", n, t, d, minimum=lo, maximum=hi)
def e(n, t, d, values): return _f("string", n, t, d, enum=list(values))
def a(n, t, d, values):
    return _f("array", n, t, d, items={"type": "string", "enum": list(values)}, uniqueItems=True)


def kommentar():
    return s("kommentar", "Kommentar", "Fritext vid behov.")


FORMS = {
    # ---------------------------------------------------------------- in_utskrivning
    "registrera_inskrivning": ("Registrera inskrivning", "Grunduppgifter om vårdtillfället och om det är en återinläggning.", [
        s("*inskrivningsorsak", "Orsak till inskrivning", "Kort beskrivning av varför den enskilde skrevs in."),
        b("*aterinlaggning_inom_30_dagar", "Återinläggning inom 30 dagar", "Ja om den enskilde skrevs ut från slutenvård de senaste 30 dagarna."),
        s("tidigare_vardtillfalle_id", "Tidigare vårdtillfälle", "Id för det tidigare vårdtillfället (förifyllt om det finns i startdata).", 64),
        hsa("ansvarig_lakare_hsa_id", "Ansvarig läkare (HSA-id)", "Behandlande läkarens HSA-id."),
    ], {"if": {"properties": {"aterinlaggning_inom_30_dagar": {"const": True}}},
        "then": {"required": ["tidigare_vardtillfalle_id"]}}),
    "bedoma_behov_efter_utskrivning": ("Bedöma behov efter utskrivning", "Läkarens bedömning som utlöser inskrivningsmeddelandet.", [
        b("*behov_efter_utskrivning", "Behov av insatser efter utskrivning", "Kan den enskilde behöva insatser från socialtjänst, kommunal hälso- och sjukvård eller regionens öppna vård?"),
        a("behovsomraden", "Behovsområden", "Områden där insatser kan behövas.", ["Hemtjänst", "Kommunal hälso- och sjukvård", "Rehabilitering", "Hjälpmedel", "Läkarkontakt i primärvården", "Korttidsboende", "Annat"]),
        da("*beraknat_utskrivningsdatum", "Beräknat utskrivningsdatum", "Beräknad tidpunkt för utskrivning."),
        i("bedomd_vardtid_dagar", "Bedömd vårdtid (dagar)", "Förväntad vårdtid i dagar."),
    ]),
    "dokumentera_inga_behov": ("Inga insatser behövs", "Dokumentation när inga insatser behövs efter utskrivning.", [
        s("*motivering", "Motivering", "Varför inga insatser bedöms behövas."),
        b("*den_enskilde_informerad", "Den enskilde informerad", "Den enskilde har fått veta att ingen samordnad planering görs."),
    ]),
    "samtycke_informationsdelning": ("Samtycke till informationsöverföring", "Samtycke till att uppgifter lämnas mellan slutenvård, kommun och vårdcentral.", [
        b("*samtycke_informationsdelning", "Samtycke givet", "Ja om samtycke har lämnats till att uppgifter delas mellan huvudmännen."),
        e("samtycke_lamnat_av", "Samtycke lämnat av", "Vem som lämnade samtycket.", ["Den enskilde", "Närstående", "God man eller förvaltare", "Annan företrädare"]),
        b("*kan_uttrycka_sin_vilja", "Kan uttrycka sin vilja", "Nej vid kognitiv svikt; då tillfrågas närstående."),
        dt("*samtycke_tidpunkt", "Tidpunkt", "När frågan ställdes."),
        s("begransningar", "Begränsningar", "Uppgifter som den enskilde inte vill ska lämnas ut."),
    ], {"if": {"properties": {"samtycke_informationsdelning": {"const": True}}},
        "then": {"required": ["samtycke_lamnat_av"]}}),
    "dokumentera_utan_samtycke": ("Planering utan samtycke", "Dokumentation när samtycke till informationsöverföring saknas.", [
        s("*orsak", "Orsak", "Varför samtycke inte gavs."),
        b("*informerad_om_konsekvenser", "Informerad om följderna", "Den enskilde har fått veta vad det innebär att information inte överförs."),
        s("*plan_utan_informationsoverforing", "Planering", "Hur utskrivningen planeras utan informationsöverföring."),
    ]),
    "skicka_inskrivningsmeddelande": ("Inskrivningsmeddelande", "Meddelande till kommun och vårdcentral enligt lag (2017:612).", [
        s("*mottagande_kommun", "Mottagande kommun", "Folkbokföringskommun.", 100),
        hsa("*mottagande_vardcentral_hsa_id", "Mottagande vårdcentral (HSA-id)", "Vårdcentral där den enskilde är listad."),
        da("*beraknat_utskrivningsdatum", "Beräknat utskrivningsdatum", "Beräknad tidpunkt för utskrivning."),
        s("folkbokforingsadress", "Folkbokföringsadress", "Döljs vid skyddad identitet.", 300),
        dt("*meddelande_skickat", "Skickat", "Tidpunkt då meddelandet skickades."),
    ]),
    "hantera_avvikelse": ("Hantera avvikelse i samverkan", "Eskalering när en tidsgräns har passerats.", [
        s("*orsak", "Orsak", "Varför tidsgränsen inte hölls."),
        s("*atgard", "Åtgärd", "Vad som görs nu för att den enskilde inte ska drabbas."),
        b("*avvikelse_rapporterad", "Avvikelse rapporterad", "Ja när avvikelsen är rapporterad i avvikelsesystemet."),
        e("ansvarig_part", "Ansvarig part", "Den part där avvikelsen uppstod.", PARTER),
    ]),
    "kvittera_meddelande": ("Kvittera meddelande", "Kvittens på mottaget meddelande.", [
        s("*kvitterad_av", "Kvitterad av", "Namn på den som kvitterar.", 200),
        dt("*kvitterad_tidpunkt", "Tidpunkt", "När meddelandet kvitterades."),
        kommentar(),
    ]),
    "paborja_utskrivningsplanering": ("Påbörja utskrivningsplanering", "Planeringen startar vid inskrivning.", [
        da("*planering_paborjad", "Planering påbörjad", "Datum då planeringen startade."),
        s("*ansvarig_vardplanerare", "Ansvarig vårdplanerare", "Namn.", 200),
        i("forvantad_vardtid_dagar", "Förväntad vårdtid (dagar)", "Bedömning av vårdtid."),
    ]),
    "dokumentera_status_och_behov": ("Status och kvarstående behov", "Tidig dokumentation av status och behov.", [
        s("*adl_status", "ADL", "Förmåga i dagliga aktiviteter."),
        s("*kognition", "Kognition", "Kognitiv förmåga och eventuell svikt."),
        s("lakemedel_status", "Läkemedel", "Läkemedel och hantering."),
        s("hjalpmedel", "Hjälpmedel", "Befintliga och nya hjälpmedel."),
        s("*kvarstaende_behov", "Kvarstående behov", "Behov som kvarstår efter utskrivning."),
        b("*avstamningsmote_behovs", "Avstämningsmöte behövs", "Ja om parterna behöver stämma av i ett möte före UK."),
    ]),
    "informera_om_processen": ("Information om processen", "Den enskilde och närstående informeras.", [
        b("*den_enskilde_informerad", "Den enskilde informerad", "Har fått information om planeringen."),
        b("narstaende_informerade", "Närstående informerade", "Närstående har fått information."),
        b("informationsmaterial_lamnat", "Informationsmaterial lämnat", "Skriftligt material har lämnats."),
        kommentar(),
    ]),
    "utse_fast_vardkontakt": ("Fast vårdkontakt", "Fast vårdkontakt i den öppna vården.", [
        s("*fast_vardkontakt_namn", "Fast vårdkontakt", "Namn på vårdsamordnaren.", 200),
        hsa("*fast_vardkontakt_hsa_id", "Fast vårdkontakt (HSA-id)", "HSA-id."),
        hsa("fast_lakarkontakt_hsa_id", "Fast läkarkontakt (HSA-id)", "HSA-id."),
        s("telefon", "Telefon", "Telefonnummer till fast vårdkontakt.", 40),
    ]),
    "dela_befintlig_plan": ("Befintlig SIP eller plan", "Kontroll av befintlig SIP.", [
        b("*finns_befintlig_sip", "Befintlig SIP finns", "Ja om den enskilde redan har en SIP."),
        s("befintlig_plan_beskrivning", "Befintlig plan", "Sammanfattning eller hänvisning."),
        s("pagaende_insatser_region", "Pågående insatser i regionen", "Pågående insatser från vårdcentral och specialistvård."),
    ]),
    "kontaktblad_socialtjanst": ("Kontaktblad socialtjänst", "Folkbokföring och pågående insatser.", [
        b("*folkbokforingskommun_bekraftad", "Folkbokföringskommun bekräftad", "Rätt kommun ansvarar."),
        a("*pagaende_insatser", "Pågående insatser", "Insatser från socialtjänsten i dag.", ["Hemtjänst", "Trygghetslarm", "Matdistribution", "Korttidsboende", "Särskilt boende", "Dagverksamhet", "Inga"]),
        e("boendesituation", "Boende", "Nuvarande boende.", ["Ordinärt boende", "Särskilt boende", "Korttidsboende", "Annat"]),
        s("kontaktperson", "Kontaktperson", "Handläggare.", 200),
    ]),
    "aterrapportera_hemsjukvardsinsatser": ("Pågående hemsjukvård", "Hemsjukvårdens återrapportering.", [
        b("*inskriven_i_hemsjukvard", "Inskriven i hemsjukvården", "Ja om den enskilde har kommunal hälso- och sjukvård."),
        s("pagaende_insatser_hsl", "Pågående insatser", "Kommunala hälso- och sjukvårdsinsatser."),
        b("lakemedelslista_bifogad", "Läkemedelslista bifogad", "Aktuell läkemedelslista är skickad."),
        s("hjalpmedel", "Hjälpmedel", "Hjälpmedel i hemmet."),
    ]),
    "vad_ar_viktigt_for_dig": ("Vad är viktigt för dig?", "Den enskildes egna önskemål.", [
        s("*vad_ar_viktigt_for_dig", "Vad är viktigt för dig?", "Med den enskildes egna ord."),
        s("onskemal_om_hemgang", "Önskemål om hemgången", "Till exempel tid, transport, stöd."),
        e("*framfort_av", "Framfört av", "Vem som framförde önskemålen.", ["Den enskilde", "Närstående", "Företrädare"]),
    ]),
    "lakemedelsgenomgang_slutenvard": ("Läkemedelsgenomgång", "Läkemedelsgenomgång i slutenvården.", [
        b("*genomford", "Genomförd", "Läkemedelsgenomgång är gjord."),
        da("*datum", "Datum", "Datum för genomgången."),
        s("andringar", "Ändringar", "Ändringar i läkemedelslistan."),
        b("*brytpunktssamtal_aktuellt", "Brytpunktssamtal aktuellt", "Ja om den enskilde kan vara i en brytpunkt mot palliativ vård och ett brytpunktssamtal ska hållas."),
    ]),
    "bedoma_lakaruppfoljning": ("Läkaruppföljning i primärvården", "Vårdcentralens bedömning.", [
        b("*lakaruppfoljning_behovs", "Läkaruppföljning behövs", "Behövs uppföljning av läkare efter utskrivning?"),
        b("*lakemedelsgenomgang_behovs", "Läkemedelsgenomgång behövs", "Behövs läkemedelsgenomgång i primärvården?"),
        da("planerad_tid", "Planerad tid", "Datum för planerad uppföljning."),
    ]),
    "enas_om_samordning": ("Vem samordnar", "Överenskommelse om ansvar.", [
        e("*huvudansvarig_halso_och_sjukvard", "Huvudansvarig för hälso- och sjukvård", "Vem som bäst tillgodoser behoven.", ["Region primärvård (vårdcentral)", "Kommun hemsjukvård"]),
        s("*samordnare_namn", "Samordnare", "Namn på den som samordnar.", 200),
        da("overenskommet", "Överenskommet", "Datum."),
    ]),
    "bedoma_hemsjukvard_rehab_hjalpmedel": ("Hemsjukvård, rehabilitering och hjälpmedel", "Kommunens bedömning av hälso- och sjukvårdsbehov.", [
        b("*behov_hemsjukvard", "Behov av hemsjukvård", "Behövs kommunal hälso- och sjukvård?"),
        b("*behov_rehabilitering", "Behov av rehabilitering", "Behövs arbetsterapeut eller fysioterapeut?"),
        b("*behov_hjalpmedel", "Behov av hjälpmedel", "Behövs nya hjälpmedel?"),
        s("bedomning", "Bedömning", "Sammanfattning."),
    ]),
    "tidig_kontakt_och_ansokan": ("Tidig kontakt och ansökan", "Socialtjänstens tidiga kontakt.", [
        dt("*kontakt_tagen", "Kontakt tagen", "När socialtjänsten kontaktade den enskilde."),
        b("*ansokan_inkommen", "Ansökan inkommen", "Den enskilde har ansökt om insatser."),
        a("ansokan_avser", "Ansökan avser", "Sökta insatser.", ["Hemtjänst", "Korttidsboende", "Trygghetslarm", "Särskilt boende", "Annat"]),
    ]),
    "utreda_bistandsbehov": ("Utreda biståndsbehov", "Biståndsbedömning.", [
        da("*utredning_paborjad", "Utredning påbörjad", "Datum."),
        s("*bedomt_behov", "Bedömt behov", "Utredningens bedömning."),
    ]),
    "delta_i_planeringen": ("Delaktighet i planeringen", "Den enskildes och närståendes delaktighet.", [
        b("*den_enskilde_delaktig", "Den enskilde delaktig", "Den enskilde har tagit del av och påverkat planeringen."),
        b("narstaende_delaktiga", "Närstående delaktiga", "Närstående har deltagit."),
        s("synpunkter", "Synpunkter", "Den enskildes synpunkter."),
    ]),
    "halla_avstamningsmote": ("Avstämningsmöte", "Möte på sjukhuset före UK.", [
        da("*motesdatum", "Mötesdatum", "Datum."),
        a("deltagare", "Deltagare", "Parter som deltog.", PARTER),
        s("*beslut", "Överenskommelser", "Vad parterna kom överens om."),
    ]),
    "besluta_utskrivningsklar": ("Utskrivningsklar", "Läkarens bedömning av om patienten är utskrivningsklar.", [
        b("*utskrivningsklar", "Utskrivningsklar", "Ja om patienten bedöms utskrivningsklar."),
        dt("utskrivningsklar_tidpunkt", "Tidpunkt", "När patienten bedömdes utskrivningsklar."),
        da("nytt_beraknat_utskrivningsdatum", "Nytt beräknat utskrivningsdatum", "Om patienten inte är utskrivningsklar."),
    ], {"if": {"properties": {"utskrivningsklar": {"const": True}}},
        "then": {"required": ["utskrivningsklar_tidpunkt"]}, "else": {"required": ["nytt_beraknat_utskrivningsdatum"]}}),
    "meddela_andrat_utskrivningsdatum": ("Ändrat utskrivningsdatum", "Meddelande om nytt planerat datum.", [
        da("*nytt_beraknat_utskrivningsdatum", "Nytt beräknat utskrivningsdatum", "Datum."),
        s("orsak", "Orsak", "Varför datumet flyttas."),
    ]),
    "skicka_meddelande_utskrivningsklar": ("Meddelande om utskrivningsklar", "Underrättelse till kommun och vårdcentral.", [
        dt("*utskrivningsklar_tidpunkt", "Utskrivningsklar", "Tidpunkt för beslutet."),
        dt("*meddelande_skickat", "Skickat", "Tidpunkt då meddelandet skickades."),
        a("*mottagare", "Mottagare", "Parter som fått meddelandet.", ["Kommun", "Vårdcentral"]),
    ]),
    "overfora_information": ("Överföra information", "Information som ska finnas hos mottagarna senast på utskrivningsdagen.", [
        b("*epikris_overford", "Epikris överförd", "Epikris/sammanfattning är överförd."),
        b("*lakemedelslista_overford", "Läkemedelslista överförd", "Aktuell läkemedelslista är överförd."),
        s("ovrig_information", "Övrig information", "Omvårdnadsinformation med mera."),
    ]),
    "planera_hemtransport": ("Hemtransport", "Planering av hemgången.", [
        e("*transportsatt", "Transportsätt", "Hur den enskilde tar sig hem.", ["Egen transport", "Närstående", "Sjukresa/färdtjänst", "Ambulans"]),
        dt("*planerad_hemgang", "Planerad hemgång", "Datum och tid."),
    ]),
    "genomfora_utskrivning": ("Utskrivning", "Utskrivning eller återtagande vid försämring.", [
        e("*utskrivning_utfall", "Utfall", "Utskriven, eller återtagen om patienten inte längre är utskrivningsklar.", ["utskriven", "återtagen"]),
        dt("utskrivningstid", "Utskrivningstid", "När den enskilde lämnade avdelningen."),
        s("orsak_atertagande", "Orsak till återtagande", "Vid försämring."),
    ], {"if": {"properties": {"utskrivning_utfall": {"const": "återtagen"}}},
        "then": {"required": ["orsak_atertagande"]}, "else": {"required": ["utskrivningstid"]}}),
    "meddela_atertagande": ("Återtagande av utskrivningsklar", "Meddelande till parterna om att patienten inte längre är utskrivningsklar.", [
        s("*orsak", "Orsak", "Varför utskrivningsklar återtas."),
        a("*meddelat_till", "Meddelat till", "Parter som informerats.", ["Kommun", "Vårdcentral"]),
    ]),
    "besluta_ny_utskrivningsklar": ("Ny utskrivningsklar", "Nytt beslut efter återtagande.", [
        dt("*utskrivningsklar_tidpunkt", "Tidpunkt", "När patienten åter bedömdes utskrivningsklar."),
    ]),
    "skicka_utskrivningsmeddelande": ("Utskrivningsmeddelande", "Meddelande om att den enskilde är utskriven.", [
        dt("*utskrivningstid", "Utskrivningstid", "När den enskilde skrevs ut."),
        dt("*meddelande_skickat", "Skickat", "Tidpunkt då meddelandet skickades."),
    ]),
    "utskrivningsinformation": ("Information vid utskrivning", "Patientlagen 3 kap. 2 b §.", [
        b("*sammanfattning_lamnad", "Sammanfattning lämnad", "Den enskilde har fått en sammanfattning av vården."),
        b("*fast_vardkontakt_kand", "Fast vårdkontakt känd", "Den enskilde vet vem som är fast vårdkontakt."),
        da("planerad_sip", "Planerad SIP", "När SIP-mötet planeras, om det är känt."),
        b("skriftlig_information", "Skriftlig information", "Informationen lämnades även skriftligt."),
    ]),
    "fatta_bistandsbeslut": ("Biståndsbeslut", "Beslut före hemgång.", [
        e("*beslut", "Beslut", "Utfall av biståndsprövningen.", ["Beviljat", "Delvis beviljat", "Avslag"]),
        a("beviljade_insatser", "Beviljade insatser", "Insatser som beviljats.", ["Hemtjänst", "Trygghetslarm", "Matdistribution", "Korttidsboende", "Särskilt boende", "Annat"]),
        da("*beslutsdatum", "Beslutsdatum", "Datum för beslutet."),
    ]),
    "planera_hemtjanst": ("Hemtjänst från utskrivningsdagen", "Hemtjänsten är redo.", [
        da("*hemtjanst_klar_fran", "Klar från", "Datum då hemtjänsten kan starta."),
        s("insatser", "Insatser", "Beställda insatser."),
    ]),
    "planera_forsta_hembesok": ("Första hembesök", "Hemsjukvårdens planering.", [
        dt("*forsta_hembesok_planerat", "Planerat hembesök", "Datum och tid."),
        s("ansvarig_sjukskoterska", "Ansvarig sjuksköterska", "Namn.", 200),
    ]),
    "sakerstalla_lakemedel_hjalpmedel": ("Läkemedel och hjälpmedel", "Klart i hemmet före hemgång.", [
        b("*lakemedel_ordnade", "Läkemedel ordnade", "Läkemedel och ordinationer finns."),
        b("*hjalpmedel_pa_plats", "Hjälpmedel på plats", "Hjälpmedel finns i hemmet."),
        kommentar(),
    ]),
    "samordna_utan_sip": ("Planering utan SIP", "Samordning när SIP inte behövs eller avböjts.", [
        e("*orsak_utan_sip", "Orsak", "Varför planeringen görs utan SIP.", ["Insatser från en huvudman", "SIP avböjd", "Ingen kan föra den enskildes talan"]),
        s("*planering", "Planering", "Hur insatserna samordnas."),
    ]),
    "bekrafta_hemkomst": ("Hemkomst", "Bekräftelse av hemkomst.", [
        dt("*hemkomst", "Hemkomst", "När den enskilde kom hem."),
        b("*fungerade_som_planerat", "Fungerade som planerat", "Hemkomsten fungerade enligt planen."),
    ]),
    "forsta_hembesok_hemsjukvard": ("Första hembesök", "Hemsjukvårdens första besök.", [
        dt("*besok_genomfort", "Besök genomfört", "Datum och tid."),
        s("*bedomning", "Bedömning", "Hur situationen i hemmet fungerar."),
        b("*ratt_till_nodvandig_tandvard", "Rätt till nödvändig tandvård", "Ja om den enskilde har rätt till nödvändig tandvård och intyget ska utfärdas."),
    ]),
    "intyg_nodvandig_tandvard": ("Intyg om nödvändig tandvård", "Intyget 'Rätt till nödvändig tandvård'.", [
        da("*intyg_utfardat", "Intyget utfärdat", "Datum."),
        b("munhalsobedomning_erbjuden", "Munhälsobedömning erbjuden", "Ja om en munhälsobedömning i hemmet har erbjudits."),
    ]),
    "bedoma_fokuspatient": ("Fokuspatient", "Återinlagd inom 30 dagar: fokusuppföljning eller undantag.", [
        e("*fokuspatient_undantag", "Undantag från fokusuppföljning", "Patienter i palliativ fas, som tas över av mobilt geriatriskt team eller kommer från annat län undantas och överrapporteras på sedvanligt sätt.", ["Inget undantag", "Palliativ fas", "Mobilt geriatriskt team", "Utomlänspatient"]),
    ]),
    "brytpunktssamtal": ("Brytpunktssamtal", "Samtal om övergång till palliativ vård.", [
        dt("*samtal_genomfort", "Samtal genomfört", "Datum och tid."),
        e("*deltagare", "Deltagare", "Vilka som deltog.", ["Den enskilde", "Den enskilde och närstående", "Närstående"]),
        s("*viktigt_framover", "Viktigt framöver", "Vad den enskilde vill ska gälla i vården framöver."),
    ]),
    "samordnad_plan_kort_sikt": ("Samordnad plan på kort sikt", "Göteborg: samordnad planering – behov på kort sikt.", [
        s("*insatser_forsta_tiden", "Insatser den första tiden", "Insatser per part under den första tiden efter utskrivning."),
        e("*samordnas_av", "Samordnas av", "Vem som samordnar efter utskrivning.", ["Vårdcentral", "Kommunens hemsjukvård"]),
        b("*plan_delad_med_parterna", "Planen delad med parterna", "Ja när parterna har tagit del av planen."),
    ]),
    "starta_hemtjanst": ("Hemtjänst startad", "Insatserna har startat.", [
        da("*hemtjanst_startad", "Startdatum", "Datum då hemtjänsten startade."),
        kommentar(),
    ]),
    "uppfoljningssamtal": ("Uppföljningssamtal", "Vårdsamordnarens uppföljning efter hemkomst.", [
        dt("*samtal_genomfort", "Samtal genomfört", "Datum och tid."),
        b("*lakarhembesok_behovs", "Läkarhembesök behövs", "Ja om fast läkarkontakt behöver göra hembesök."),
        kommentar(),
    ]),
    "lakarhembesok": ("Läkarhembesök", "Hembesök av fast läkarkontakt.", [
        da("*besok_datum", "Datum", "Datum för besöket."),
        s("*atgarder", "Åtgärder", "Vad som gjordes."),
    ]),
    "folja_upp_aterinlaggning": ("Uppföljning av återinläggning", "Analys av återinläggning inom 30 dagar.", [
        e("*kunde_ha_forebyggts", "Kunde ha förebyggts", "Bedömning.", ["Ja", "Nej", "Vet ej"]),
        s("*orsak", "Orsak", "Trolig orsak till återinläggningen."),
        b("fokuspatient", "Fokuspatient", "Över 65 år och återinlagd inom 30 dagar."),
    ]),
    "lamna_upplevelse": ("Min upplevelse", "Värdekompass: den enskildes upplevelse (frivilligt).", [
        b("*vill_svara", "Vill svara", "Den enskilde vill lämna sin upplevelse."),
        e("delaktig_i_planeringen", "Jag var delaktig i planeringen", "Den enskildes svar.", VARDEKOMPASS),
        e("forberedd", "Jag var förberedd", "Den enskildes svar.", VARDEKOMPASS),
        e("fungerade_bra_hemma", "Det fungerade bra hemma", "Den enskildes svar.", VARDEKOMPASS),
        e("fick_det_stod_jag_behover", "Jag fick det stöd jag behöver", "Den enskildes svar.", VARDEKOMPASS),
        e("samverkan_fungerade_bra", "Samverkan fungerade bra", "Den enskildes svar.", VARDEKOMPASS),
    ]),
    "overlamning_annat_sjukhus": ("Överflyttning", "Överlämning till mottagande sjukhus.", [
        s("*mottagande_sjukhus", "Mottagande sjukhus", "Sjukhus och avdelning.", 200),
        hsa("mottagande_enhet_hsa_id", "Mottagande enhet (HSA-id)", "HSA-id."),
        dt("*overlamnad", "Överlämnad", "Tidpunkt."),
        b("*parter_informerade", "Parter informerade", "Kommun och vårdcentral vet att ärendet avslutats."),
    ]),
    # ---------------------------------------------------------------- sip
    "identifiera_behov_av_sip": ("Behov av SIP", "Mål 1: identifiera personer som ska erbjudas SIP.", [
        b("*behov_region", "Behov av insatser från regionen", "Till exempel vårdcentral eller specialistvård."),
        b("*behov_kommun", "Behov av insatser från kommunen", "Socialtjänst eller kommunal hälso- och sjukvård."),
        b("korttidsboende", "Korttidsboende", "Beviljas korttidsboende (räknas som insatser från två huvudmän)."),
        b("*sip_behov", "SIP ska erbjudas", "Ja vid behov av insatser från både region och kommun."),
        e("*nytt_eller_utokat_behov", "Nytt eller utökat behov", "Jönköpings ändring i mars 2017: SVPL bara vid nytt eller utökat behov. 'Ej tillämpligt' där överenskommelsen inte har regeln.", ["Ej tillämpligt", "Ja, nytt eller utökat", "Nej, oförändrat"]),
    ]),
    "erbjuda_sip": ("Erbjuda SIP", "Mål 2: kontakta den enskilde och inhämta samtycke.", [
        e("*kontakt_med", "Kontakt med", "Vem som kontaktades.", ["Den enskilde", "Närstående", "Ingen kan föra den enskildes talan"]),
        b("*kan_uttrycka_onskemal", "Kan uttrycka önskemål", "Nej vid kognitiv svikt."),
        b("*sip_samtycke", "Samtycke till SIP", "Ja om den enskilde (eller närstående) vill ha en SIP och samtycker till informationsdelning."),
        e("samtycke_lamnat_av", "Samtycke lämnat av", "Vem som lämnade samtycket.", ["Den enskilde", "Närstående", "God man eller förvaltare", "Annan företrädare"]),
    ], {"if": {"properties": {"sip_samtycke": {"const": True}}}, "then": {"required": ["samtycke_lamnat_av"]}}),
    "planera_enligt_enskildes_basta": ("Planering utan SIP", "Planering utifrån den enskildes bästa.", [
        s("*motivering", "Motivering", "Varför SIP inte upprättas (avböjd, ingen som kan föra talan)."),
        s("*planering", "Planering", "Hur insatserna planeras utifrån den enskildes bästa."),
        da("*dokumenterat", "Dokumenterat", "Datum."),
    ]),
    "forbereda_sip": ("Förbereda SIP", "Vad är viktigt för dig?", [
        s("*vad_ar_viktigt_for_dig", "Vad är viktigt för dig?", "Med den enskildes egna ord."),
        s("egna_mal", "Egna mål", "Den enskildes mål."),
        e("onskad_motesplats", "Önskad mötesplats", "Var den enskilde vill ha mötet.", ["I hemmet", "På sjukhuset", "På vårdcentralen", "Digitalt", "Annan plats"]),
        s("vill_ha_med", "Vill ha med", "Närstående eller andra som den enskilde vill ha med."),
    ]),
    "kalla_till_sip": ("Kallelse till SIP-möte", "Skriftlig kallelse; bjud bara in de parter och professioner som behövs.", [
        b("*inbjuden_slutenvard", "Slutenvården kallas", "Ja om slutenvården ska delta."),
        b("*inbjuden_hemsjukvard", "Kommunens hemsjukvård kallas", "Ja om hemsjukvården ska delta."),
        b("*inbjuden_socialtjanst", "Socialtjänsten kallas", "Ja om socialtjänsten ska delta."),
        a("inbjudna_professioner", "Professioner", "Vilka professioner som kallas.", ["Biståndshandläggare", "Sjuksköterska", "Arbetsterapeut", "Fysioterapeut", "Läkare", "Vårdplanerare"]),
        dt("*motestid", "Mötestid", "Datum och tid för mötet."),
        e("*motesplats", "Mötesplats", "Var mötet hålls (företrädesvis i hemmet).", ["I hemmet", "På sjukhuset", "På vårdcentralen", "Digitalt", "Annan plats"]),
        dt("*kallelse_skickad", "Kallelse skickad", "Tidpunkt."),
    ]),
    "bekrafta_deltagande": ("Bekräfta deltagande", "Partens svar på kallelsen.", [
        b("*deltar", "Deltar", "Parten deltar i mötet."),
        s("deltagare_namn", "Deltagare", "Namn.", 200),
        s("profession", "Profession", "Deltagarens profession.", 100),
    ]),
    "genomfora_sip_mote": ("SIP-möte", "Genomfört möte.", [
        dt("*mote_genomfort", "Genomfört", "Datum och tid."),
        e("*motesplats", "Mötesplats", "Var mötet hölls.", ["I hemmet", "På sjukhuset", "På vårdcentralen", "Digitalt", "Annan plats"]),
        b("*den_enskilde_deltog", "Den enskilde deltog", "Ja om den enskilde deltog."),
        a("narvarande", "Närvarande parter", "Parter som deltog.", PARTER),
    ]),
    "uppratta_sip": ("Samordnad individuell plan", "Planens innehåll.", [
        s("*behov", "Behov", "Den enskildes behov."),
        s("*mal_den_enskilde", "Den enskildes mål", "Mål med den enskildes egna ord."),
        s("mal_professionella", "Professionernas mål", "Mål för insatserna."),
        ("insatser", {"type": "array", "title": "Insatser per huvudman", "description": "Vem gör vad.", "minItems": 1,
                      "items": {"type": "object", "title": "Insats", "description": "En insats.",
                                "required": ["huvudman", "insats"],
                                "properties": {
                                    "huvudman": {"type": "string", "enum": HUVUDMAN, "title": "Huvudman", "description": "Region, kommun eller annan."},
                                    "insats": {"type": "string", "maxLength": 500, "title": "Insats", "description": "Vad som ska göras."},
                                    "ansvarig": {"type": "string", "maxLength": 200, "title": "Ansvarig", "description": "Enhet eller person."}}}}),
        e("*planeringsansvarig", "Planeringsansvarig", "Vem som har övergripande ansvar.", ["Region primärvård", "Kommun hemsjukvård", "Kommun socialtjänst", "Slutenvård"]),
        s("planeringsansvarig_namn", "Planeringsansvarig (namn)", "Namn.", 200),
        s("*egen_del", "Den enskildes egen del", "Den enskildes eget ansvar för hälsa, vård och behandling."),
        da("*uppfoljningsdatum", "Uppföljningsdatum", "När planen följs upp."),
        s("*uppfoljning_ansvarig", "Ansvarig för uppföljningen", "Namn eller funktion.", 200),
    ]),
    "lamna_kopia": ("Kopia till den enskilde", "Planen lämnas till den enskilde.", [
        da("*kopia_lamnad", "Lämnad", "Datum."),
        e("*satt", "Sätt", "Hur kopian lämnades.", ["Papper", "Digitalt (1177)", "Papper och muntligt"]),
    ]),
    "ta_del_av_planen": ("Ta del av planen", "Den enskildes bekräftelse.", [
        b("*forstar_planen", "Förstår planen", "Den enskilde förstår planen och sin egen del."),
        s("synpunkter", "Synpunkter", "Den enskildes synpunkter."),
    ]),
    "genomfora_insatser": ("Insatser enligt planen", "Partens insatser har startat.", [
        b("*insatser_startade", "Insatser startade", "Ja när partens insatser har startat (eller inte berör parten)."),
        kommentar(),
    ]),
    "genomfora_egen_del": ("Min egen del", "Den enskildes egen del av planen.", [
        b("*egen_del_paborjad", "Påbörjad", "Den enskilde har påbörjat sin egen del."),
        kommentar(),
    ]),
    "folja_upp_sip": ("Uppföljning av SIP", "Uppföljning på uppföljningsdatumet.", [
        da("*uppfoljning_datum", "Datum", "Datum för uppföljningen."),
        e("*malen_uppfyllda", "Målen uppfyllda", "Bedömning.", ["Ja", "Delvis", "Nej"]),
        b("*plan_revideras", "Planen revideras", "Ja om planen behöver revideras i ett nytt möte."),
        kommentar(),
    ]),
    "avsluta_sip": ("Avsluta SIP", "Avslut av planen.", [
        e("*avslutsorsak", "Orsak", "Varför SIP:en avslutas.", ["Målen uppfyllda", "Den enskilde önskar avsluta", "Behovet har upphört", "Annat"]),
        b("*den_enskilde_informerad", "Den enskilde informerad", "Den enskilde vet att planen avslutas."),
    ]),
    # ---------------------------------------------------------------- mobilt_team
    "begara_mobilt_team": ("Begäran om mobilt team", "Begäran från ordinarie vårdgivare.", [
        e("*begarande_part", "Begärande part", "Vem som begär.", ["Kommun hemsjukvård", "Region primärvård", "Slutenvård", "Den enskilde eller närstående"]),
        s("*motivering", "Motivering", "Varför mobilt team behövs."),
        hsa("*ordinarie_vardcentral_hsa_id", "Ordinarie vårdcentral (HSA-id)", "Vårdcentral där den enskilde är listad."),
    ]),
    "godkanna_begaran": ("Godkänna begäran", "Ordinarie läkares beslut.", [
        b("*begaran_godkand", "Godkänd", "Ja om begäran godkänns."),
        s("motivering", "Motivering", "Motivering till beslutet."),
    ]),
    "meddela_avslag": ("Besked om avslag", "Besked till den som begärde.", [
        da("*meddelat", "Meddelat", "Datum."), s("motivering", "Motivering", "Motivering som lämnades."),
    ]),
    "bedoma_kriterier": ("Kriterier för mobilt team", "Minst 4 av 6 kriterier ska vara uppfyllda.", [
        b("*minst_tre_kroniska_diagnoser", "Minst 3 kroniska diagnoser", "Tre eller fler kroniska diagnoser."),
        b("*minst_tre_inlaggningar_12_man", "Minst 3 inläggningar på 12 månader", "Tre eller fler inläggningar det senaste året."),
        b("*minst_sex_lakemedel", "Minst 6 regelbundna läkemedel", "Sex eller fler läkemedel."),
        b("*klarar_ej_personlig_vard", "Klarar inte personlig vård", "Behöver hjälp med personlig vård."),
        b("*minst_75_ar", "75 år eller äldre", "Ålder."),
        b("*inskriven_i_hemsjukvard", "Inskriven i hemsjukvården", "Har kommunal hälso- och sjukvård."),
    ]),
    "meddela_kriterier_ej_uppfyllda": ("Kriterier ej uppfyllda", "Besked när kriterierna inte uppfylls.", [
        da("*meddelat", "Meddelat", "Datum."), kommentar(),
    ]),
    "samtycke_mobilt_team": ("Samtycke till mobilt team", "Den enskildes ställningstagande.", [
        b("*samtycke_mobilt_team", "Samtycker", "Ja om den enskilde vill ingå i teamet."),
        e("samtycke_lamnat_av", "Lämnat av", "Vem som lämnade samtycket.", ["Den enskilde", "Närstående", "God man eller förvaltare", "Annan företrädare"]),
    ]),
    "inskriva_i_mobilt_team": ("Inskrivning i mobilt team", "Fast vårdkontakt och SIP.", [
        da("*inskrivningsdatum", "Inskrivningsdatum", "Datum."),
        hsa("*fast_vardkontakt_hsa_id", "Fast vårdkontakt (HSA-id)", "Vårdsamordnare."),
        hsa("*fast_lakarkontakt_hsa_id", "Fast läkarkontakt (HSA-id)", "Läkare."),
        b("*sip_erbjuds", "SIP erbjuds", "Ja om SIP ska erbjudas nu (varje individ med behov av samverkan ska ha en SIP)."),
    ]),
    "forsta_gemensamma_hembesok": ("Första gemensamma hembesök", "Läkare från vårdcentralen och sjuksköterska från hemsjukvården.", [
        dt("*besok_datum", "Datum och tid", "När besöket gjordes."),
        hsa("lakare_hsa_id", "Läkare (HSA-id)", "HSA-id."),
        s("sjukskoterska", "Sjuksköterska", "Namn.", 200),
        s("*bedomning", "Bedömning", "Gemensam bedömning."),
    ]),
    "uppratta_vardplan_mobilt_team": ("Vårdplan i mobilt team", "Mål, akutplan och rondintervall.", [
        s("*mal", "Mål", "Mål för teamets insatser."),
        s("*akutplan", "Akutplan", "Vad som görs vid akut försämring, inklusive kontaktväg dygnet runt."),
        i("*rond_intervall_dagar", "Rondintervall (dagar)", "Dagar mellan ronder i hemmet; glesas ut när det går. Standard 7.", 1, 90),
    ]),
    "folja_personen": ("Följa personen i teamet", "Slutförs när något har hänt som kräver åtgärd, eller vid planerad utvärdering.", [
        e("*handelse", "Händelse", "Vad som har hänt.", ["akut försämring", "utvärdering"]),
        kommentar(),
    ]),
    "hembesoksrond": ("Hembesöksrond", "Rond i hemmet.", [
        dt("*besok_datum", "Datum och tid", "När ronden gjordes."),
        e("*status", "Status", "Hur den enskilde mår.", ["Stabil", "Förbättrad", "Försämrad"]),
        s("atgarder", "Åtgärder", "Vad som gjordes."),
    ]),
    "bedoma_akut_i_hemmet": ("Akut bedömning i hemmet", "Bedömning vid akut försämring.", [
        s("*bedomning", "Bedömning", "Läkarens/sjuksköterskans bedömning."),
        b("*direktinlaggning_behovs", "Sjukhusvård behövs", "Ja om direktinläggning på avdelning behövs."),
        b("direktinlaggning_korttid", "Kommunal korttidsplats/sviktplats behövs", "Ja om sjukhusvård inte behövs men vård hemma inte räcker: direktinläggning på kommunens korttidsplats eller sviktplats."),
    ]),
    "direktinlaggning_korttid": ("Direktinläggning på korttid/sviktplats", "Kommunal korttidsplats eller sviktplats direkt från det mobila teamet.", [
        e("*plats", "Plats", "Vilken sorts plats.", ["Korttidsplats", "Sviktplats"]),
        s("*enhet", "Enhet", "Korttidsboendet eller sviktplatsens namn.", 200),
        b("*bistandsbeslut_fattat", "Biståndsbeslut fattat", "Ja när beslut om insatsen är fattat (även av jour efter kontorstid)."),
        dt("inflyttning", "Inflyttning", "När den enskilde kom till platsen."),
    ]),
    "avsluta_teamet_vid_dodsfall": ("Avsluta teamet vid dödsfall", "Teamets ärende avslutas när den enskilde har avlidit under vårdtillfället.", [
        b("*planerade_besok_avbokade", "Planerade besök avbokade", "Ronder och hembesök är avbokade."),
        b("*narstaende_kontaktade", "Närstående erbjudna kontakt", "Närstående har erbjudits kontakt med teamet."),
        kommentar(),
    ]),
    "bedoma_fortsatt_team": ("Fortsatt teaminsats efter vårdtillfället", "Vårdtillfället avslutades utan utskrivning hem (t.ex. överflyttning).", [
        s("*var_ar_den_enskilde", "Var är den enskilde", "T.ex. överflyttad till annat sjukhus.", 300),
        s("*fortsatt_uppfoljning", "Fortsatt uppföljning", "Hur teamet följer den enskilde tills hen är hemma igen."),
    ]),
    "atgarda_i_hemmet": ("Åtgärd i hemmet", "Behandling i hemmet.", [
        s("*atgarder", "Åtgärder", "Vad som gjordes."),
    ]),
    "direktinlaggning": ("Direktinläggning", "Inläggning direkt på avdelning utan akutmottagningen; startar in- och utskrivningsprocessen.", [
        hsa("*avdelning_hsa_id", "Mottagande avdelning (HSA-id)", "Avdelningens HSA-id."),
        s("*orsak", "Orsak", "Varför sjukhusvård behövs."),
        dt("*kontakt_med_avdelning", "Kontakt med avdelningen", "När avdelningen kontaktades."),
    ]),
    "ta_emot_direktinlaggning": ("Ta emot direktinlagd patient", "Avdelningens registrering.", [
        s("*vardtillfalle_id", "Vårdtillfälle", "Id för vårdtillfället.", 64),
        dt("*inskrivningstid", "Inskrivningstid", "Tidpunkt för inskrivning."),
    ]),
    "utvardera_insatser": ("Utvärdering", "Utvärdering av teamets insatser.", [
        e("*malen_uppfyllda", "Målen uppfyllda", "Bedömning.", ["Ja", "Delvis", "Nej"]),
        b("*fortsatt_i_teamet", "Fortsatt i teamet", "Ja om den enskilde ska vara kvar i teamet (planen revideras)."),
        kommentar(),
    ]),
    "skriva_ut_fran_teamet": ("Utskrivning från mobilt team", "Avslut i teamet.", [
        da("*utskrivningsdatum", "Utskrivningsdatum", "Datum."),
        e("*orsak", "Orsak", "Varför den enskilde skrivs ut.", ["Målen uppfyllda", "Flyttat", "Avliden", "Den enskilde önskar avsluta", "Annat"]),
    ]),
    "overlamna_till_ordinarie_vc": ("Överlämning till ordinarie vårdcentral", "Ordinarie vård tar över.", [
        da("*overlamnat", "Överlämnat", "Datum."),
        hsa("mottagare_hsa_id", "Mottagare (HSA-id)", "Ansvarig på ordinarie vårdcentral."),
        kommentar(),
    ]),
}


def build(name, spec):
    title, desc, fields = spec[:3]
    extra = spec[3] if len(spec) > 3 else {}
    props, req = {}, []
    for fname, schema in fields:
        if fname.startswith("*"):
            fname = fname[1:]
            req.append(fname)
        props[fname] = schema
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": f"https://samflode.se/forms/{name}.json", "title": title, "description": desc,
           "type": "object", "properties": props, "required": req}
    doc.update(extra)
    # An `if` on a field's value holds vacuously while that field is empty, which would demand the conditional field
    # before anyone has answered the question it depends on: the condition holds only once the field is given.
    condition = doc.get("if")
    if condition and "required" not in condition:
        doc["if"] = {**condition, "required": sorted(condition.get("properties", {}))}
    return doc


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, spec in FORMS.items():
        (OUT / f"{name}.json").write_text(json.dumps(build(name, spec), ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")
    print(f"{len(FORMS)} forms written to {OUT}")


if __name__ == "__main__":
    main()
