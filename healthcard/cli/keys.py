"""``healthcard keys generate|rotate|retire|show``: the deployment's keys folder.

``generate --out DIR`` writes every secret the library needs, each in its own file
(mode 0600, folder 0700), the published verification keys (``DIR/public.json``, what
``healthcard qr verify --keys`` reads) and ``DIR/healthcard.env`` (``NAME=VALUE``
lines that configure an app to use the folder). ``rotate`` adds a signing key that
signs from then on (older keys keep verifying); ``retire`` stops one for good. No
command prints key material. See ``healthcard.application.keys``.

A ``--keys`` folder that does not exist, or an ``--out`` that cannot be made (under a
file, no permission), ends in one line naming it and status 2. ``show`` only reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthcard.application import keys as keys_folder
from healthcard.cli.errors import cannot_run, new_app
from healthcard.cli.options import JsonOption, console, print_json
from healthcard.cli.outputs import check_output_folder, writing

app = new_app()
keys_app = new_app(name="keys", help="The keys folder: generate, rotate, retire, show.")
app.add_typer(keys_app, name="keys")

KeysOption = Annotated[
    Path, typer.Option("--keys", help="The keys folder (as `healthcard keys generate` wrote it).")
]


def existing_folder(keys: Path) -> Path:
    """``--keys`` as given, once it is known to exist (else one line, status 2): the
    library would name the first key file it misses, not the folder."""
    if not keys.exists():
        cannot_run(f"no keys folder at {keys} (it does not exist)")
    return keys


@keys_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", help="A new (or empty) folder for the keys.")],
) -> None:
    """Write every secret of a deployment into a new keys folder."""
    check_output_folder(out, "--out")
    with writing(out, "--out"):
        keys_folder.generate(out)
    shown = console()
    shown.print(f"Keys written to {out} (folder 0700, secrets 0600).")
    shown.print(f"Published verification keys: {out / keys_folder.PUBLIC_FILE}")
    shown.print(
        f"Configure an app with {out / keys_folder.ENV_FILE} "
        f"({keys_folder.ENV_KEYS_DIR}={out.resolve()}); keep the folder out of backups of "
        "the database and out of version control."
    )


@keys_app.command("rotate")
def rotate(keys: KeysOption) -> None:
    """Add a QR signing key that signs from now on (older keys still verify)."""
    with writing(keys, "--keys"):
        key_id = keys_folder.rotate(existing_folder(keys))
    console().print(
        f"Signing key {key_id} is current; {keys / keys_folder.PUBLIC_FILE} lists it. "
        "Publish the new document to scanners; retire the old key once its tokens expired."
    )


@keys_app.command("retire")
def retire(
    keys: KeysOption,
    kid: Annotated[int, typer.Option("--kid", help="The key id to retire (not the current).")],
) -> None:
    """Stop a QR signing key for good: its tokens are refused from now on."""
    with writing(keys, "--keys"):
        keys_folder.retire(existing_folder(keys), kid)
    console().print(f"Signing key {kid} is retired; its private key file is deleted.")


@keys_app.command("show")
def show(keys: KeysOption, as_json: JsonOption = False) -> None:
    """Key ids and states of a keys folder (never the keys). Only reads the folder."""
    state = keys_folder.summary(existing_folder(keys))
    if as_json:
        print_json(state)
        return
    shown = console()
    shown.print(f"{state['folder']}: current signing key {state['current_signing_key']}")
    for key in state["signing_keys"]:
        shown.print(f"  signing key {key['kid']}: {key['status']}")
    shown.print(f"  secrets: {', '.join(state['secrets'])}")
