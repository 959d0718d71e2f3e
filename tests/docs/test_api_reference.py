"""The API reference (docs/api/*.md) covers the public API, and every public name in it has a numpy-style docstring.

The public names are what each documented module exports (``__all__``, or the
names it defines itself), and the public methods and properties of each
exported class. A docstring counts as ``help()`` finds it (``inspect.getdoc``:
a method that overrides a documented one without its own shows the parent's),
which is also how the reference is built (the griffe_inherited_docstrings
extension). Numpy style: a callable that takes arguments documents each of them
in a Parameters section, and one that returns a value has a Returns section (the
reference renders both as tables). Run as a script, this prints the list for a
closing note.
"""

import ast
import dataclasses
import importlib
import inspect
import re
import sys
import textwrap
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


# A numpy section: its title, then a line of dashes.
SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.M)


def sections(doc):
    """{title: body} of a numpy-style docstring's sections."""
    heads = list(SECTION.finditer(doc))
    ends = [head.start() for head in heads[1:]] + [len(doc)]
    return {head.group(1): doc[head.end() : end] for head, end in zip(heads, ends)}


def entry_names(body):
    """The names a Parameters section documents: its unindented lines (``x : type``, ``x, y : type``, ``**config``)."""
    names = []
    for line in body.splitlines():
        if line and not line[0].isspace():
            names += [name.strip().lstrip("*") for name in line.split(" : ")[0].split(",")]
    return names


def _is_none(node):
    return isinstance(node, ast.Constant) and node.value is None


def returns_a_value(function):
    """Whether the function's own body has a ``return <value>`` or a ``yield`` (nested functions aside)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return False
    nodes = list(ast.iter_child_nodes(tree.body[0]))
    while nodes:
        node = nodes.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
            return True
        nodes.extend(ast.iter_child_nodes(node))
    return False


def style_problems(obj):
    """What keeps the docstring of a public callable from being numpy style ([] when nothing does).

    Properties are left out: their docstring describes the value.
    """
    if isinstance(obj, property):
        return []
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []  # built-in constructors (the errors' Exception.__init__)
    params = [name for name in signature.parameters if name not in ("self", "cls")]
    found = sections(inspect.getdoc(obj) or "")
    body = found.get("Parameters")
    if body is None and inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        body = found.get("Attributes")  # a dataclass's fields are its constructor's parameters
    problems = []
    if params and body is None:
        problems.append("no Parameters section")
    elif params:
        missing = [name for name in params if name not in entry_names(body)]
        if missing:
            problems.append(f"parameters not in its Parameters section: {', '.join(missing)}")
    extra = [name for name in entry_names(found.get("Parameters", "")) if name not in params]
    if extra:
        problems.append(f"documents parameters it does not take: {', '.join(extra)}")
    if not inspect.isclass(obj) and returns_a_value(obj) and not {"Returns", "Yields"} & found.keys():
        problems.append("returns a value but has no Returns section")
    return problems


def defined_as(obj):
    """Where a callable is defined, ``module.qualname`` without ``scratchnn.`` (one name wherever it is exported)."""
    function = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    return f"{function.__module__}.{function.__qualname__}".removeprefix("scratchnn.")


def test_the_reference_documents_the_public_packages():
    modules = documented_modules()
    assert {"scratchnn", "scratchnn.nn", "scratchnn.data", "scratchnn.training", "scratchnn.errors"} <= set(modules)
    assert len(public_names()) > 150


def test_every_public_name_has_a_docstring():
    assert missing_docstrings(public_names()) == []


def style_problems_by_definition():
    """{defined_as name: problems} of the public callables whose docstrings are not numpy style."""
    found = {}
    for obj in public_names().values():
        problems = style_problems(obj)
        if problems:
            found[defined_as(obj)] = problems
    return found


def test_every_public_callable_has_a_numpy_style_docstring():
    assert style_problems_by_definition() == {}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    names = public_names()
    missing = missing_docstrings(names)
    print(f"{len(names)} public names in the API reference, {len(missing)} without a docstring")
    for name in names:
        print(f"  {name}{'  (no docstring)' if name in missing else ''}")
    problems = style_problems_by_definition()
    print(f"{len(problems)} callables (by where they are defined) not in numpy style:")
    for name, found in sorted(problems.items()):
        print(f"  {name}: {'; '.join(found)}")
