"""QR formats of the electronic health card: pure, no I/O.

- ``national_qr``: the national QR text ``<EHCID>:1`` / ``<EHCID>:0:<validity>``.
- ``token``: the signed token's claims, CBOR payload, signature input and text form.
- ``b45``: strict base45 decoding (encoding by the ``base45`` package).
- ``keyring``: Ed25519 keys with ids, rotation, retirement, PEM, public key document.
- ``issue`` / ``verify``: issuing a token; verifying it offline with typed reasons.

The national identifiers (EHC ID, main index ID; SM3/SM4) are
:mod:`healthcard.adapters.national_ids`, rendering is :mod:`healthcard.adapters.qr_render`
and the demo's QR files are :mod:`healthcard.simulation.qr_files`. The byte-exact format
is in ``docs/qr-format.md``.
"""
