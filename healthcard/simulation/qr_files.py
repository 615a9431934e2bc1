"""The QR files of ``healthcard demo --out DIR`` for one bound card.

Written files (all under ``out_dir``):

* ``qr-signed.png`` — the signed token as a QR code (version <= 7, level M);
* ``qr-signed.txt`` — the token text, one line;
* ``qr-national.png`` — the dynamic national QR (``<EHCID>:0:<validity>``), valid for
  60 s from the app's clock, under the app's national QR protection key unless given;
* ``keys/public.json`` — the public key document of the app's keyring mode, so that
  ``healthcard qr verify --keys DIR/keys/public.json --token-file DIR/qr-signed.txt
  --mode test`` verifies the demo token (within its lifetime, or with ``--at``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

from healthcard.adapters import qr_render
from healthcard.adapters.log_reader import LogReader
from healthcard.application import HealthCardApp
from healthcard.application.commands import AccountRef, IssueToken
from healthcard.domain.account import Account
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import CardStatus
from healthcard.domain.events.card import Bound
from healthcard.qr import national_qr

DEMO_AUDIT = Audit(
    actor="healthcard-demo", channel=Channel.WECHAT_OFFICIAL_ACCOUNT, institution="DEMO"
)
NATIONAL_VALIDITY = timedelta(seconds=60)


def write_demo_qr(
    app: HealthCardApp,
    card_id: UUID,
    account: AccountRef,
    out_dir: str | Path,
    *,
    audit: Audit = DEMO_AUDIT,
    protection_key: bytes | None = None,
) -> list[Path]:
    """Issue a token for ``card_id`` shown by ``account`` and write the demo's QR files.

    The card must be normal, bound to ``account`` and formal (the national QR carries
    its EHC ID). Returns the paths written, in the order listed above.
    """
    card = app.card(card_id)
    if card.ehc_id is None:
        raise ValueError("the national QR needs a formal card (identity completed)")
    out = Path(out_dir)
    (out / "keys").mkdir(parents=True, exist_ok=True)
    token = app.issue_token(IssueToken(audit=audit, card_id=card_id, account=account))
    key = protection_key if protection_key is not None else app.config.qr_protection_key
    national = national_qr.dynamic_text(card.ehc_id, app.clock() + NATIONAL_VALIDITY, key)
    signed_txt = out / "qr-signed.txt"
    signed_txt.write_text(token + "\n", encoding="ascii")
    keys = out / "keys" / "public.json"
    keys.write_text(app.keyring.public_json(app.keyring.mode), encoding="utf-8")
    return [
        qr_render.save(token, out / "qr-signed.png"),
        signed_txt,
        qr_render.save(national, out / "qr-national.png"),
        keys,
    ]


def write_first_bound_card_qr(app: HealthCardApp, out_dir: str | Path) -> list[Path]:
    """The QR files of the first formal, normal card (in log order) still bound to the
    account it was bound to; no files (``[]``) when the day has no such card."""
    for notification in LogReader(app).notifications(topics=[Bound.TOPIC]):
        event = app.mapper.to_domain_event(notification)
        if not isinstance(event, Bound):
            continue
        card = app.card(event.originator_id)
        bound_now = event.account_id in card.accounts
        if card.is_formal and card.status is CardStatus.NORMAL and bound_now:
            account = app.repository.get(event.account_id, projector_func=Account.project)
            if isinstance(account, Account) and account.identifier is not None:
                ref = AccountRef(kind=account.kind, identifier=account.identifier)
                return write_demo_qr(app, card.id, ref, out_dir)
    return []
