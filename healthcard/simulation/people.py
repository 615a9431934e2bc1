"""Synthetic residents of Sichuan and their households, drawn from a seeded RNG.

Why synthetic but valid: the demo must go through the same validation as real
input (resident ID checksum and birth place via python-stdnum, mobile numbers via
phonenumbers), so every number is built to be valid rather than random digits,
and every value comes from the caller's ``random.Random`` so a seed gives the
same people every time. No real person's data is used.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass
from datetime import date, timedelta

from healthcard.application.commands import AccountRef
from healthcard.domain.card_values import AccountKind, PhotoRef
from healthcard.domain.identity import DocumentType, IdentityDocument, Sex, with_check_character
from healthcard.domain.phone import normalise_cn_mobile
from healthcard.domain.relation import Relation

# (administrative division code, first year it was assigned) in Sichuan; stdnum
# refuses a resident ID whose birth year predates its division code.
REGIONS: tuple[tuple[str, int], ...] = (
    ("510104", 1990),  # 成都 锦江区
    ("510105", 1990),  # 成都 青羊区
    ("510106", 1990),  # 成都 金牛区
    ("510107", 1990),  # 成都 武侯区
    ("510108", 1990),  # 成都 成华区
    ("510112", 1983),  # 成都 龙泉驿区
    ("510121", 0),  # 金堂县
    ("510129", 1983),  # 大邑县
    ("510302", 1983),  # 自贡 自流井区
    ("510321", 0),  # 荣县
    ("510421", 0),  # 米易县
    ("510623", 1983),  # 中江县
    ("510722", 1985),  # 三台县
    ("511302", 1993),  # 南充 顺庆区
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官")
# Given-name characters; none of them occurs in the demo's department labels, so a
# clear name can never be mistaken for table text by the tests.
MALE_GIVEN = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳"
FEMALE_GIVEN = "芳娜敏静丽艳娟霞秀玲燕琳雪莉婷慧颖倩洁琴云兰萍红梅月晶悦彤"

MOBILE_PREFIXES = (
    "133", "134", "135", "136", "137", "138", "139", "150", "151", "153", "155", "158",
    "159", "166", "177", "180", "181", "182", "186", "187", "188", "189", "191", "199",
)  # fmt: skip
OPEN_ID_ALPHABET = string.ascii_letters + string.digits + "_-"

CHILD_RELATIONS = (Relation.SON, Relation.DAUGHTER)


@dataclass(frozen=True, slots=True)
class Resident:
    """One synthetic person: what they type at registration and what their ID says."""

    name: str
    document: IdentityDocument
    sex: Sex
    birth_date: date
    phone: str
    """E.164 mobile given at registration (a child gives a parent's number)."""


@dataclass(frozen=True, slots=True)
class Member:
    """A household member and their relation to the account holder (GB/T 4761)."""

    resident: Resident
    relation: Relation


@dataclass(frozen=True, slots=True)
class Household:
    """People whose cards one account holder binds, the holder first.

    ``second_account`` is the spouse's own phone account, which also binds the
    spouse's and the children's cards (a card may be bound to two parents).
    """

    members: tuple[Member, ...]
    account: AccountRef
    second_account: AccountRef | None = None

    @property
    def holder(self) -> Resident:
        return self.members[0].resident


class PeopleFactory:
    """Draws residents, phones and households from one seeded RNG, all distinct."""

    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self._documents: set[str] = set()
        self._phones: set[str] = set()

    # -- single values ---------------------------------------------------------------

    def phone(self) -> str:
        """A new valid mainland mobile number in E.164 form."""
        while True:
            national = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            e164 = normalise_cn_mobile(national)
            if e164 not in self._phones:
                self._phones.add(e164)
                return e164

    def open_id(self) -> str:
        """A WeChat-shaped open id (28 characters starting with ``o``)."""
        return "o" + "".join(self.rng.choice(OPEN_ID_ALPHABET) for _ in range(27))

    def birth_date(self, age: int) -> date:
        """A birthday ``age`` years ago (on or before today)."""
        year = self.today.year - age
        day = date(year, 1, 1) + timedelta(days=self.rng.randrange(365))
        return min(day, self.today)

    def resident_id(self, sex: Sex, birth_date: date) -> IdentityDocument:
        """A new valid 18-character resident ID for the sex and birth date."""
        regions = [code for code, since in REGIONS if since <= birth_date.year]
        while True:
            order = self.rng.randrange(500) * 2 + (1 if sex is Sex.MALE else 0)
            first17 = f"{self.rng.choice(regions)}{birth_date:%Y%m%d}{order:03d}"
            number = with_check_character(first17)
            if number not in self._documents:
                self._documents.add(number)
                return IdentityDocument(type=DocumentType.RESIDENT_ID, number=number)

    def surname(self) -> str:
        if self.rng.random() < 0.03:
            return self.rng.choice(COMPOUND_SURNAMES)
        return self.rng.choice(SURNAMES)

    def given_name(self, sex: Sex) -> str:
        chars = MALE_GIVEN if sex is Sex.MALE else FEMALE_GIVEN
        return "".join(self.rng.choice(chars) for _ in range(self.rng.choice((1, 2, 2))))

    def resident(self, *, sex: Sex, age: int, phone: str, surname: str | None = None) -> Resident:
        born = self.birth_date(age)
        family = surname if surname is not None else self.surname()
        return Resident(
            name=family + self.given_name(sex),
            document=self.resident_id(sex, born),
            sex=sex,
            birth_date=born,
            phone=phone,
        )

    # -- households --------------------------------------------------------------------

    def household(self, size: int, *, wechat: bool = False) -> Household:
        """A household of ``size`` people: holder, spouse, children, then parents.

        Beyond six people (only for caps above 5) siblings and other relatives join.
        """
        if size < 1:
            raise ValueError("a household has at least one person")
        relations = _relations(size, self.rng)
        has_children = any(rel in CHILD_RELATIONS for rel in relations)
        holder_sex = self.rng.choice((Sex.MALE, Sex.FEMALE))
        holder_age = self.rng.randint(28, 50) if has_children else self.rng.randint(20, 75)
        holder = self.resident(sex=holder_sex, age=holder_age, phone=self.phone())
        members = [Member(holder, Relation.SELF)]
        spouse: Resident | None = None
        for relation in relations[1:]:
            person = self._relative(relation, holder, holder_age, spouse)
            if relation is Relation.SPOUSE:
                spouse = person
            members.append(Member(person, relation))
        account = (
            AccountRef(kind=AccountKind.WECHAT, identifier=self.open_id())
            if wechat
            else AccountRef(kind=AccountKind.PHONE, identifier=holder.phone)
        )
        second = None
        if spouse is not None and has_children and self.rng.random() < 0.5:
            second = AccountRef(kind=AccountKind.PHONE, identifier=spouse.phone)
        return Household(tuple(members), account, second)

    def _relative(
        self, relation: Relation, holder: Resident, holder_age: int, spouse: Resident | None
    ) -> Resident:
        holder_surname = _surname_of(holder.name)
        other_sex = Sex.FEMALE if holder.sex is Sex.MALE else Sex.MALE
        if relation is Relation.SPOUSE:
            age = max(20, holder_age + self.rng.randint(-4, 4))
            return self.resident(sex=other_sex, age=age, phone=self.phone())
        if relation in CHILD_RELATIONS:
            father = holder if holder.sex is Sex.MALE else spouse
            family = holder_surname if father is None else _surname_of(father.name)
            sex = Sex.MALE if relation is Relation.SON else Sex.FEMALE
            age = self.rng.randint(0, min(17, holder_age - 22))
            return self.resident(sex=sex, age=age, phone=holder.phone, surname=family)
        if relation in (Relation.FATHER, Relation.MOTHER):
            sex = Sex.MALE if relation is Relation.FATHER else Sex.FEMALE
            age = min(95, holder_age + self.rng.randint(24, 32))
            phone = self.phone() if self.rng.random() < 0.6 else holder.phone
            if relation is Relation.MOTHER:  # her own family name
                return self.resident(sex=sex, age=age, phone=phone)
            return self.resident(sex=sex, age=age, phone=phone, surname=holder_surname)
        sex = self.rng.choice((Sex.MALE, Sex.FEMALE))
        age = max(18, holder_age + self.rng.randint(-10, 10))
        return self.resident(sex=sex, age=age, phone=holder.phone)


def _surname_of(name: str) -> str:
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[0]


def _relations(size: int, rng: random.Random) -> list[Relation]:
    """Relations of a household's members to its holder, the holder first."""
    children = [rng.choice(CHILD_RELATIONS) for _ in range(2)]
    if size == 6:  # the family that reaches a cap of 5: one son and one daughter
        children = [Relation.SON, Relation.DAUGHTER]
    order = [Relation.SELF, Relation.SPOUSE, *children, Relation.FATHER, Relation.MOTHER]
    if size <= 3 and rng.random() < 0.3:  # a single parent or a carer of their parents
        order = [Relation.SELF, rng.choice((Relation.FATHER, Relation.MOTHER)), *children]
    extra = (Relation.SIBLING, Relation.OTHER_RELATIVE)
    while len(order) < size:
        order.append(extra[len(order) % 2])
    return order[:size]


def synthetic_photo(rng: random.Random) -> PhotoRef:
    """A photo reference as an upload service would give it: digest and blob name.

    The "photo" is random bytes; only their SHA-256 and a blob reference are kept,
    as in real registrations (events never hold the image).
    """
    digest = hashlib.sha256(b"synthetic photo\x00" + rng.randbytes(64)).hexdigest()
    return PhotoRef(sha256=digest, ref=f"blob:photos/{digest[:2]}/{digest}.jpg")
