"""Privacy by default: per-person keys, crypto-shredding, masking of personal data.

- :mod:`~healthcard.adapters.privacy.keystore` -- per-person keys (memory, SQLite,
  PostgreSQL, or a KMS behind the ``KeyStore`` protocol); erasure deletes a key;
- :mod:`~healthcard.adapters.privacy.sealing` -- fields marked ``Personal`` sealed with
  the subject's key inside each stored event, placeholders once it is erased;
- :mod:`~healthcard.adapters.privacy.masking` -- what screens, read models and exports
  show of a person (and of whole event states).
"""
