"""The OpenAPI document as one self-contained HTML page: no script, no style sheet or font
from elsewhere, so it reads the same offline."""

from __future__ import annotations

import html
import re
from typing import Any

import orjson

STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
line-height:1.45;color:#222}code,pre{font-family:ui-monospace,monospace;font-size:.9em}
pre{background:#f5f5f5;padding:.75rem;overflow-x:auto}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.method{font-weight:bold;text-transform:uppercase;margin-right:.5rem}
section{border-top:1px solid #ccc;margin-top:1.5rem}"""


def render(document: dict[str, Any]) -> str:
    info = document["info"]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8>"
             f"<title>{_text(info['title'])} API</title><style>{STYLE}</style></head><body>",
             f"<h1>{_text(info['title'])} API {_text(info['version'])}</h1>",
             _prose(info.get("description", "")),
             "<p>Machine-readable: <a href=/openapi.json>/openapi.json</a>; the Kafka topics:"
             " <a href=/asyncapi.json>/asyncapi.json</a> (AsyncAPI 3.0)</p>",
             _contents(document["paths"])]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            parts.append(_operation(path, method, operation))
    parts.append(_schemas(document["components"]["schemas"]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _text(value: Any) -> str:
    return html.escape(str(value))


def _inline(text: str) -> str:
    """One line of description: escaped, with `code`."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _text(text))


def _prose(text: str) -> str:
    """Paragraphs, `code` and **strong**: the little markdown the descriptions use."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        escaped = _text(paragraph.strip())
        escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
        escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
        if escaped:
            paragraphs.append(f"<p>{escaped}</p>")
    return "\n".join(paragraphs)


def _anchor(method: str, path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")


def _contents(paths: dict[str, Any]) -> str:
    items = [f"<li><a href='#{_anchor(method, path)}'><span class=method>{_text(method)}</span>"
             f"<code>{_text(path)}</code></a> {_text(operation.get('summary', ''))}</li>"
             for path, methods in paths.items() for method, operation in methods.items()]
    return "<h2>Endpoints</h2><ul>" + "".join(items) + "</ul>"


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    parts = [f"<section id='{_anchor(method, path)}'><h2><span class=method>{_text(method)}"
             f"</span><code>{_text(path)}</code></h2>",
             f"<p><strong>{_text(operation.get('summary', ''))}</strong></p>",
             _prose(operation.get("description", "")),
             _parameters(operation.get("parameters", [])),
             _body(operation.get("requestBody")),
             _responses(operation["responses"]), "</section>"]
    return "\n".join(part for part in parts if part)


def _parameters(parameters: list[dict[str, Any]]) -> str:
    if not parameters:
        return ""
    rows = []
    for parameter in parameters:
        if "$ref" in parameter:
            rows.append(f"<tr><td colspan=4>see <code>{_text(parameter['$ref'])}</code></td></tr>")
            continue
        rows.append(f"<tr><td><code>{_text(parameter['name'])}</code></td>"
                    f"<td>{_text(parameter['in'])}{' (required)' if parameter['required'] else ''}"
                    f"</td><td><code>{_compact(parameter['schema'])}</code></td>"
                    f"<td>{_inline(parameter.get('description', ''))}</td></tr>")
    return ("<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>schema</th>"
            "<th>meaning</th></tr>" + "".join(rows) + "</table>")


def _body(body: dict[str, Any] | None) -> str:
    if body is None:
        return ""
    schemas = [f"<code>{_text(media)}</code>: {_shape(content['schema'])}"
               for media, content in body["content"].items()]
    return "<h3>Request body</h3><p>" + "<br>".join(schemas) + "</p>"


def _responses(responses: dict[str, Any]) -> str:
    rows = []
    for status, response in responses.items():
        content = response.get("content", {})
        shapes = "<br>".join(f"<code>{_text(media)}</code>: {_shape(item.get('schema', {}))}"
                             for media, item in content.items())
        rows.append(f"<tr><td>{_text(status)}</td><td>{_inline(response['description'])}</td>"
                    f"<td>{shapes}</td></tr>")
    return ("<h3>Responses</h3><table><tr><th>status</th><th>meaning</th><th>body</th></tr>"
            + "".join(rows) + "</table>")


def _compact(schema: Any) -> str:
    return _linked(_text(orjson.dumps(schema).decode("utf-8")))


def _shape(schema: dict[str, Any]) -> str:
    """A body's schema in words: a link to the named schema, `array of` one, or the inline
    schema with its references linked."""
    if "$ref" in schema and len(schema) == 1:
        return _schema_link(str(schema["$ref"]).rsplit("/", 1)[-1])
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return "array of " + _shape(schema["items"])
    for keyword in ("oneOf", "anyOf"):
        if set(schema) == {keyword}:
            return " or ".join(_shape(option) for option in schema[keyword])
    return f"<code>{_compact(schema)}</code>"


def _schema_link(name: str) -> str:
    return f"<a href='#schema-{_text(name)}'><code>{_text(name)}</code></a>"


# A reference in escaped JSON text: "$ref": "#/components/schemas/NAME".
_REFERENCE = re.compile(r"&quot;\$ref&quot;: ?&quot;#/components/schemas/([A-Za-z0-9._-]+)&quot;")


def _linked(escaped_json: str) -> str:
    return _REFERENCE.sub(
        lambda match: f"&quot;$ref&quot;: {_schema_link(match.group(1))}", escaped_json)


def _schemas(schemas: dict[str, Any]) -> str:
    parts = ["<section><h2>Schemas</h2>",
             "<p>Each body above links to its schema here; references between schemas are"
             " links too.</p>"]
    for name, schema in schemas.items():
        pretty = orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode("utf-8")
        parts.append(f"<details id='schema-{_text(name)}'><summary><code>{_text(name)}</code>"
                     f"</summary><pre>{_linked(_text(pretty))}</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)
