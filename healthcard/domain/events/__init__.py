"""Event models: the stored format of the library (pydantic, frozen, versioned).

Every class here is a contract with every log ever written. Never rename a topic,
never remove or retype a field: add a new ``class_version`` with an upcaster.
"""
