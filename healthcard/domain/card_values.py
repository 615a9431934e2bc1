"""Small value objects of the health card: status, mode, kind, photo, account."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from healthcard.domain.boundary import BoundaryModel
from healthcard.domain.personal import Personal


class CardStatus(StrEnum):
    NORMAL = "normal"
    FROZEN = "frozen"
    CANCELLED = "cancelled"


class IssuerMode(StrEnum):
    """Test cards (Measures Art. 12) are never accepted by a production verifier."""

    TEST = "test"
    PRODUCTION = "production"


class CardKind(StrEnum):
    """Temporary until a verified identity document makes the card formal."""

    TEMPORARY = "temporary"
    FORMAL = "formal"


class PhotoRef(BoundaryModel):
    """A photo kept outside the log: its SHA-256 digest and a blob reference.

    Why not bytes: events are stored forever and replicated; a photo is large and
    personal. The digest proves which photo was uploaded; the blob can be erased.
    """

    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    ref: Annotated[
        str, StringConstraints(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$"), Personal
    ]


class AccountKind(StrEnum):
    PHONE = "phone"
    WECHAT = "wechat"


WechatOpenId = Annotated[
    str, StringConstraints(min_length=6, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"), Personal
]
