"""``archive user``, ``archive client`` and ``archive policy``."""

from __future__ import annotations

from dataclasses import asdict

import click

from archive_manager.cli.context import CliContext, emit, new_passphrase, note, table
from archive_manager.cli.main import main, pass_cli
from archive_manager.cli.options import common, json_option
from archive_manager.cli import pairs
from archive_manager.cli.lazy import lazy_module
from archive_manager.text import printable

accounts = lazy_module("archive_manager.accounts")
clients = lazy_module("archive_manager.clients")
policies = lazy_module("archive_manager.policy")


@main.group()
def user() -> None:
    """Manage users (admins) and your own passphrase."""


@user.command("add")
@click.argument("name")
@click.option("--dept", "departments", multiple=True, required=True, help="Department (repeatable).")
@click.option("--display-name", default="", help="The name paperwork prints, e.g. 张三.")
@click.option("--new-passphrase-file", type=click.Path(dir_okay=False), help="The new user's passphrase.")
@click.option("--one-time", is_flag=True,
              help="The passphrase is one-time: the user sets their own at their first sign-in.")
@json_option
@common
@pass_cli
def user_add(cli: CliContext, name, departments, display_name, new_passphrase_file, one_time, as_json) -> None:
    """Add a user and seal their departments' class keys to them."""
    session = cli.session()

    def ask() -> str:
        cli.warn_cheap_kdf()
        return new_passphrase(new_passphrase_file, f"New passphrase for {name}")

    r = accounts.add_user(session, name, list(departments), ask, display_name, one_time=one_time)
    emit(r.to_dict(), as_json, lambda r: click.echo(
        f"added {' '.join(filter(None, [r['user'], r['display_name']]))} ({', '.join(r['departments'])}); "
        f"classes: {', '.join(r['classes']) or '-'}"
        + ("\nthe passphrase is one-time: they set their own at their first sign-in ('archive user passwd')"
           if r["one_time"] else "")))


@user.command("list")
@json_option
@common
@pass_cli
def user_list(cli: CliContext, as_json) -> None:
    """List users."""
    rows = accounts.list_users(cli.session())
    emit([r.to_dict() for r in rows], as_json, lambda rows: table(
        [{**r, "departments": ",".join(r["departments"]), "display_name": r["display_name"] or "-",
          "status": r["status"] + (" (one-time passphrase)" if r["passphrase_to_set"] else "")} for r in rows],
        [("user", "USER"), ("display_name", "NAME"), ("departments", "DEPARTMENTS"), ("status", "STATUS"),
         ("created", "CREATED"), ("fingerprint", "KEY")]))


@user.command("show")
@click.argument("name")
@json_option
@common
@pass_cli
def user_show(cli: CliContext, name, as_json) -> None:
    """Show one user: display name, departments, status, key."""
    session = cli.session()
    r = asdict(accounts.show_user(session, name))
    departments = session.policy.departments

    emit(r, as_json, lambda r: click.echo("\n".join([
        f"user: {r['user']}", f"display name: {r['display_name'] or '-'}",
        "departments: " + ", ".join(f"{d} ({departments[d]})" if d in departments else d for d in r["departments"]),
        f"status: {r['status']}" + (" (administrator)" if r["admin"] else "")
        + (" (one-time passphrase: to be replaced at the first sign-in)" if r["passphrase_to_set"] else ""),
        f"created: {r['created']}",
        f"key: {r['fingerprint']}", f"classes: {', '.join(r['classes']) or '-'}"])))


@user.command("edit")
@click.argument("name")
@click.option("--display-name", help="The name paperwork prints, e.g. 张三 (\"\" removes it).")
@json_option
@common
@pass_cli
def user_edit(cli: CliContext, name, display_name, as_json) -> None:
    """Change a user's display name (admins; keys and departments are untouched)."""
    r = asdict(accounts.edit_user(cli.session(), name, display_name=display_name))
    emit(r, as_json, lambda r: click.echo(
        f"{r['user']}'s display name is already {r['display_name'] or 'empty'}: nothing changed" if not r["changed"]
        else f"{r['user']}'s display name is now {r['display_name']}" if r["display_name"]
        else f"{r['user']} has no display name now (was {r['previous']})"))


@user.command("departments")
@click.argument("name")
@click.option("--dept", "departments", multiple=True, required=True, help="Department (repeatable): all of them.")
@json_option
@common
@pass_cli
def user_departments(cli: CliContext, name, departments, as_json) -> None:
    """Give a user these departments (admins): keys of new grants are sealed to
    them, classes they lose are rotated."""
    r = accounts.set_departments(cli.session(), name, list(departments))
    emit(r.to_dict(), as_json, lambda r: click.echo(
        f"{r['user']} is already in {', '.join(r['departments'])}: nothing changed" if not r["changed"] else
        f"{r['user']}: {', '.join(r['previous'])} → {', '.join(r['departments'])}; "
        f"sealed: {', '.join(r['sealed']) or '-'}; rotated: {', '.join(r['rotated']) or '-'}"))
    warn_notes(r.notes)


@user.command("remove")
@click.argument("name")
@json_option
@common
@pass_cli
def user_remove(cli: CliContext, name, as_json) -> None:
    """Remove a user and rotate every class key they held."""
    r = accounts.remove_user(cli.session(), name)
    emit(r.to_dict(), as_json, lambda r: click.echo(
        f"removed {r['user']}; rotated: {', '.join(r['rotated']) or '-'}\n{r['message']}"))
    warn_notes(r.notes)


@user.command("passwd")
@click.option("--new-passphrase-file", type=click.Path(dir_okay=False), help="The new passphrase.")
@json_option
@common
@pass_cli
def user_passwd(cli: CliContext, new_passphrase_file, as_json) -> None:
    """Change your passphrase (documents are untouched); after a one-time
    passphrase an administrator gave, the first thing to do."""
    user, passphrase = cli.credentials()
    session = cli.home.login(user, passphrase, passphrase_change=True)
    cli.warn_cheap_kdf()
    r = accounts.change_passphrase(session, new_passphrase(new_passphrase_file, "New passphrase"))
    emit(r.to_dict(), as_json, lambda r: click.echo(f"passphrase changed for {r['user']}"))


@main.group()
def client() -> None:
    """Admit clients and look at their dossiers."""


@client.command("add")
@click.argument("code")
@click.option("--name", required=True, help="Client name, e.g. 北京星辰传媒有限公司.")
@click.option("--set", "fields", multiple=True, metavar="KEY=VALUE", help="Profile field (repeatable).")
@json_option
@common
@pass_cli
def client_add(cli: CliContext, code, name, fields, as_json) -> None:
    """Admit a client and create its dossier."""
    r = clients.add_client(cli.session(), code, name, pairs.parse_fields(fields))
    emit(r.to_dict(), as_json, lambda r: click.echo(f"added client {r['client']} {r['name']}"))


@client.command("list")
@json_option
@common
@pass_cli
def client_list(cli: CliContext, as_json) -> None:
    """List clients."""
    rows = clients.list_clients(cli.session())
    emit([r.to_dict() for r in rows], as_json,
         lambda rows: table(rows, [("client", "CLIENT"), ("name", "NAME"), ("created", "CREATED")]))


@client.command("show")
@click.argument("code")
@click.option("--history", is_flag=True, help="Also show every earlier profile value (who, when, old → new).")
@json_option
@common
@pass_cli
def client_show(cli: CliContext, code, history, as_json) -> None:
    """Show a client's profile and document counts."""
    r = clients.show_client(cli.session(), code, history=history)

    def text(r):
        click.echo(f"{r['client']}  {r['name']}  (since {r['created']})")
        for k, v in sorted(r["profile"].items()):
            click.echo(f"  {k}: {v}")
        for cls, n in sorted(r["documents"].items()):
            click.echo(f"  {cls}: {n} document(s)")
        if history:
            click.echo("history:")
            width = max((len(h["by"]) for h in r["history"]), default=0)
            for h in r["history"]:
                click.echo(f"  {h['time']}  {h['by']:<{width}}  {_change(h)}")
            if not r["history"]:
                click.echo("  (none)")

    emit(r.to_dict(), as_json, text)


@client.command("edit")
@click.argument("code")
@click.option("--set", "fields", multiple=True, metavar="FIELD=VALUE",
              help="New value of a profile field (repeatable; empty removes the field).")
@json_option
@common
@pass_cli
def client_edit(cli: CliContext, code, fields, as_json) -> None:
    """Change a client's profile (admins, or the department that owns the field
    in policies/profile.toml); earlier values are kept as history."""
    r = asdict(clients.edit_client(cli.session(), code, pairs.parse_fields(fields)))

    def text(r):
        if not r["changes"]:
            click.echo(f"nothing changed: {r['client']} already holds these values")
            return
        click.echo(f"edited client {r['client']} {r['name']}")
        for c in r["changes"]:
            click.echo(f"  {_change(c)}")

    emit(r, as_json, text)


def _change(c: dict) -> str:
    return f"{c['field']}: {c['old'] if c['old'] is not None else '-'} → {c['new'] if c['new'] is not None else '-'}"


@main.group()
def policy() -> None:
    """Check the policy files and apply them to the keys."""


@policy.command("check")
@json_option
@common
@pass_cli
def policy_check(cli: CliContext, as_json) -> None:
    """Validate the policy files (no sign-in needed)."""
    p = policies.load_policy(cli.settings.policies_dir)
    r = {"classes": {c.id: list(c.types) for c in p.classes.values()},
         "departments": sorted(p.departments),
         "grants": {g.department: {"classes": sorted(g.classes), "actions": sorted(g.actions)}
                    for g in p.grants.values()}}
    emit(r, as_json, lambda r: click.echo(
        f"policy ok: {len(r['classes'])} classes, {sum(len(t) for t in r['classes'].values())} types, "
        f"{len(r['departments'])} departments"))


@policy.command("diff")
@json_option
@common
@pass_cli
def policy_diff(cli: CliContext, as_json) -> None:
    """Show how the edited policy files and catalog differ from the signed policy (admins)."""
    diff = accounts.policy_diff(cli.session(check_policy_files=False))
    emit({"diff": diff, "changed": bool(diff)}, as_json, lambda r: click.echo(
        "\n".join(printable(line) for line in diff) if diff else "no change: the files are the signed policy"))


@policy.command("sync")
@json_option
@common
@pass_cli
def policy_sync(cli: CliContext, as_json) -> None:
    """Sign the edited policy (showing the change), seal class keys to new holders
    and rotate away from revoked ones (admins)."""
    r = accounts.sync_policy(cli.session(check_policy_files=False))

    def text(r):
        if r["diff"]:
            click.echo("\n".join(printable(line) for line in r["diff"]))
            click.echo(f"signed the policy above (digest {r['policy'][:16]}…)")
        click.echo(f"sealed: {', '.join(r['sealed']) or '-'}; revoked: {', '.join(r['revoked']) or '-'}; "
                   f"rotated: {', '.join(r['rotated']) or '-'}; new classes: {', '.join(r['created']) or '-'}")

    emit(r.to_dict(), as_json, text)
    warn_notes(r.notes)


@main.command()
@click.option("--fingerprint", help="The root fingerprint to confirm (instead of the prompt).")
@json_option
@common
@pass_cli
def upgrade(cli: CliContext, fingerprint, as_json) -> None:
    """Give an archive made by an earlier version its signed trust anchor (an admin,
    once), then confirm its root fingerprint into your keyring (every user, once)."""
    from archive_manager.upgrading import upgrade as run_upgrade

    def confirm(root) -> bool:
        if root.new:
            click.echo(f"administrators to be trusted: {', '.join(root.admins)}", err=True)
        click.echo(f"root fingerprint: {root.fingerprint}", err=True)
        if fingerprint is not None:
            return "".join(fingerprint.split()).lower() == "".join(root.fingerprint.split())
        try:
            return click.confirm("is this the archive's root of trust?", default=False, err=True)
        except click.Abort:
            return False

    user, passphrase = cli.credentials()
    r = run_upgrade(cli.home, user, passphrase, confirm)
    emit(asdict(r), as_json, lambda r: click.echo(
        f"nothing to do: {r['user']}'s keyring already knows root {r['fingerprint']}" if r["already"] else
        f"signed the archive's current state; root fingerprint: {r['fingerprint']}\n"
        "give it to every user: each runs 'archive upgrade' once and confirms it" if r["created_root"] else
        f"{r['user']}'s keyring now vouches for root {r['fingerprint']}"))


def warn_notes(notes: list[str]) -> None:
    for text in notes:
        note("warning", text)
