"""QR codes and national identifiers of the electronic health card.

- ``national``: EHC ID and main index ID (SM3/SM4), and the SM4 helpers.
- ``national_qr``: the national QR text ``<EHCID>:1`` / ``<EHCID>:0:<validity>``.
- ``token``: the signed token's claims, CBOR payload, signature input and text form.
- ``b45``: strict base45 decoding (encoding by the ``base45`` package).
- ``keyring``: Ed25519 keys with ids, rotation, retirement, PEM, public key document.
- ``issue`` / ``verify``: issuing a token; verifying it offline with typed reasons.
- ``render``: SVG, PNG and terminal output with ``segno``.
- ``demo_output``: the QR files of ``healthcard demo --out DIR``.

The byte-exact format is in ``docs/qr-format.md``.
"""
