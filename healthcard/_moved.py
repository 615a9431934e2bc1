"""Old module paths of release 0.1.0, kept importable while code moves to the new layout.

Why: the package was reorganised into layers (``domain``, ``application``, ``adapters``,
``qr``, ``readmodels``, ``analytics``, ``cli``, ``simulation``, ``testing``) and code
written against 0.1.0 must keep running. Each old module is a one-line file that calls
:func:`moved`: importing it warns once (:class:`MovedModuleWarning`, a
``DeprecationWarning``) and hands back the module at its new path, so classes keep one
identity (an event class is never registered twice under two module names).
"""

from __future__ import annotations

import importlib
import sys
import warnings


class MovedModuleWarning(DeprecationWarning):
    """An old (0.1.0) module path was imported; the warning names the new one."""


def moved(old: str, new: str) -> None:
    """Make the module ``old`` (being imported) the module ``new``, with a warning.

    Called at the top of the old module's file; ``sys.modules[old]`` is replaced, so
    ``import old`` and ``from old import name`` both give the new module's objects.
    """
    warnings.warn(
        f"{old} moved to {new}; the old path will be removed in 1.0",
        MovedModuleWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)


def moved_package(old: str, new: str, namespace: dict[str, object]) -> None:
    """Keep the old package importable: its public names are the new package's.

    The old package stays a package of its own (its old modules are the one-line files
    beside this call), so ``import old.module`` never loads a second copy of a module.
    """
    warnings.warn(
        f"{old} moved to {new}; the old path will be removed in 1.0",
        MovedModuleWarning,
        stacklevel=3,
    )
    package = importlib.import_module(new)
    names = getattr(package, "__all__", [n for n in vars(package) if not n.startswith("_")])
    namespace.update({name: getattr(package, name) for name in names})
    namespace["__all__"] = list(names)
