"""The API reference (docs/api/*.md) covers the public API, and every public name in it has a docstring.

The public names are what each documented module exports (``__all__``, or the
names it defines itself), and the public methods and properties of each
exported class. A docstring counts as ``help()`` finds it (``inspect.getdoc``:
a method that overrides a documented one without its own shows the parent's),
which is also how the reference is built (the griffe_inherited_docstrings
extension). Run as a script, this prints the list for a closing note.
"""

import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API_PAGES = ROOT / "docs" / "api"


def documented_modules():
    """The modules the reference renders, from the ``::: module`` lines of its pages."""
    return [
        name for page in sorted(API_PAGES.glob("*.md")) for name in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M)
    ]


def exported_names(module):
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == module.__name__
        and (inspect.isclass(value) or inspect.isfunction(value))
    ]


def class_members(cls):
    """(name, object) of the public methods and properties a scratchnn class defines or inherits from one."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next((base for base in cls.__mro__ if name in vars(base)), None)
        if owner is None or not owner.__module__.startswith("scratchnn"):
            continue
        static = inspect.getattr_static(cls, name)
        if isinstance(static, (staticmethod, classmethod, property)) or inspect.isfunction(static):
            yield name, getattr(cls, name) if not isinstance(static, property) else static


def public_names():
    """{dotted name: object} of every function, class, method and property the reference documents."""
    names = {}
    for module_name in documented_modules():
        module = importlib.import_module(module_name)
        for name in exported_names(module):
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue  # constants such as PRESETS are documented by their module's text
            names[f"{module_name}.{name}"] = value
            if inspect.isclass(value):
                for member, obj in class_members(value):
                    names[f"{module_name}.{name}.{member}"] = obj
    return names


def missing_docstrings(names):
    return sorted(name for name, obj in names.items() if not (inspect.getdoc(obj) or "").strip())


def test_the_reference_documents_the_public_packages():
    modules = documented_modules()
    assert {"scratchnn", "scratchnn.nn", "scratchnn.data", "scratchnn.training", "scratchnn.errors"} <= set(modules)
    assert len(public_names()) > 150


def test_every_public_name_has_a_docstring():
    assert missing_docstrings(public_names()) == []


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    names = public_names()
    missing = missing_docstrings(names)
    print(f"{len(names)} public names in the API reference, {len(missing)} without a docstring")
    for name in names:
        print(f"  {name}{'  (no docstring)' if name in missing else ''}")
