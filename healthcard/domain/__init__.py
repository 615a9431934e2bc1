"""The domain: aggregates, value objects, errors, events and the rules between them.

- aggregates: ``card`` (HealthCard), ``account``, ``document_claim``, ``clinic_session``
  on the small base of ``aggregate``;
- values: ``identity``, ``phone``, ``relation``, ``card_values``, ``clinic_values``,
  ``usage``, ``audit``, ``personal`` (the marker of personal fields), ``boundary``
  (validation errors become ``InvalidInput`` naming the field);
- ``errors``: one hierarchy, each error with a stable code;
- ``events``: the pydantic event models, the stored contract (topics are permanent);
- ``policies``: rules spanning aggregates (what cancelling or erasing a card does to its
  accounts and its document claim);
- ``clock``: China Standard Time and the clock protocol the application injects.

Pure: no I/O, and no import of any other part of ``healthcard`` (``lint-imports``
enforces it), so every rule can be tested from events alone.
"""
