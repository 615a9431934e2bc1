"""Hypothesis strategies for every command of the library (valid commands; ids are
random unless the caller passes strategies of existing ones).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from healthcard.application.commands import (
    AccountRef,
    BindCard,
    CancelAppointment,
    CancelCard,
    CheckInWithDocument,
    CheckInWithQr,
    Command,
    CompleteIdentity,
    ErasePersonalData,
    FreezeCard,
    IssueToken,
    MakeAppointment,
    PublishSession,
    RegisterCard,
    UnbindCard,
    UnfreezeCard,
    UseCard,
)
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.identity import IdentityDocument
from healthcard.testing.strategies.values import (
    MAX_BIRTH,
    Person,
    account_refs,
    audits,
    cn_mobile_numbers,
    codes,
    documents,
    idempotency_keys,
    issuer_modes,
    periods,
    person_names,
    persons,
    photo_refs,
    registration_channels,
    relations,
    token_texts,
    token_uses,
    usage_channels,
    usage_steps,
)


@st.composite
def register_card_commands(
    draw: st.DrawFn, *, audit: st.SearchStrategy[Audit] | None = None
) -> RegisterCard:
    """A valid registration; a volunteer only at a kiosk (the domain's rule)."""
    the_audit = draw(audit if audit is not None else audits(registration_channels()))
    volunteer = draw(st.none() | codes("V")) if the_audit.channel is Channel.KIOSK else None
    return RegisterCard(
        audit=the_audit,
        name=draw(person_names()),
        issuer_mode=draw(issuer_modes()),
        phone=draw(st.none() | cn_mobile_numbers()),
        photo=draw(st.none() | photo_refs()),
        volunteer=volunteer,
        idempotency_key=draw(st.none() | idempotency_keys()),
    )


def _ids(values: st.SearchStrategy[UUID] | None) -> st.SearchStrategy[UUID]:
    return values if values is not None else st.uuids()


@st.composite
def complete_identity_commands(
    draw: st.DrawFn,
    *,
    card_ids: st.SearchStrategy[UUID] | None = None,
    people: st.SearchStrategy[Person] | None = None,
) -> CompleteIdentity:
    person = draw(people if people is not None else persons())
    return CompleteIdentity(
        audit=draw(audits()),
        card_id=draw(_ids(card_ids)),
        document=person.document,
        name=person.name,
        sex=person.sex,
        birth_date=person.birth_date,
    )


def bind_card_commands(
    *,
    card_ids: st.SearchStrategy[UUID] | None = None,
    accounts: st.SearchStrategy[AccountRef] | None = None,
) -> st.SearchStrategy[BindCard]:
    return st.builds(
        BindCard,
        audit=audits(),
        card_id=_ids(card_ids),
        account=accounts if accounts is not None else account_refs(),
        relation=relations(),
    )


def unbind_card_commands(
    *,
    card_ids: st.SearchStrategy[UUID] | None = None,
    accounts: st.SearchStrategy[AccountRef] | None = None,
) -> st.SearchStrategy[UnbindCard]:
    return st.builds(
        UnbindCard,
        audit=audits(),
        card_id=_ids(card_ids),
        account=accounts if accounts is not None else account_refs(),
    )


def publish_session_commands(
    *, days: st.SearchStrategy[date] | None = None, max_capacity: int = 200
) -> st.SearchStrategy[PublishSession]:
    """Clinic sessions: department, doctor, day, period and a capacity."""
    return st.builds(
        PublishSession,
        audit=audits(),
        department=st.sampled_from(
            ["internal_medicine", "paediatrics", "obstetrics", "cardiology"]
        ),
        doctor=codes("dr-"),
        day=days
        if days is not None
        else st.dates(MAX_BIRTH + timedelta(days=1), date(2027, 12, 31)),
        period=periods(),
        capacity=st.integers(1, max_capacity),
    )


clinic_sessions = publish_session_commands
"""Alias: a clinic session is published by a ``PublishSession`` command."""


def make_appointment_commands(
    *,
    session_ids: st.SearchStrategy[UUID] | None = None,
    card_ids: st.SearchStrategy[UUID] | None = None,
) -> st.SearchStrategy[MakeAppointment]:
    return st.builds(
        MakeAppointment,
        audit=audits(),
        session_id=_ids(session_ids),
        card_id=_ids(card_ids),
        idempotency_key=st.none() | idempotency_keys(),
    )


def cancel_appointment_commands(
    *,
    session_ids: st.SearchStrategy[UUID] | None = None,
    appointment_ids: st.SearchStrategy[UUID] | None = None,
) -> st.SearchStrategy[CancelAppointment]:
    return st.builds(
        CancelAppointment,
        audit=audits(),
        session_id=_ids(session_ids),
        appointment_id=_ids(appointment_ids),
        reason=codes(),
    )


def check_in_with_document_commands(
    *,
    session_ids: st.SearchStrategy[UUID] | None = None,
    document: st.SearchStrategy[IdentityDocument] | None = None,
) -> st.SearchStrategy[CheckInWithDocument]:
    return st.builds(
        CheckInWithDocument,
        audit=audits(st.just(Channel.TRIAGE_DESK)),
        session_id=_ids(session_ids),
        document=document if document is not None else documents(),
    )


def freeze_card_commands(
    *, card_ids: st.SearchStrategy[UUID] | None = None
) -> st.SearchStrategy[FreezeCard]:
    return st.builds(FreezeCard, audit=audits(), card_id=_ids(card_ids), reason=codes())


def unfreeze_card_commands(
    *, card_ids: st.SearchStrategy[UUID] | None = None
) -> st.SearchStrategy[UnfreezeCard]:
    return st.builds(UnfreezeCard, audit=audits(), card_id=_ids(card_ids))


def cancel_card_commands(
    *, card_ids: st.SearchStrategy[UUID] | None = None
) -> st.SearchStrategy[CancelCard]:
    return st.builds(CancelCard, audit=audits(), card_id=_ids(card_ids), reason=codes())


def erase_personal_data_commands(
    *, card_ids: st.SearchStrategy[UUID] | None = None
) -> st.SearchStrategy[ErasePersonalData]:
    return st.builds(ErasePersonalData, audit=audits(), card_id=_ids(card_ids), reason=codes())


def issue_token_commands(
    *,
    card_ids: st.SearchStrategy[UUID] | None = None,
    accounts: st.SearchStrategy[AccountRef] | None = None,
) -> st.SearchStrategy[IssueToken]:
    return st.builds(
        IssueToken,
        audit=audits(
            st.sampled_from([Channel.MINI_PROGRAM, Channel.APP, Channel.WECHAT_OFFICIAL_ACCOUNT])
        ),
        card_id=_ids(card_ids),
        account=accounts if accounts is not None else account_refs(),
        use=token_uses(),
        lifetime_seconds=st.integers(1, 255),
    )


def check_in_with_qr_commands(
    *,
    session_ids: st.SearchStrategy[UUID] | None = None,
    tokens: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[CheckInWithQr]:
    return st.builds(
        CheckInWithQr,
        audit=audits(st.just(Channel.TRIAGE_DESK)),
        session_id=_ids(session_ids),
        token=tokens if tokens is not None else token_texts(),
    )


def use_card_commands(
    *, tokens: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[UseCard]:
    """Uses at a point of care (the audit's channel is always a point-of-care one)."""
    return st.builds(
        UseCard,
        audit=audits(usage_channels()),
        token=tokens if tokens is not None else token_texts(),
        step=usage_steps(),
    )


def command_strategies() -> dict[type[Command], st.SearchStrategy[Any]]:
    """One strategy per command class of :mod:`healthcard.application.commands`."""
    return {
        RegisterCard: register_card_commands(),
        CompleteIdentity: complete_identity_commands(),
        BindCard: bind_card_commands(),
        UnbindCard: unbind_card_commands(),
        PublishSession: publish_session_commands(),
        MakeAppointment: make_appointment_commands(),
        CancelAppointment: cancel_appointment_commands(),
        CheckInWithDocument: check_in_with_document_commands(),
        FreezeCard: freeze_card_commands(),
        UnfreezeCard: unfreeze_card_commands(),
        CancelCard: cancel_card_commands(),
        ErasePersonalData: erase_personal_data_commands(),
        IssueToken: issue_token_commands(),
        CheckInWithQr: check_in_with_qr_commands(),
        UseCard: use_card_commands(),
    }


def commands() -> st.SearchStrategy[Command]:
    """Any command (ids are random, so most would be refused as not found)."""
    return st.one_of(*command_strategies().values())


__all__ = [
    "bind_card_commands",
    "cancel_appointment_commands",
    "cancel_card_commands",
    "check_in_with_document_commands",
    "check_in_with_qr_commands",
    "clinic_sessions",
    "command_strategies",
    "commands",
    "complete_identity_commands",
    "erase_personal_data_commands",
    "freeze_card_commands",
    "issue_token_commands",
    "make_appointment_commands",
    "publish_session_commands",
    "register_card_commands",
    "unbind_card_commands",
    "unfreeze_card_commands",
    "use_card_commands",
]
