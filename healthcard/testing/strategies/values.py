"""Hypothesis strategies for every value of the library: codes, documents, people,
phones, accounts (the command strategies build on these, in ``commands``).

Why in the package: an app that embeds ``healthcard`` tests its own flows with the same
generators the library tests itself with, so "a valid resident ID" means the same thing
on both sides (built from real area codes and stdnum's check digit, not random digits).
Valid generators only produce values the boundary accepts; ``invalid_*`` generators only
produce values it refuses (each test of this module says so, in both directions).

All people are synthetic; no real person's data is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hypothesis import strategies as st

from healthcard.application.commands import AccountRef
from healthcard.domain.audit import Audit, Channel
from healthcard.domain.card_values import AccountKind, IssuerMode, PhotoRef
from healthcard.domain.clinic_values import CheckInCredential, Period
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex, with_check_character
from healthcard.domain.relation import Relation
from healthcard.domain.usage import POINT_OF_CARE_CHANNELS, TokenUse, UsageStep

# -- codes and enums -------------------------------------------------------------------

AREA_CODES: tuple[str, ...] = (
    "110101", "110102", "110105", "110108", "120101", "130102", "140105", "150102",
    "210102", "220102", "230102", "310101", "310104", "310115", "320102", "330102",
    "330106", "340102", "350102", "360102", "370102", "410102", "420102", "430102",
    "440103", "440106", "440304", "450102", "460105", "500101", "500103", "510104",
    "510105", "510106", "510107", "510108", "510112", "510121", "510302", "510623",
    "511302", "520102", "530102", "540102", "610102", "620102", "630102", "640104",
    "650102",
)  # fmt: skip
"""County-level division codes known to stdnum (so the library's area check passes)."""

FOREIGN_PROVINCES = ("11", "31", "44", "51")
NATIONALITY_CODES = ("840", "826", "250", "276", "392", "410", "643", "036")
"""ISO 3166 numeric codes used in 2023 foreign permanent residence IDs (first digit 9)."""

MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "199",
)  # fmt: skip
"""Mainland mobile prefixes that phonenumbers accepts with any 8 following digits."""

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "司徒", "慕容")
GIVEN_CHARACTERS = (
    "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳"
    "芳娜敏静丽艳娟霞秀玲燕琳雪莉婷慧颖倩洁琴云兰萍红梅月晶悦彤"
)
MINORITY_PARTS = ("买买提", "艾力", "阿依古丽", "努尔", "热依拉", "扎西", "卓玛", "巴特尔")

REGISTRATION_CHANNELS = (
    Channel.WECHAT_OFFICIAL_ACCOUNT,
    Channel.KIOSK,
    Channel.WINDOW,
    Channel.APP,
)
"""Channels a card is registered through (DESIGN, lifecycle step 1)."""

USAGE_CHANNELS = tuple(sorted(POINT_OF_CARE_CHANNELS))
"""Channels of use at a point of care (national usage channels)."""

STEP_CODES: tuple[str, ...] = tuple(step.value for step in UsageStep)
"""National usage step codes 010101 (registration) ... 010107 (surgery), as text."""

MIN_BIRTH = date(1900, 1, 1)
MAX_BIRTH = date(2026, 11, 24)
"""The day before :class:`~healthcard.adapters.clock.FakeClock`'s default start."""


def channels() -> st.SearchStrategy[Channel]:
    return st.sampled_from(Channel)


def registration_channels() -> st.SearchStrategy[Channel]:
    return st.sampled_from(REGISTRATION_CHANNELS)


def usage_channels() -> st.SearchStrategy[Channel]:
    return st.sampled_from(USAGE_CHANNELS)


def relations() -> st.SearchStrategy[Relation]:
    """GB/T 4761 relation codes."""
    return st.sampled_from(Relation)


def sexes() -> st.SearchStrategy[Sex]:
    return st.sampled_from(Sex)


def periods() -> st.SearchStrategy[Period]:
    return st.sampled_from(Period)


def issuer_modes() -> st.SearchStrategy[IssuerMode]:
    return st.sampled_from(IssuerMode)


def check_in_credentials() -> st.SearchStrategy[CheckInCredential]:
    return st.sampled_from(CheckInCredential)


def step_codes() -> st.SearchStrategy[str]:
    """National usage step codes 010101-010107 (registration ... surgery), as text."""
    return st.sampled_from(STEP_CODES)


def usage_steps() -> st.SearchStrategy[UsageStep]:
    return st.sampled_from(UsageStep)


def token_uses() -> st.SearchStrategy[TokenUse]:
    return st.sampled_from(TokenUse)


def token_texts() -> st.SearchStrategy[str]:
    """Scanned QR texts shaped like signed tokens (``EH1:`` + base45); not valid
    signatures: a valid token comes from ``HealthCardApp.issue_token``."""
    return st.from_regex(r"EH1:[0-9A-Z $%*+./:-]{20,174}", fullmatch=True)


def codes(prefix: str = "") -> st.SearchStrategy[str]:
    """Codes chosen by the embedding app (staff ids, institutions, departments)."""
    return st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,15}", fullmatch=True).map(
        lambda text: f"{prefix}{text}"
    )


DEPARTMENT_NAMES = ("内科", "儿科", "产科", "心血管内科", "internal_medicine", "paediatrics")
REASON_TEXTS = ("lost_phone", "患者本人申请", "重复建档", "duplicate record", "pipl_art47_request")


def free_texts() -> st.SearchStrategy[str]:
    """Free text the boundary accepts (reasons, department names; Chinese or Latin)."""
    return st.one_of(
        st.sampled_from(DEPARTMENT_NAMES + REASON_TEXTS),
        st.text(alphabet=GIVEN_CHARACTERS + "科室病区门诊 ", min_size=1, max_size=30).filter(
            lambda text: text.strip() != ""
        ),
    )


@st.composite
def texts_with_personal_numbers(draw: st.DrawFn) -> str:
    """Free text that carries a resident ID or a mobile number, in the forms people type
    (plain, spaced, dashed, +86, full-width digits): the boundary refuses all of them."""
    number = draw(st.one_of(resident_id_numbers(), cn_mobile_numbers()))
    if draw(st.booleans()):
        number = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in number)
    before = draw(st.sampled_from(["", "phone ", "身份证", "lost: "]))
    after = draw(st.sampled_from(["", " 号", ", call back"]))
    return f"{before}{number}{after}"


def invalid_codes() -> st.SearchStrategy[str]:
    """Codes the boundary refuses: names, spaces, symbols, too long, other scripts."""
    return st.one_of(
        chinese_names(),
        st.just("two words"),
        st.just("a" * 65),
        st.sampled_from(["x;drop", "a@b", "dr/li", "[red]x[/red]", "ｓｔａｆｆ"]),
    )


def institutions() -> st.SearchStrategy[str]:
    return st.builds(lambda n: f"H{n:09d}", st.integers(510_000_000, 519_999_999))


def audits(channel: st.SearchStrategy[Channel] | None = None) -> st.SearchStrategy[Audit]:
    """Audit metadata with a random actor, channel and institution."""
    return st.builds(
        Audit,
        actor=codes("staff-"),
        channel=channel if channel is not None else channels(),
        institution=institutions(),
        correlation_id=st.uuids(),
    )


# -- dates and identity documents ----------------------------------------------------


def birth_dates(
    min_value: date = MIN_BIRTH, max_value: date = MAX_BIRTH
) -> st.SearchStrategy[date]:
    return st.dates(min_value=min_value, max_value=max_value)


def _sequence_for(sex: Sex | None, draw_int: int) -> str:
    """A 3-digit order code; its last digit is odd for men and even for women."""
    if sex is Sex.MALE:
        draw_int = draw_int | 1
    elif sex is Sex.FEMALE:
        draw_int = draw_int & ~1
    return f"{draw_int:03d}"


def with_check_digit(first17: str) -> str:
    """Append the ISO 7064 MOD 11-2 check character (``domain.identity.with_check_character``)."""
    return with_check_character(first17)


@st.composite
def resident_id_numbers(
    draw: st.DrawFn,
    *,
    sex: Sex | None = None,
    birth_date: date | None = None,
    areas: tuple[str, ...] = AREA_CODES,
) -> str:
    """A valid 18-character resident ID; its 17th digit matches ``sex`` when given."""
    born = birth_date if birth_date is not None else draw(birth_dates())
    area = draw(st.sampled_from(areas))
    order = _sequence_for(sex, draw(st.integers(0, 999)))
    return with_check_digit(f"{area}{born:%Y%m%d}{order}")


@st.composite
def foreign_permanent_ids(
    draw: st.DrawFn, *, sex: Sex | None = None, birth_date: date | None = None
) -> str:
    """A 2023-style foreign permanent residence ID: 9, province, nationality, birth, order."""
    born = birth_date if birth_date is not None else draw(birth_dates())
    head = "9" + draw(st.sampled_from(FOREIGN_PROVINCES)) + draw(st.sampled_from(NATIONALITY_CODES))
    order = _sequence_for(sex, draw(st.integers(0, 999)))
    return with_check_digit(f"{head}{born:%Y%m%d}{order}")


@st.composite
def broken_checksum_resident_ids(draw: st.DrawFn) -> str:
    """A resident ID that is right in every part except its check character."""
    number = draw(resident_id_numbers())
    wrong = draw(st.sampled_from([c for c in "0123456789X" if c != number[17]]))
    return number[:17] + wrong


@st.composite
def invalid_resident_id_numbers(draw: st.DrawFn) -> str:
    """Refused resident IDs: bad checksum, length, date, area code or characters."""
    valid = draw(resident_id_numbers())
    kind = draw(st.sampled_from(["checksum", "short", "long", "date", "area", "letters"]))
    if kind == "checksum":
        return draw(broken_checksum_resident_ids())
    if kind == "short":
        return valid[: draw(st.integers(0, 17))]
    if kind == "long":
        return valid + draw(st.from_regex(r"[0-9]{1,4}", fullmatch=True))
    if kind == "date":  # month 13 or day 32, checksum made right
        return with_check_digit(
            valid[:10] + draw(st.sampled_from(["1301", "0232", "0000"])) + valid[14:17]
        )
    if kind == "area":  # a province code that does not exist (80-89), checksum made right
        return with_check_digit(draw(st.sampled_from(["800101", "880102", "000000"])) + valid[6:17])
    position = draw(st.integers(0, 16))
    letter = draw(st.sampled_from("ABCYZ"))
    return valid[:position] + letter + valid[position + 1 :]


def _other_number(document_type: DocumentType) -> st.SearchStrategy[str]:
    if document_type is DocumentType.PASSPORT:
        return st.from_regex(r"[EGP][0-9]{8}", fullmatch=True)
    if document_type is DocumentType.HK_MACAU_PERMIT:
        return st.from_regex(r"[HM][0-9]{8,10}", fullmatch=True)
    if document_type is DocumentType.TAIWAN_PERMIT:
        return st.from_regex(r"[0-9]{8}", fullmatch=True)
    return st.from_regex(r"[A-Z0-9]{5,20}", fullmatch=True)


OTHER_DOCUMENT_TYPES = tuple(t for t in DocumentType if t is not DocumentType.RESIDENT_ID)


@st.composite
def other_documents(draw: st.DrawFn) -> IdentityDocument:
    """A valid document of a type other than the resident ID (02-07, 99)."""
    document_type = draw(st.sampled_from(OTHER_DOCUMENT_TYPES))
    return IdentityDocument(type=document_type, number=draw(_other_number(document_type)))


def resident_id_documents() -> st.SearchStrategy[IdentityDocument]:
    return st.one_of(resident_id_numbers(), foreign_permanent_ids()).map(
        lambda number: IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)
    )


def documents() -> st.SearchStrategy[IdentityDocument]:
    """Any valid identity document (resident IDs more often)."""
    return st.one_of(resident_id_documents(), other_documents())


def invalid_document_inputs() -> st.SearchStrategy[dict[str, str]]:
    """Raw ``{"type", "number"}`` inputs that ``IdentityDocument`` refuses."""
    return st.one_of(
        invalid_resident_id_numbers().map(lambda n: {"type": "01", "number": n}),
        st.sampled_from(OTHER_DOCUMENT_TYPES).map(lambda t: {"type": t.value, "number": "A1"}),
        st.sampled_from(["00", "08", "1", "ID"]).map(lambda t: {"type": t, "number": "E12345678"}),
    )


@dataclass(frozen=True, slots=True)
class Person:
    """A synthetic person whose stated facts agree with their document."""

    document: IdentityDocument
    name: str
    sex: Sex
    birth_date: date


@st.composite
def persons(draw: st.DrawFn, *, max_birth: date = MAX_BIRTH, resident_only: bool = False) -> Person:
    """A person with a consistent document, sex and birth date (identity completes)."""
    born = draw(birth_dates(max_value=max_birth))
    kind = (
        "resident"
        if resident_only
        else draw(st.sampled_from(["resident", "resident", "9", "other"]))
    )
    if kind == "other":
        sex = draw(sexes())
        document = draw(other_documents())
    else:
        sex = draw(st.sampled_from([Sex.MALE, Sex.FEMALE]))
        numbers = resident_id_numbers if kind == "resident" else foreign_permanent_ids
        number = draw(numbers(sex=sex, birth_date=born))
        document = IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)
    return Person(document=document, name=draw(person_names()), sex=sex, birth_date=born)


# -- names, phones, accounts -------------------------------------------------------------


@st.composite
def chinese_names(draw: st.DrawFn) -> str:
    """Han names (single or compound surname, one or two given characters)."""
    surname = draw(st.one_of(st.sampled_from(SURNAMES), st.sampled_from(COMPOUND_SURNAMES)))
    given = draw(st.text(alphabet=GIVEN_CHARACTERS, min_size=1, max_size=2))
    return surname + given


@st.composite
def minority_names(draw: st.DrawFn) -> str:
    """Transliterated minority names joined with the middle dot (``买买提·艾力``)."""
    parts = draw(st.lists(st.sampled_from(MINORITY_PARTS), min_size=2, max_size=3))
    return "·".join(parts)


def latin_names() -> st.SearchStrategy[str]:
    return st.from_regex(r"[A-Z][a-z]{1,10}( [A-Z][a-z]{1,12}){1,2}", fullmatch=True)


def person_names() -> st.SearchStrategy[str]:
    """Any name the library accepts: mostly Han, some minority and Latin names."""
    return st.one_of(chinese_names(), chinese_names(), minority_names(), latin_names())


def invalid_person_names() -> st.SearchStrategy[str]:
    """Names the boundary refuses: empty, too long, digits, symbols, emoji."""
    return st.one_of(
        st.just(""),
        st.just("   "),
        st.text(alphabet=GIVEN_CHARACTERS, min_size=51, max_size=60),
        chinese_names().map(lambda name: name + "3"),
        chinese_names().map(lambda name: name + "😀"),
        chinese_names().map(lambda name: name + "@"),
    )


@st.composite
def cn_mobile_numbers(draw: st.DrawFn, *, style: str | None = None) -> str:
    """A valid mainland mobile in one of the forms people type (plain, spaced, +86)."""
    national = draw(st.sampled_from(MOBILE_PREFIXES)) + draw(
        st.from_regex(r"[0-9]{8}", fullmatch=True)
    )
    chosen = style if style is not None else draw(st.sampled_from(["plain", "spaced", "e164"]))
    if chosen == "spaced":
        return f"{national[:3]} {national[3:7]} {national[7:]}"
    if chosen == "e164":
        return f"+86{national}"
    return national


def invalid_cn_mobile_numbers() -> st.SearchStrategy[str]:
    """Refused numbers: wrong prefix, wrong length, landlines, foreign numbers, text."""
    return st.one_of(
        st.from_regex(r"1[0-2][0-9]{9}", fullmatch=True),
        st.from_regex(r"1[3-9][0-9]{5,8}", fullmatch=True),
        st.from_regex(r"1[3-9][0-9]{10,12}", fullmatch=True),
        st.from_regex(r"028[2-8][0-9]{7}", fullmatch=True),  # Chengdu landline
        st.from_regex(r"\+1[2-9][0-9]{9}", fullmatch=True),
        st.just("call me maybe"),
    )


def wechat_open_ids() -> st.SearchStrategy[str]:
    """WeChat-shaped open ids (28 characters starting with ``o``)."""
    return st.from_regex(r"o[A-Za-z0-9_-]{27}", fullmatch=True)


def account_refs(kind: AccountKind | None = None) -> st.SearchStrategy[AccountRef]:
    phones = cn_mobile_numbers().map(lambda n: AccountRef(kind=AccountKind.PHONE, identifier=n))
    wechats = wechat_open_ids().map(lambda i: AccountRef(kind=AccountKind.WECHAT, identifier=i))
    if kind is AccountKind.PHONE:
        return phones
    if kind is AccountKind.WECHAT:
        return wechats
    return st.one_of(phones, wechats)


def photo_refs() -> st.SearchStrategy[PhotoRef]:
    return st.builds(
        PhotoRef,
        sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
        ref=st.from_regex(r"blob://photos/[0-9]{4}/[0-9a-z]{1,12}", fullmatch=True),
    )


def idempotency_keys() -> st.SearchStrategy[str]:
    return st.from_regex(r"[A-Za-z0-9_.:-]{1,32}", fullmatch=True)


__all__ = [
    "AREA_CODES",
    "COMPOUND_SURNAMES",
    "DEPARTMENT_NAMES",
    "FOREIGN_PROVINCES",
    "GIVEN_CHARACTERS",
    "MAX_BIRTH",
    "MINORITY_PARTS",
    "MIN_BIRTH",
    "MOBILE_PREFIXES",
    "NATIONALITY_CODES",
    "OTHER_DOCUMENT_TYPES",
    "REASON_TEXTS",
    "REGISTRATION_CHANNELS",
    "STEP_CODES",
    "SURNAMES",
    "USAGE_CHANNELS",
    "Person",
    "account_refs",
    "audits",
    "birth_dates",
    "broken_checksum_resident_ids",
    "channels",
    "check_in_credentials",
    "chinese_names",
    "cn_mobile_numbers",
    "codes",
    "documents",
    "foreign_permanent_ids",
    "free_texts",
    "idempotency_keys",
    "institutions",
    "invalid_cn_mobile_numbers",
    "invalid_codes",
    "invalid_document_inputs",
    "invalid_person_names",
    "invalid_resident_id_numbers",
    "issuer_modes",
    "latin_names",
    "minority_names",
    "other_documents",
    "periods",
    "person_names",
    "persons",
    "photo_refs",
    "registration_channels",
    "relations",
    "resident_id_documents",
    "resident_id_numbers",
    "sexes",
    "step_codes",
    "texts_with_personal_numbers",
    "token_texts",
    "token_uses",
    "usage_channels",
    "usage_steps",
    "wechat_open_ids",
    "with_check_digit",
]
