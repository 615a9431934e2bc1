"""Readable ``rich`` tables of a simulated day.

Why a module of its own: the CLI stays a thin list of commands, and the tables can
be reused (a notebook, another command). Every person shown is already masked in
the report (``DayReport.accounts``); nothing here reads the store.

Every value taken from the report (a department label, a masked name, a topic, an
error code, a channel) goes into a table as :class:`~rich.text.Text`, because the
tables may be printed on any console, and one that reads markup would take ``[red]``
in a value for a style, drop ``[erased]`` and crash on ``[/x]``. Titles, captions
and headers are this module's own words and keep their table styles.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.console import Console
from rich.table import Table
from rich.text import Text

from healthcard.domain.audit import Channel
from healthcard.domain.usage import UsageStep
from healthcard.simulation.hospital import DEPARTMENT_LABELS
from healthcard.simulation.report import DayReport, SessionFigures

REFUSAL_MEANINGS = {
    "identity_incomplete": "temporary card: identity missing",
    "session_full": "no place left in the session",
    "family_cap_reached": "account already holds the cap",
    "token_rejected": "QR token scanned twice (replayed)",
}
TOP_ACCOUNTS = 3


def _text(value: object) -> Text:
    """A value of the report as a cell that no console reads as markup or emoji codes."""
    return Text(str(value))


def render_report(console: Console, report: DayReport) -> None:
    """Print every table of the day, in the order things happened."""
    for table in (
        events_table(report),
        registrations_table(report),
        cards_table(report),
        bindings_table(report),
        largest_accounts_table(report),
        sessions_table(report),
        refusals_table(report),
        check_ins_table(report),
        card_uses_table(report),
    ):
        console.print(table)


def events_table(report: DayReport) -> Table:
    table = Table(title="Events written by topic", show_footer=True)
    table.add_column("topic", footer="total")
    table.add_column("events", justify="right", footer=str(sum(report.events_by_topic.values())))
    for topic, count in report.events_by_topic.items():
        table.add_row(_text(topic), str(count))
    return table


def registrations_table(report: DayReport) -> Table:
    table = Table(title="Registrations by channel", show_footer=True)
    table.add_column("channel", footer="total")
    table.add_column(
        "registrations",
        justify="right",
        footer=str(sum(report.registrations_by_channel.values())),
    )
    table.add_column("volunteer-assisted", justify="right", footer=str(report.volunteer_assisted))
    for channel, count in report.registrations_by_channel.items():
        assisted = str(report.volunteer_assisted) if channel == Channel.KIOSK.value else "-"
        table.add_row(_text(channel), str(count), assisted)
    return table


def cards_table(report: DayReport) -> Table:
    table = Table(title="Cards: formal vs temporary")
    table.add_column("kind")
    table.add_column("cards", justify="right")
    table.add_column("meaning")
    table.add_row("formal", str(report.formal), "identity verified by a primary institution")
    table.add_row("temporary", str(report.temporary), "no verified identity document yet")
    return table


def bindings_table(report: DayReport) -> Table:
    table = Table(
        title="Bindings per account",
        caption=(
            f"{report.bindings} bindings on {len(report.accounts)} accounts "
            f"(family cap {report.family_cap})"
        ),
    )
    table.add_column("cards held", justify="right")
    table.add_column("accounts", justify="right")
    table.add_column("phone", justify="right")
    table.add_column("wechat", justify="right")
    kinds: dict[int, Counter[str]] = defaultdict(Counter)
    for account in report.accounts:
        kinds[len(account.members)][account.kind.value] += 1
    for held, count in report.accounts_by_cards_held().items():
        table.add_row(str(held), str(count), str(kinds[held]["phone"]), str(kinds[held]["wechat"]))
    return table


def largest_accounts_table(report: DayReport) -> Table:
    table = Table(title="Largest family accounts (masked)")
    table.add_column("account")
    table.add_column("kind")
    table.add_column("cards: name (relation code)")
    largest = sorted(report.accounts, key=lambda account: -len(account.members))[:TOP_ACCOUNTS]
    for account in largest:
        members = ", ".join(f"{name} ({relation.value})" for name, relation in account.members)
        table.add_row(_text(account.masked_identifier), _text(account.kind.value), _text(members))
    return table


def sessions_table(report: DayReport) -> Table:
    """Sessions grouped by department and period (one session each on a small day)."""
    groups: dict[tuple[str, str], list[SessionFigures]] = defaultdict(list)
    for figures in report.sessions:
        groups[(figures.department, figures.period.value)].append(figures)
    largest = max((figures.capacity for figures in report.sessions), default=0)
    table = Table(
        title="Clinic sessions",
        caption=f"{len(report.sessions)} sessions of at most {largest} places, "
        "by department and period",
        show_footer=True,
    )
    table.add_column("department", footer="total")
    table.add_column("period")
    columns = ("capacity", "booked", "remaining", "checked in")
    totals = _session_totals(report.sessions)
    for name, total in zip(columns, totals, strict=True):
        table.add_column(name, justify="right", footer=str(total))
    for (department, period), sessions in groups.items():
        label = DEPARTMENT_LABELS.get(department, department)
        counts = (str(value) for value in _session_totals(sessions))
        table.add_row(_text(label), _text(period), *counts)
    return table


def _session_totals(sessions: list[SessionFigures]) -> tuple[int, int, int, int]:
    return (
        sum(s.capacity for s in sessions),
        sum(s.booked for s in sessions),
        sum(s.remaining for s in sessions),
        sum(s.checked_in for s in sessions),
    )


def refusals_table(report: DayReport) -> Table:
    table = Table(title="Refusals by error code", show_footer=True)
    table.add_column("error code", footer="total")
    table.add_column("command")
    table.add_column("count", justify="right", footer=str(sum(report.refusals.values())))
    table.add_column("meaning")
    for (command, code), count in sorted(report.refusals.items(), key=lambda item: item[0][1]):
        table.add_row(_text(code), _text(command), str(count), REFUSAL_MEANINGS.get(code, ""))
    return table


def check_ins_table(report: DayReport) -> Table:
    table = Table(title="Triage check-ins")
    table.add_column("appointments made", justify="right")
    table.add_column("checked in (ID card)", justify="right")
    table.add_column("did not come", justify="right")
    table.add_row(
        str(report.appointments_made),
        str(report.check_ins),
        str(report.appointments_made - report.check_ins),
    )
    return table


def card_uses_table(report: DayReport) -> Table:
    table = Table(
        title="Card uses at points of care",
        caption="each use scanned a freshly issued QR token (national step codes)",
        show_footer=True,
    )
    table.add_column("step code", footer="total")
    table.add_column("step")
    table.add_column("channel")
    table.add_column("uses", justify="right", footer=str(sum(report.card_uses.values())))
    for step, channels in report.card_uses_by_step().items():
        for channel, count in channels.items():
            table.add_row(_text(step), UsageStep(step).name.lower(), _text(channel), str(count))
    return table
