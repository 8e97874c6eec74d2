"""A message template from the routing file: Jinja2 in a sandbox, compiled once, errors at FILE:LINE.

Jinja2 is imported here only, and only when a template is configured (cold start pays nothing
otherwise). The environment is :class:`jinja2.sandbox.SandboxedEnvironment` (no attribute
that starts with ``_``, no unsafe callables, ``range`` bounded), with ``StrictUndefined`` so a
misspelt field is an error that ``assistwatch check`` finds rather than an empty line at
3 a.m. Autoescaping is off: the output is markdown, not HTML, and the values given to a
template are already neutralised for the receiver's flavour (lib.notify.templated).
"""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any

from lib.core.overrides import TemplateSource

if TYPE_CHECKING:
    import jinja2

__all__ = ["MAX_RENDERED_BYTES", "TemplateProblem", "compile_template", "render_template"]

# A template's text as rendered, before it is split into the robot's parts. A loop over
# thousands of alerts fits; a runaway loop is refused (the built-in message is sent instead).
MAX_RENDERED_BYTES = 64 * 1024


class TemplateProblem(ValueError):
    """A template that does not compile or render: ``FILE:LINE: what``."""


def _line(where: str, lineno: int | None) -> str:
    """``FILE:LINE`` of line ``lineno`` of a template whose first line is at ``where``."""
    source, _, first = where.rpartition(":")
    if not lineno or not first.isdigit():
        return where
    return f"{source}:{int(first) + lineno - 1}"


@functools.lru_cache(maxsize=32)
def compile_template(source: TemplateSource) -> jinja2.Template:
    """The compiled template (cached per text and place).

    Raises:
        TemplateProblem: a syntax error, at its line in the routing file.
    """
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    try:
        return env.from_string(source.text)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateProblem(f"{_line(source.where, error.lineno)}: {error.message}") from None


def _failing_line(traceback: types.TracebackType | None) -> int | None:
    """The template line of the innermost frame Jinja2 maps back to the template."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def render_template(source: TemplateSource, context: dict[str, Any]) -> str:
    """Render ``source`` with ``context``, bounded.

    Raises:
        TemplateProblem: it does not compile, fails while rendering (an unknown field, a
            sandbox refusal, a type error) or renders more than :data:`MAX_RENDERED_BYTES`.
    """
    template = compile_template(source)
    try:
        text = template.render(context)
    except TemplateProblem:
        raise
    except Exception as error:
        where = _line(source.where, _failing_line(error.__traceback__))
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise TemplateProblem(f"{where}: {message}") from None
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_RENDERED_BYTES:
        raise TemplateProblem(
            f"{source.where}: rendered {size:,} bytes; a template renders at most "
            f"{MAX_RENDERED_BYTES:,}"
        )
    return text
