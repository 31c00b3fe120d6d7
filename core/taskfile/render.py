"""Go-template rendering of task-file text, with template errors placed in the original file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.taskfile.positions import TextMap


def render(text_map: TextMap, data: Mapping[str, Any]) -> TextMap:
    """`text_map` rendered with `data` ({"Run": …, "Values": …, "Secrets": …})."""
    from core.templating import TemplateError, render_template  # a large module; load it when first used

    try:
        text = render_template(text_map.text, data, name=text_map.file_name)
    except TemplateError as error:
        # The engine counts lines and columns (from 1) in the text it was given, which may be the
        # expanded text; the text map turns that into the position in the original file.
        raise text_map.error(error.line - 1, error.column - 1, f"template error: {error.description}") from None
    return text_map.rendered(text)
