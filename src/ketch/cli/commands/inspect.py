"""`ketch inspect`: containers first, then images, networks and volumes (the order the docker
CLI tries each kind in), pretty JSON like Docker's, or a Go template per object with
`--format`."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.client.errors import APIError
from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def pretty_json(items: list[Any]) -> str:
    """json.MarshalIndent(..., "", "    ") with Go's HTML escaping."""
    text = jsonio.dumps_indented(items)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def inspect_each(ctx: Context, names: list[str], fmt: str | None,
                 fetch: Callable[[str], dict[str, Any]], all_errors: bool = False) -> int:
    """`volume inspect`, `network inspect`: each object fetched, shown as JSON or through
    the template; the missing ones (with all_errors, every failure) reported after."""
    from ketch.cli.gotemplate import Template, TemplateError, go_json

    template = None
    if fmt and fmt.strip() != "json":
        try:
            template = Template(fmt)
        except TemplateError as exc:
            raise CLIError(f"template parsing error: {exc}", 1) from None
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(fetch(name))
        except APIError as exc:
            if exc.status != 404 and not all_errors:
                raise
            errors.append(str(exc))
    if template is not None:
        try:
            ctx.write("".join(template.execute(item) + "\n" for item in found))
        except TemplateError as exc:
            raise CLIError(f"template parsing error: {exc}", 1) from None
    elif fmt:
        ctx.write(go_json(found) + "\n")
    else:
        ctx.write(pretty_json(found) + "\n")
    if errors:
        ctx.flush()
        raise CLIError("\n".join(errors), 1)
    return 0


KINDS = ("container", "image", "network", "volume")


def _lookup(ctx: Context, name: str, kind: str, size: bool) -> dict[str, Any] | None:
    """The object, None if no kind has it; with --type, the daemon's error as is."""
    client = ctx.client
    getters = {"container": lambda: client.inspect_container(name, size),
               "image": lambda: client.inspect_image(name),
               "network": lambda: client.inspect_network(name),
               "volume": lambda: client.inspect_volume(name)}
    if kind:
        return getters[kind]()
    for each in KINDS:
        try:
            return getters[each]()
        except APIError as exc:
            if exc.status != 404:
                raise
    return None


def _inspect(ctx: Context, opts: Parsed) -> int:
    kind = opts.type or ""
    if kind and kind not in KINDS:
        choices = ", ".join(f'"{k}"' for k in KINDS)
        raise CLIError(f'unknown type: "{kind}": must be one of {choices}', 1)
    template = None
    if opts.format:
        from ketch.cli.gotemplate import Template, TemplateError

        source = "{{json .}}" if opts.format == "json" else opts.format
        try:
            template = Template(source)
        except TemplateError as exc:
            raise CLIError(f"template parsing error: {exc}", 1) from None
    found: list[Any] = []
    errors: list[str] = []
    for name in opts.args:
        try:
            item = _lookup(ctx, name, kind, bool(opts.size))
        except APIError as exc:
            errors.append(str(exc))
            continue
        if item is None:
            errors.append(f"Error: No such object: {name}")
            continue
        if template is None:
            found.append(item)
            continue
        from ketch.cli.gotemplate import TemplateError

        try:
            ctx.write(template.execute(item) + "\n")
        except TemplateError as exc:
            raise CLIError(f"template: {exc}", 1) from None
    if template is None:
        ctx.write(pretty_json(found) + "\n")
    if errors:
        ctx.flush()
        raise CLIError("\n".join(errors), 1)
    return 0


INSPECT = Command(
    name="inspect",
    usage="ketch inspect [OPTIONS] NAME|ID [NAME|ID...]",
    description="Return low-level information on Docker objects",
    flags=(Flag("format", "f", "string", help="Format output using a custom template"),
           Flag("size", "s", help="Display total file sizes if the type is container"),
           Flag("type", kind="string", help="Only inspect objects of the given type")),
    handler=_inspect, min_args=1,
)
