"""Every operation of central's OpenAPI description is documented with examples that hold.

``/docs`` is what an integrator reads on a plant network with no way out, so each
operation must carry a summary a person wrote (not FastAPI's title of the function name),
a description, an example of its request body and of its main success answer, and an
example for each path parameter. Every example (and each model's own ``examples``) must
validate against the schema it illustrates, so the examples cannot drift from the API.
A new endpoint without these fails here: give it a docstring and ``summary=`` and model
``examples``, or an entry in ``central/api/openapi_examples.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from linetrace.central.api import openapi_docs
from linetrace.central.api.app import create_app
from linetrace.central.config import CentralSettings

Json = dict[str, Any]
_URI = "urn:linetrace:openapi"
_METHODS = ("get", "put", "post", "delete", "patch")
# Bytes have no example a JSON document can carry; their schema says "binary".
_BINARY = ("image/",)


@pytest.fixture(scope="module")
def spec() -> Json:
    return create_app(CentralSettings()).openapi()


def operations(spec: Json) -> Iterator[tuple[str, str, Json]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in _METHODS:
                yield path, method, operation


class Examples:
    """Examples of one OpenAPI document, checked against their schemas."""

    def __init__(self, spec: Json) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(_URI, resource)

    def resolve(self, schema: Json) -> Json:
        while "$ref" in schema:
            schema = self.spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def of(self, holder: Mapping[str, Any]) -> list[Any]:
        """The examples a media type or parameter shows: its own, else its schema's."""
        if "example" in holder:
            return [holder["example"]]
        if holder.get("examples"):
            return [e["value"] for e in holder["examples"].values()]
        schema = self.resolve(holder.get("schema", {}))
        if schema.get("type") == "array" and not schema.get("examples"):
            schema = self.resolve(schema.get("items", {}))
        return list(schema.get("examples", []))

    def errors(self, example: Any, schema: Json) -> list[str]:
        rooted = json.loads(json.dumps(schema).replace('"#/', f'"{_URI}#/'))
        validator = Draft202012Validator(
            rooted, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(example)]


def problems(spec: Json) -> list[str]:
    """What is missing or wrong in the documentation of each operation."""
    examples = Examples(spec)
    found: list[str] = []
    for path, method, operation in operations(spec):
        name = f"{method.upper()} {path}"
        summary = operation.get("summary")
        if not summary or summary == openapi_docs.auto_summary(operation, path, method):
            found.append(f"{name}: no summary written for it")
        if not operation.get("description"):
            found.append(f"{name}: no description")
        for parameter in operation.get("parameters", []):
            shown = examples.of(parameter)
            if parameter["in"] == "path" and not shown:
                found.append(f"{name}: no example of path parameter {parameter['name']}")
            for example in shown:
                found += [f"{name} {parameter['name']}: {e}" for e in
                          examples.errors(example, parameter.get("schema", {}))]  # fmt: skip
        body = operation.get("requestBody", {}).get("content", {})
        found += _media_problems(examples, f"{name} request", body)
        successes = sorted(code for code in operation.get("responses", {}) if code[0] == "2")
        if not successes:
            found.append(f"{name}: no success answer documented")
            continue
        answer = operation["responses"][successes[0]]
        if successes[0] != "204" and not answer.get("content"):
            found.append(f"{name}: {successes[0]} answer without content")
        found += _media_problems(examples, f"{name} {successes[0]}", answer.get("content", {}))
    return found


def _media_problems(examples: Examples, name: str, content: Mapping[str, Json]) -> list[str]:
    found: list[str] = []
    for media_type, media in content.items():
        if media_type.startswith(_BINARY):
            continue
        shown = examples.of(media)
        if not shown:
            found.append(f"{name} {media_type}: no example")
        if media_type.endswith("json"):
            for example in shown:
                found += [f"{name}: {e}" for e in examples.errors(example, media.get("schema", {}))]
    return found


def test_every_operation_is_documented_with_examples_that_hold(spec: Json) -> None:
    assert len(list(operations(spec))) >= 30
    assert problems(spec) == []


def test_the_models_own_examples_hold(spec: Json) -> None:
    examples = Examples(spec)
    found = [
        f"{name}: {error}"
        for name, schema in spec["components"]["schemas"].items()
        for example in schema.get("examples", [])
        for error in examples.errors(example, {"$ref": f"#/components/schemas/{name}"})
    ]
    assert found == []


def test_every_entry_of_the_examples_file_names_an_operation(spec: Json) -> None:
    documented = json.loads(openapi_docs.EXAMPLES_FILE.read_text(encoding="utf-8"))
    existing = {openapi_docs.operation_key(m, p) for p, m, _ in operations(spec)}
    assert sorted(set(documented) - existing) == []


class Thing(BaseModel):
    name: str


def test_an_endpoint_added_without_docs_is_caught() -> None:
    app = FastAPI()

    @app.post("/api/things/{thing_id}")
    def post_thing(thing_id: int, thing: Thing) -> Thing:
        return thing

    openapi_docs.document(app)
    found = problems(app.openapi())
    assert any("no summary" in p for p in found)
    assert any("no description" in p for p in found)
    assert any("path parameter thing_id" in p for p in found)
    assert any("request application/json: no example" in p for p in found)
    assert any("200 application/json: no example" in p for p in found)


def test_an_example_its_schema_refuses_is_caught(spec: Json) -> None:
    examples = Examples(spec)
    schema = {"$ref": "#/components/schemas/BatchStart"}
    assert examples.errors({"line": "hcm1/L1"}, schema) != []
