"""Adapters: where the library meets storage, cryptography and rendering.

- :mod:`~healthcard.adapters.codec` -- the pydantic mapper and orjson transcoder: the
  stored format, and the one decode pipeline every reader of the log uses;
- :mod:`~healthcard.adapters.log_reader` -- the one reader that pages through the log;
- :mod:`~healthcard.adapters.persistence` -- eventsourcing settings (memory, SQLite,
  PostgreSQL) and the demo's local key file;
- :mod:`~healthcard.adapters.privacy` -- per-person key stores, sealing, masking;
- :mod:`~healthcard.adapters.national_ids` -- SM3/SM4: main index ID and EHC ID;
- :mod:`~healthcard.adapters.qr_render` -- QR codes as SVG, PNG and terminal text;
- :mod:`~healthcard.adapters.clock` -- the system clock and a clock set by hand.

Imports only ``healthcard.domain`` (and third-party libraries).
"""
