"""The `samflode` console command. Every command that changes something goes through the service layer."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.commands.facts_store import CaseFactsKeeper, RebuildCounts, rebuild_all
from engine.config import ConfigError, Settings
from engine.domain.actors import Actor
from engine.domain.clock import local, parse_step
from engine.domain.errors import DeployRejected, SamflodeError
from engine.features.catalogue_doc import catalogue, markdown
from engine.jobs.heartbeat import SchedulerSlots
from engine.jobs.scheduler import ClockNotSimulated
from engine.persistence.backup import BackupError, backup, restore
from engine.persistence.roles import set_up_application_role
from engine.platform import Platform, build
from webui import use_catalogue_for_mail

CLI_ACTOR = Actor("cli", frozenset({"admin"}), name="Kommandoraden")


_OPENED: list[Platform] = []


def _platform(settings: Settings | None = None) -> Platform:
    """The platform for one command; `main` closes it when the command ends (a connection left open is a leak)."""
    platform = build(settings or Settings.from_env())
    use_catalogue_for_mail(platform)  # `samflode notify` and the scheduler e-mail in each user's language
    _OPENED.append(platform)
    return platform


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def cmd_init_db(args: argparse.Namespace) -> int:
    p = _platform()
    print(f"Databasen är uppdaterad: {p.db.engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_db_role(args: argparse.Namespace) -> int:
    """The application's least-privileged role (PostgreSQL), made by the owner after `init-db` and again after each
    upgrade (docs/privacy.md)."""
    p = _platform()
    password = None
    if args.password:
        password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else __import__("getpass").getpass()
    try:
        done = set_up_application_role(p.db, args.role, password)
    except ValueError as exc:
        print(f"Fel: {exc}", file=sys.stderr)
        return 1
    for statement in done:
        print(statement + ";")
    print(f"Rollen {args.role} kan användas: DATABASE_URL=postgresql://{args.role}@... och SAMFLODE_MIGRATE=off")
    return 0


def _actor_for(p: Platform, username: str | None) -> Actor:
    return p.directory.actor(username) if username else CLI_ACTOR


def cmd_deploy(args: argparse.Namespace) -> int:
    """The files as one set (Runtime.deploy_set): in any order, a called process in the set is deployed before its
    callers; all or nothing."""
    p = _platform()
    who = _actor_for(p, args.as_user)
    paths = [Path(name) for name in args.files]
    try:
        files: list[tuple[str | None, bytes]] = [(path.name, path.read_bytes()) for path in paths]
    except OSError as exc:
        print(f"{exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        results = p.runtime.deploy_set(files, who, comment=args.comment or "")
    except DeployRejected as exc:
        print("Filerna kan inte driftsättas (inget driftsattes):", file=sys.stderr)
        for d in exc.diagnostics:
            print(f"  [{d.severity}] {d.element_id or '-'}: {d.message}", file=sys.stderr)
        return 1
    except SamflodeError as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    for path, result in zip(paths, results, strict=True):
        state = "ny version" if result.created else "oförändrad"
        print(f"{path}: {result.process_id} version {result.version} ({state})")
        default = p.pilots.effective_default(result.process_id)
        if result.executable and default is not None and default != result.version:
            print(
                f"  nya fall startar fortfarande på version {default}; "
                f"`samflode make-default {result.process_id} {result.version} --comment ...` gör den nya till standard"
            )
        for d in result.diagnostics:
            print(f"  [{d.severity}] {d.element_id or '-'}: {d.message}")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    p = _platform()
    with p.db.unit_of_work() as session:
        p.directory.create_user(
            session,
            args.username,
            args.name or args.username,
            _split(args.roles),
            _split(args.units),
            at=p.clock.now(),
            hsa_id=args.hsa_id,
        )
    print(f"Användaren {args.username} är skapad")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    p = _platform()
    with p.db.unit_of_work() as session:
        token = p.directory.create_token(session, args.username, at=p.clock.now(), label=args.label or "")
    print(token)
    return 0


def _scheduler_for(platform: Platform, settings: Settings, blocking: bool) -> Any:
    from engine.jobs.scheduler import TimerScheduler

    return TimerScheduler(
        platform.timers,
        settings.scheduler_safety_seconds,
        blocking=blocking,
        slots=SchedulerSlots(platform.db, settings.schedulers),
        listen_url=settings.database_url,
        jobs=platform.jobs,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.workers < 1:
        print("Fel: --workers ska vara minst 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        from webui.gunicorn_app import serve_with_gunicorn

        return serve_with_gunicorn(settings, args.host, args.port, args.workers, args.threads)
    from webui import create_app

    platform = _platform(settings)
    app = create_app(platform=platform)
    scheduler = None
    if settings.scheduler:
        scheduler = _scheduler_for(platform, settings, blocking=False)
        scheduler.start()
    try:
        from waitress import serve

        print(f"Samflöde lyssnar på http://{args.host}:{args.port}/", flush=True)
        serve(app, host=args.host, port=args.port, threads=args.threads, ident="samflode")
    finally:
        if scheduler is not None:
            scheduler.shutdown()
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    platform = _platform(settings)
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host)
    print("Tidsstyrningen körs; avbryt med Ctrl-C", flush=True)
    scheduler = _scheduler_for(platform, settings, blocking=True)

    def _stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)  # systemd's SIGTERM: give the slot back on the way out

    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
    scheduler.shutdown()
    if scheduler.lost_slot.is_set():
        print("Tidsstyrningen förlorade sin plats (en annan process tog över) och avslutas", file=sys.stderr)
        return 1
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        written = backup(settings.database_url, Path(args.file))
    except BackupError as exc:
        print(f"Fel: {exc}", file=sys.stderr)
        return 1
    print(f"Säkerhetskopian är skriven: {written}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not args.yes:
        print("Fel: återställningen ersätter hela databasen; bekräfta med --yes", file=sys.stderr)
        return 2
    try:
        restore(settings.database_url, Path(args.file))
    except BackupError as exc:
        print(f"Fel: {exc}", file=sys.stderr)
        return 1
    print(f"Databasen är återställd från {args.file}")
    return 0


def _show_time(p: Platform) -> str:
    kind = "simulerad" if getattr(p.clock, "simulated", False) else "verklig"
    return f"{local(p.clock.now()).isoformat()} ({kind} klocka)"


def cmd_clock_show(args: argparse.Namespace) -> int:
    p = _platform()
    try:
        print(_show_time(p))
        nxt = p.timers.next_due()
        if nxt is not None:
            print(f"Nästa timer: {local(nxt).isoformat()}")
    finally:
        p.close()
    return 0


def cmd_clock_advance(args: argparse.Namespace) -> int:
    try:
        step = parse_step(args.step)
    except ValueError as exc:
        print(f"Fel: {exc}", file=sys.stderr)
        return 2
    p = _platform()
    try:
        result = p.timers.advance(step)
        print(f"{_show_time(p)}; {result.fired} timers utlösta")
    except ClockNotSimulated as exc:
        print(f"Fel: {exc} (SAMFLODE_CLOCK=simulated)", file=sys.stderr)
        return 1
    finally:
        p.close()
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    """The activity catalogue of deployed processes as markdown (docs/activities.md is made with this)."""
    p = _platform()
    try:
        catalogues = []
        for process_id in args.process_ids:
            definition = p.reports.definition(process_id)
            catalogues.append(catalogue(definition, p.reports.definition_xml(process_id, definition["version"])))
        anchors = p.catalog.anchor_texts()
    finally:
        p.close()
    text = markdown(catalogues, anchors)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{args.out}: {sum(len(c.activities) for c in catalogues)} aktiviteter")
    else:
        sys.stdout.write(text)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from webui.demo import load_demo
    from webui.demo_story import load_story, users_table

    p = _platform()
    if getattr(args, "history", False):
        summary = load_story(p)
        shown = {k: v for k, v in summary.items() if k not in ("tokens", "directory")}
        print(json.dumps(shown, ensure_ascii=False, indent=2, default=str))
        print(f"\nKlockan: {_show_time(p)}\n")
        print(users_table(p))
        return 0
    summary = load_demo(p)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def cmd_make_default(args: argparse.Namespace) -> int:
    """The explicit, audited "make default" (issue 15): deploying never changes the version new cases start on."""
    p = _platform()
    who = _actor_for(p, args.as_user)
    if not args.comment.strip():
        print("Ange --comment: varför blir versionen standard?", file=sys.stderr)
        return 2
    try:
        p.pilots.set_default(who, args.process_id, args.version, comment=args.comment)
    except SamflodeError as exc:
        print(f"{args.process_id}: {exc.message}", file=sys.stderr)
        return 1
    print(f"{args.process_id}: nya fall startar nu på version {args.version} där ingen pilot eller spridning gäller")
    return 0


def cmd_rebuild_facts(args: argparse.Namespace) -> int:
    """Every case's facts (case_facts, the figures' table) derived again from its history through this version's code:
    after upgrading from a database before migration 0007, or after a change to the milestones or the derivation.
    Idempotent (a second run writes nothing), `--batch` cases per transaction."""
    if args.batch < 1:
        print("--batch måste vara minst 1", file=sys.stderr)
        return 2
    p = _platform()
    keeper = CaseFactsKeeper(p.catalog)
    if keeper.milestones is None:
        print("Ingen milestones.json i processmappen: inga fakta att bygga", file=sys.stderr)
        return 0

    def show(counts: RebuildCounts) -> None:
        print(f"\rFall: {counts.cases} (skrivna {counts.written})", end="", file=sys.stderr, flush=True)

    counts = rebuild_all(p.db, keeper, p.clock.now(), batch=args.batch, progress=show)
    print(file=sys.stderr)
    out = {"process": keeper.milestones.process_id, "fall": counts.cases, "skrivna": counts.written}
    print(json.dumps({**out, "oforandrade": counts.unchanged}, ensure_ascii=False))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="samflode", description="Samflöde: körbara vårdprocesser")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="skapa eller uppgradera databasen").set_defaults(func=cmd_init_db)
    role = sub.add_parser("db-role", help="skapa applikationens databasroll med minsta behörighet (PostgreSQL)")
    role.add_argument("role", nargs="?", default="samflode_app")
    role.add_argument("--password", action="store_true", help="läs rollens lösenord (från terminalen eller stdin)")
    role.set_defaults(func=cmd_db_role)

    deploy = sub.add_parser("deploy", help="driftsätt BPMN-filer")
    deploy.add_argument("files", nargs="+")
    deploy.add_argument("--comment", default="")
    deploy.add_argument("--as", dest="as_user", default=None, help="användaren som driftsätter (processägare)")
    deploy.set_defaults(func=cmd_deploy)

    default = sub.add_parser("make-default", help="gör en version till standardversion (driftsättning gör det aldrig)")
    default.add_argument("process_id")
    default.add_argument("version", type=int)
    default.add_argument("--comment", required=True, help="varför (granskas i loggen)")
    default.add_argument(
        "--as", dest="as_user", default=None, help="användaren (processägare eller implementeringsteam)"
    )
    default.set_defaults(func=cmd_make_default)

    serve = sub.add_parser("serve", help="kör webbservern (och tidsstyrningen om SAMFLODE_SCHEDULER=on)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--threads", type=int, default=8)
    serve.add_argument(
        "--workers", type=int, default=1, help="antal webbprocesser (fler än 1: gunicorn; 1: waitress, standard)"
    )
    serve.set_defaults(func=cmd_serve)

    sched = sub.add_parser("scheduler", help="kör tidsstyrningen som egen process")
    sched.add_argument("--metrics-port", type=int, default=0, help="visa Prometheus-mätvärden på denna port")
    sched.add_argument("--metrics-host", default="127.0.0.1")
    sched.set_defaults(func=cmd_scheduler)

    backup = sub.add_parser("backup", help="skriv en säkerhetskopia av databasen till en fil")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="ersätt databasen med en säkerhetskopia")
    restore.add_argument("file")
    restore.add_argument("--yes", action="store_true", help="bekräfta att databasen ska ersättas")
    restore.set_defaults(func=cmd_restore)
    clock = sub.add_parser("clock", help="visa eller flytta den simulerade klockan").add_subparsers(
        dest="clock_command", required=True
    )
    clock.add_parser("show", help="visa aktuell tid och nästa timer").set_defaults(func=cmd_clock_show)
    advance = clock.add_parser("advance", help="flytta den simulerade klockan och utlös det som förfaller")
    advance.add_argument("step", help="3d, 12h, 90m, 30s eller ett antal sekunder")
    advance.set_defaults(func=cmd_clock_advance)

    demo = sub.add_parser("demo", help="ladda processerna, en demokatalog och några instanser")
    demo.add_argument(
        "--historik",
        dest="history",
        action="store_true",
        help="på en ny databas med simulerad klocka: tre månaders ärenden, en incident, en pilot och en simulering",
    )
    demo.set_defaults(func=cmd_demo)

    cat = sub.add_parser("catalogue", help="skriv aktivitetskatalogen (markdown) ur driftsatta processer")
    cat.add_argument("process_ids", nargs="+", metavar="PROCESS_ID")
    cat.add_argument("--out", default=None, help="fil att skriva till (annars standard ut)")
    cat.set_defaults(func=cmd_catalogue)

    facts = sub.add_parser(
        "rebuild-facts", help="bygg om varje ärendes fakta för nyckeltalen ur dess historik (efter uppgradering)"
    )
    facts.add_argument("--batch", type=int, default=500, help="ärenden per transaktion")
    facts.set_defaults(func=cmd_rebuild_facts)

    user = sub.add_parser("create-user", help="skapa en användare")
    user.add_argument("username")
    user.add_argument("--name", default=None)
    user.add_argument("--roles", default="", help="kommaseparerade roller")
    user.add_argument("--units", default="", help="kommaseparerade enheter (HSA-id eller kommun)")
    user.add_argument("--hsa-id", default=None)
    user.set_defaults(func=cmd_create_user)

    token = sub.add_parser("create-token", help="skriv ut en ny API-nyckel för en användare")
    token.add_argument("username")
    token.add_argument("--label", default="")
    token.set_defaults(func=cmd_create_token)

    from webui.cli_directory import add_commands
    from webui.cli_notify import add_commands as add_notify_commands

    add_commands(sub)
    add_notify_commands(sub)
    from webui.cli_jobs import add_commands as add_jobs_commands

    add_jobs_commands(sub)
    from webui.cli_simulate import add_commands as add_simulate_commands

    add_simulate_commands(sub)
    from webui.cli_repair import add_commands as add_repair_commands

    add_repair_commands(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from webui.ops import configure_logging

    with contextlib.suppress(ConfigError, ValueError):
        configure_logging(Settings.from_env().log_format)
    logging.getLogger("spiff").setLevel(logging.WARNING)  # SpiffWorkflow logs every task state change at INFO
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # "Running job ..." every safety interval otherwise
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration on every new database
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"Konfigurationsfel: {exc}", file=sys.stderr)
        return 2
    except SamflodeError as exc:
        print(f"Fel: {exc.message}", file=sys.stderr)
        return 1
    finally:
        while _OPENED:
            _OPENED.pop().close()


if __name__ == "__main__":
    sys.exit(main())
