"""Family relation codes of GB/T 4761-2008, for cards held by one account."""

from __future__ import annotations

from enum import StrEnum


class Relation(StrEnum):
    """The relation of a card's holder to the account holder (GB/T 4761-2008)."""

    SELF = "01"
    HOUSEHOLDER = "02"
    SPOUSE = "10"
    HUSBAND = "11"
    WIFE = "12"
    SON = "20"
    DAUGHTER = "30"
    GRANDCHILD = "40"
    PARENT = "50"
    FATHER = "51"
    MOTHER = "52"
    FATHER_IN_LAW = "53"
    MOTHER_IN_LAW = "54"
    GRANDPARENT = "60"
    SIBLING = "70"
    OTHER_RELATIVE = "80"
    NON_RELATIVE = "99"
