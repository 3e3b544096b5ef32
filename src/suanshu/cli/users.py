"""`suanshu user`: people who sign in to the web console (argon2-hashed passwords)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from suanshu.cli.output import Format, console, handles_errors, print_json, table
from suanshu.core.errors import UsageError


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # one line: scripts pipe it in (`echo "$PW" | suanshu user create … --password-stdin`)
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("user.no_password", "--password-stdin read an empty line")
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def register(app: typer.Typer, open_exchange: Callable) -> None:
    user_app = typer.Typer(help="Console users: people who sign in to the web console.", no_args_is_help=True)
    app.add_typer(user_app, name="user")

    @user_app.command("create")
    @handles_errors
    def create(org: str, username: str,
               role: Annotated[list[str] | None, typer.Option(
                   "--role", "-r", help="provider|buyer|compute|operator|auditor (default: the org's roles)")] = None,
               display_name: Annotated[str, typer.Option(help="Name shown in the console")] = "",
               password_stdin: Annotated[bool, typer.Option(
                   "--password-stdin", help="Read the password from the first line of standard input")] = False,
               fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table) -> None:
        """Create USERNAME for ORG; the password is prompted for (or read with --password-stdin)."""
        from suanshu.market import users

        password = _read_password(password_stdin)
        ex = open_exchange()
        user = users.create_user(ex, None, org, username, password, role or (), display_name=display_name)
        out = {"id": user.id, "username": user.username, "org": org, "roles": user.roles}
        if fmt == Format.json:
            print_json(out)
        else:
            console.print(f"Created console user [bold]{user.username}[/] for {org} roles={','.join(user.roles)}")

    @user_app.command("list")
    @handles_errors
    def list_(org: Annotated[str | None, typer.Argument(help="Only this org's users")] = None,
              fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table) -> None:
        """Console users (never their password hashes)."""
        from suanshu.market import users

        rows = [users.user_json(u, o) for u, o in users.list_users(open_exchange(), org)]
        if fmt == Format.json:
            print_json(rows)
        else:
            table("Console users", ["username", "org", "roles", "disabled", "id"],
                  [(r["username"], r["org"], ",".join(r["roles"]), r["disabled_at"] or "", r["id"]) for r in rows])

    @user_app.command("disable")
    @handles_errors
    def disable(username: str, fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table) -> None:
        """Disable a user and end their console sessions at once."""
        from suanshu.market import users

        users.disable_user(open_exchange(), None, username)
        print_json({"username": username, "disabled": True}) if fmt == Format.json else \
            console.print(f"Disabled {username}")
