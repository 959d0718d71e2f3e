"""A griffe extension for the API reference: Sphinx cross-reference roles as plain code.

The docstrings refer to other names the Sphinx way (:func:`load_dataset`,
:class:`~scratchnn.training.TrainConfig`), which help() shows as they are and
which mkdocstrings would print literally. Here they become `load_dataset`; an
``::`` that opens a literal block becomes ``:``.
"""

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj):`~?([^`]+)`")
LITERAL_BLOCK = re.compile(r"::$", re.M)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = LITERAL_BLOCK.sub(":", ROLE.sub(r"`\1`", obj.docstring.value))
