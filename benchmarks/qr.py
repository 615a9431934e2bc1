"""Token verification rate against raw Ed25519 verification of the same bytes, same run.

Both sides verify the same signatures over the same signature inputs with the same
loaded public key. The token side does everything a scanner does (prefix, strict
base45, CBOR decode and canonical check, mode, key lookup, signature, time window),
so the ratio is the cost of the format on top of the cryptography. Many short rounds
alternate between the two sides and the best round of each is compared: on a shared
machine the fastest of many short rounds is the one least disturbed by other
processes, and alternating exposes both sides to the same conditions. Goal: ratio >= 0.8.

The last line is ``verify X/s, raw Y/s, ratio R``.

Usage: python benchmarks/qr.py [--tokens N] [--rounds R]
"""

from __future__ import annotations

import sys

# This folder holds concurrent.py, which would hide the standard library's
# ``concurrent`` package (asyncio and psycopg import it): the folder goes last on the
# import path instead of first, where Python puts a script's own folder.
sys.path.append(sys.path.pop(0))

import argparse
import statistics
import time
from datetime import UTC, datetime
from uuid import uuid4

from healthcard.domain.card_values import IssuerMode
from healthcard.domain.usage import TokenUse
from healthcard.qr.issue import issue_token
from healthcard.qr.keyring import Keyring, PublishedKeys
from healthcard.qr.token import TokenClaims, signature_input, split_token
from healthcard.qr.verify import Verifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    keyring = Keyring()
    keyring.rotate(IssuerMode.PRODUCTION)
    at = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    texts = [
        issue_token(
            keyring,
            card_id=uuid4(),
            account_id=uuid4(),
            mode=IssuerMode.PRODUCTION,
            use=TokenUse.ANY,
            at=at,
        )[0]
        for _ in range(args.tokens)
    ]
    # A scanner's view: keys read from the published document, not the issuer's keyring.
    keys = PublishedKeys.from_json(keyring.public_json(IssuerMode.PRODUCTION))
    verifier = Verifier(keys, mode=IssuerMode.PRODUCTION)
    key = keys.verification_key(IssuerMode.PRODUCTION, 0)
    assert key is not None
    assert key.public_key is not None
    public_key = key.public_key
    raw = []
    for text in texts:
        payload, signature = split_token(text)
        raw.append((signature, signature_input(payload)))
    now = at.timestamp() + 1
    assert all(isinstance(verifier.verify(text, now), TokenClaims) for text in texts)

    def verify_tokens() -> None:
        verify = verifier.verify
        for text in texts:
            verify(text, now)

    def verify_raw() -> None:
        check = public_key.verify
        for signature, data in raw:
            check(signature, data)

    token_times, raw_times = [], []
    for _ in range(args.rounds):
        token_times.append(timed(verify_tokens))
        raw_times.append(timed(verify_raw))
    print(f"{args.tokens} tokens x {args.rounds} alternating rounds, one Ed25519 key")
    print(
        f"median round: verify {args.tokens / statistics.median(token_times):.0f}/s, "
        f"raw {args.tokens / statistics.median(raw_times):.0f}/s"
    )
    token_rate, raw_rate = args.tokens / min(token_times), args.tokens / min(raw_times)
    print(f"verify {token_rate:.0f}/s, raw {raw_rate:.0f}/s, ratio {token_rate / raw_rate:.2f}")


def timed(run: object) -> float:
    assert callable(run)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
