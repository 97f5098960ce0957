"""``forgelens keys``: API keys of the service (create prints the key once)."""

from __future__ import annotations

from typing import Annotated

import typer

from forgelens.cli._common import DbOption, FormatOption, console, print_rows, store_for

app = typer.Typer(help="Create, list and revoke API keys of the service.", no_args_is_help=True)


@app.command("create")
def create(
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    name: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
    db: DbOption = None,
) -> None:
    """Create a key and print it once (only its hash is stored).

    Example: forgelens keys create --role operator --name ci-bot
    """
    from forgelens.service.audit import audit_row, write_audit
    from forgelens.service.keys import check_role, create_key

    check_role(role)
    store = store_for(db)
    try:
        key_id, key = create_key(store, role, name, created_by="cli")
        write_audit(
            store,
            audit_row("keys.create", "ok", key_id="cli", target=key_id, detail=f"role={role}"),
        )
    finally:
        store.close()
    console.print(f"key id: {key_id}  role: {role}")
    console.print("key (shown once, keep it secret):", highlight=False)
    typer.echo(key)


@app.command("list")
def list_cmd(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """List keys (never the keys themselves). Example: forgelens keys list -f json"""
    from forgelens.service.keys import list_keys

    store = store_for(db, read_only=True)
    try:
        print_rows(list_keys(store), fmt, "API keys")
    finally:
        store.close()


@app.command("revoke")
def revoke(key_id: str, db: DbOption = None) -> None:
    """Revoke a key by its id. Example: forgelens keys revoke 3f2a9c1b7d4e"""
    from forgelens.service.audit import audit_row, write_audit
    from forgelens.service.keys import revoke_key

    store = store_for(db)
    try:
        revoke_key(store, key_id)
        write_audit(store, audit_row("keys.revoke", "ok", key_id="cli", target=key_id))
    finally:
        store.close()
    console.print(f"revoked {key_id}")
