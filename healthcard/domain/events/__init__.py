"""Event models: the stored format of the library (pydantic, frozen, versioned).

Every class here is a contract with every log ever written. Never rename a topic,
never remove or retype a field: add a new ``class_version`` with an upcaster. How they
are stored (JSON, sealing, compression, encryption) is :mod:`healthcard.adapters.codec`.

- ``base``: ``DomainEvent`` and the topic registry; ``catalog`` loads every class;
- ``card``, ``account``, ``document``, ``session``: the events of each aggregate.
"""
