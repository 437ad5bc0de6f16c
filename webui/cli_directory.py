"""Console commands for the directory and sign-in: `import-directory`, `set-password`, and `--password` on
`create-user`. Registered by webui.cli.parser() through `add_commands`."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from engine.commands.directory import import_directory
from engine.domain.errors import SamflodeError, ValidationFailed
from engine.domain.organisation import known_roles
from webui import cli


def _read_password(prompt: str = "Lösenord: ") -> str:
    """Twice from the terminal, or one line from standard input when it is not a terminal (scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    second = getpass.getpass("Samma lösenord igen: ")
    if first != second:
        raise ValidationFailed("Lösenorden är inte lika")
    return first


def cmd_import_directory(args: argparse.Namespace) -> int:
    p = cli._platform()
    accounts = p.accounts
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        print(f"{path}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        with p.db.unit_of_work() as session:
            report = import_directory(
                session, content, path.name, p.clock.now(), known_roles(p.catalog), accounts.hash_password
            )
    except ValidationFailed as exc:
        print(f"{path}: {exc.message}", file=sys.stderr)
        for problem in exc.details.get("problems", []):
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_dict(), ensure_ascii=False))
    return 0


def cmd_set_password(args: argparse.Namespace) -> int:
    p = cli._platform()
    p.accounts.set_password(args.username, _read_password())
    print(f"Lösenordet för {args.username} är satt")
    return 0


def add_commands(sub: Any) -> None:
    imp = sub.add_parser(
        "import-directory",
        help="importera enheter och användare från CSV eller JSON (allt eller inget)",
    )
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import_directory)

    pw = sub.add_parser("set-password", help="sätt en användares lösenord (frågar efter det)")
    pw.add_argument("username")
    pw.set_defaults(func=cmd_set_password)

    create_user = sub.choices.get("create-user")
    if create_user is not None:
        create_user.add_argument(
            "--password", action="store_true", help="fråga efter ett lösenord (eller läs en rad från stdin)"
        )
        plain = create_user.get_default("func")

        def create_with_password(args: argparse.Namespace) -> int:
            password = _read_password() if args.password else None
            if password is not None:
                p = cli._platform()
                p.accounts.hash_password(password)  # refuse a weak one before creating
            code = int(plain(args))
            if code == 0 and password is not None:
                try:
                    p.accounts.set_password(args.username, password)
                except SamflodeError as exc:
                    print(f"Fel: {exc.message}", file=sys.stderr)
                    return 1
                print(f"Lösenordet för {args.username} är satt")
            return code

        create_user.set_defaults(func=create_with_password)
