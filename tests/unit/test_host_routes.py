import pytest

from slipway_host.config import HostConfigError
from slipway_host.routes import MethodNotAllowed, RouteMatch, RouteTable, compile_template, split_path


def table(*routes: tuple[str, list[str] | None], prefix: str = "api") -> RouteTable[str]:
    result: RouteTable[str] = RouteTable(prefix)
    for template, methods in routes:
        result.add(template, methods, template)
    return result


def resolved(routes: RouteTable[str], method: str, path: str) -> tuple[str, dict[str, str]]:
    match = routes.resolve(method, path)
    assert isinstance(match, RouteMatch), f"{method} {path} -> {match}"
    return match.target, match.values


def test_route_parameters_are_captured_under_the_prefix() -> None:
    routes = table(("runs/{runId}", ["GET"]), ("runs/{runId}/log", ["GET"]))

    assert resolved(routes, "GET", "/api/runs/cb12") == ("runs/{runId}", {"runId": "cb12"})
    assert resolved(routes, "GET", "/api/runs/cb12/log") == ("runs/{runId}/log", {"runId": "cb12"})
    assert routes.resolve("GET", "/runs/cb12") is None


def test_an_empty_prefix_serves_routes_at_the_root() -> None:
    routes = table(("runs/{runId}", None), prefix="")

    assert resolved(routes, "GET", "/runs/7") == ("runs/{runId}", {"runId": "7"})


def test_literals_match_case_insensitively_and_values_keep_their_case() -> None:
    routes = table(("Runs/{runId}", None))

    assert resolved(routes, "GET", "/API/runs/AbC") == ("Runs/{runId}", {"runId": "AbC"})


def test_trailing_slashes_and_percent_encoding_are_handled() -> None:
    routes = table(("files/{name}", None))

    assert resolved(routes, "GET", "/api/files/a%20b.txt/") == ("files/{name}", {"name": "a b.txt"})
    assert split_path("/api//x/%2F/") == ["api", "x", "/"]


def test_optional_parameter_may_be_absent() -> None:
    routes = table(("hello/{name?}", None))

    assert resolved(routes, "GET", "/api/hello") == ("hello/{name?}", {})
    assert resolved(routes, "GET", "/api/hello/ann") == ("hello/{name?}", {"name": "ann"})
    assert routes.resolve("GET", "/api/hello/ann/more") is None


def test_default_values_fill_missing_parameters() -> None:
    routes = table(("page/{number=1}", None))

    assert resolved(routes, "GET", "/api/page") == ("page/{number=1}", {"number": "1"})
    assert resolved(routes, "GET", "/api/page/4") == ("page/{number=1}", {"number": "4"})


def test_catch_all_takes_the_rest_of_the_path() -> None:
    routes = table(("files/{*path}", None))

    assert resolved(routes, "GET", "/api/files/a/b/c.txt") == ("files/{*path}", {"path": "a/b/c.txt"})
    assert resolved(routes, "GET", "/api/files") == ("files/{*path}", {})


def test_type_constraints_filter_values() -> None:
    routes = table(("items/{id:int}", None), ("items/{name:alpha}", None), ("items/{other}", None))

    assert resolved(routes, "GET", "/api/items/42") == ("items/{id:int}", {"id": "42"})
    assert resolved(routes, "GET", "/api/items/abc") == ("items/{name:alpha}", {"name": "abc"})
    assert resolved(routes, "GET", "/api/items/a-1") == ("items/{other}", {"other": "a-1"})


@pytest.mark.parametrize(
    ("template", "good", "bad"),
    [
        ("{v:bool}", "True", "yes"),
        ("{v:guid}", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e0"),
        ("{v:double}", "-1.5e3", "1.2.3"),
        ("{v:min(10)}", "10", "9"),
        ("{v:max(10)}", "10", "11"),
        ("{v:range(1,3)}", "2", "4"),
        ("{v:length(3)}", "abc", "abcd"),
        ("{v:minlength(2)}", "ab", "a"),
        ("{v:maxlength(2)}", "ab", "abc"),
        ("{v:regex(^v[0-9]+$)}", "v12", "x12"),
        ("{v:int:min(5)}", "7", "3"),
    ],
)
def test_constraints_accept_and_reject_values(template: str, good: str, bad: str) -> None:
    compiled = compile_template(template)

    assert compiled.match([good]) == {"v": good}
    assert compiled.match([bad]) is None


def test_unknown_constraints_are_ignored() -> None:
    assert compile_template("{v:fancy}").match(["anything"]) == {"v": "anything"}


def test_segments_can_mix_literals_and_parameters() -> None:
    compiled = compile_template("files/{name}.{ext}")

    assert compiled.match(["files", "report.final.pdf"]) == {"name": "report", "ext": "final.pdf"}
    assert compiled.match(["files", "noext"]) is None


def test_literal_routes_win_over_parameters_regardless_of_order() -> None:
    routes = table(("runs/{runId}", None), ("runs/latest", None), ("{*any}", None))

    assert resolved(routes, "GET", "/api/runs/latest")[0] == "runs/latest"
    assert resolved(routes, "GET", "/api/runs/7")[0] == "runs/{runId}"
    assert resolved(routes, "GET", "/api/anything/else")[0] == "{*any}"


def test_routes_with_equal_precedence_keep_definition_order() -> None:
    routes = table(("a/{x}", None), ("a/{y}", None))

    assert resolved(routes, "GET", "/api/a/1") == ("a/{x}", {"x": "1"})


def test_methods_select_between_functions_on_the_same_route() -> None:
    routes: RouteTable[str] = RouteTable("api")
    routes.add("runs", ["GET"], "list_runs")
    routes.add("runs", ["post"], "create_run")

    assert resolved(routes, "GET", "/api/runs")[0] == "list_runs"
    assert resolved(routes, "POST", "/api/runs")[0] == "create_run"
    assert routes.resolve("DELETE", "/api/runs") == MethodNotAllowed(("GET", "POST"))


def test_no_methods_means_every_method() -> None:
    routes = table(("anything", None))

    for method in ("GET", "POST", "PATCH", "DELETE", "OPTIONS", "HEAD"):
        assert resolved(routes, method, "/api/anything")[0] == "anything"


def test_unknown_paths_resolve_to_nothing() -> None:
    routes = table(("runs", ["GET"]))

    assert routes.resolve("GET", "/api/builds") is None
    assert routes.resolve("GET", "/api") is None


def test_the_asgi_app_catch_all_route_serves_every_path() -> None:
    routes = table(("/{*route}", None), prefix="")

    assert resolved(routes, "GET", "/") == ("/{*route}", {})
    assert resolved(routes, "GET", "/docs/openapi.json") == ("/{*route}", {"route": "docs/openapi.json"})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{*rest}/more", "a catch-all parameter must be the last segment"),
        ("{a?}/b", "only trailing segments can be optional"),
        ("a/{b", "unbalanced braces"),
        ("a/{b c}", "parameter name 'b c' must be letters"),
        ("x{*rest}", "a catch-all must be a whole segment"),
    ],
)
def test_malformed_templates_are_rejected(template: str, message: str) -> None:
    with pytest.raises(HostConfigError, match=message):
        compile_template(template)
