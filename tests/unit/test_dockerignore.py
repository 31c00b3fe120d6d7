"""`.dockerignore` parsing and matching, checked against Docker's own test tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.dockerignore import (
    compile_pattern,
    load_ignore_rules,
    matches_or_parent_matches,
    read_ignore_lines,
    rules_from_text,
)
from core.errors import InvalidContext

# moby/patternmatcher patternmatcher_test.go, TestMatches: (pattern, text, exact match?, or-parent match?)
# "exact" = MatchesExact is true; "inexact" = only MatchesOrParentMatches is; "fail" = neither.
EXACT, INEXACT, FAIL = "exact", "inexact", "fail"
PATTERNMATCHER_TESTS = [
    ("**", "file", EXACT),
    ("**", "file/", EXACT),
    ("**/", "file", EXACT),
    ("**/", "file/", EXACT),
    ("**", "/", EXACT),
    ("**/", "/", EXACT),
    ("**", "dir/file", EXACT),
    ("**/", "dir/file", EXACT),
    ("**", "dir/file/", EXACT),
    ("**/", "dir/file/", EXACT),
    ("**/**", "dir/file", EXACT),
    ("**/**", "dir/file/", EXACT),
    ("dir/**", "dir/file", EXACT),
    ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT),
    ("dir/**", "dir/dir2/file/", EXACT),
    ("**/dir", "dir", EXACT),
    ("**/dir", "dir/file", INEXACT),
    ("**/dir2/*", "dir/dir2/file", EXACT),
    ("**/dir2/*", "dir/dir2/file/", INEXACT),
    ("**/dir2/**", "dir/dir2/dir3/file", EXACT),
    ("**/dir2/**", "dir/dir2/dir3/file/", EXACT),
    ("**file", "file", EXACT),
    ("**file", "dir/file", EXACT),
    ("**/file", "dir/file", EXACT),
    ("**file", "dir/dir/file", EXACT),
    ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", FAIL),
    ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT),
    ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/file.txt", EXACT),
    ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a/*.txt", "a/dir/file.txt", FAIL),
    ("a/*.txt", "a/file.txt", EXACT),
    ("a/*.txt**", "a/file.txt", EXACT),
    ("a[b-d]e", "ae", FAIL),
    ("a[b-d]e", "ace", EXACT),
    ("a[b-d]e", "aae", FAIL),
    ("a[^b-d]e", "aze", EXACT),
    (".*", ".foo", EXACT),
    (".*", "foo", FAIL),
    ("abc.def", "abcdef", FAIL),
    ("abc.def", "abc.def", EXACT),
    ("abc.def", "abcZdef", FAIL),
    ("abc?def", "abcZdef", EXACT),
    ("abc?def", "abcdef", FAIL),
    ("**/foo/bar", "foo/bar", EXACT),
    ("**/foo/bar", "dir/foo/bar", EXACT),
    ("**/foo/bar", "dir/dir2/foo/bar", EXACT),
    ("abc/**", "abc", FAIL),
    ("abc/**", "abc/def", EXACT),
    ("abc/**", "abc/def/ghi", EXACT),
    ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", FAIL),
    ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", FAIL),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        EXACT,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT),
    ("a\\*b", "a*b", EXACT),
]

# moby/patternmatcher patternmatcher_test.go, TestMatches multiPatternTests
MULTI_PATTERN_TESTS = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
]

# moby/patternmatcher patternmatcher_test.go, matchTests (taken there from Go's filepath.Match tests)
GO_MATCH_TESTS = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),  # noqa: RUF001 (Go's test data)
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
]
GO_BAD_PATTERNS = ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a["]

# moby/patternmatcher patternmatcher_test.go, compileTests: (pattern, kind, Go regexp without ^ and $)
COMPILE_TESTS = [
    ("*", "regexp", "[^/]*"),
    ("file*", "regexp", "file[^/]*"),
    ("*file", "regexp", "[^/]*file"),
    ("a*/b", "regexp", "a[^/]*/b"),
    ("**", "suffix", None),
    ("**/**", "regexp", "(.*/)?.*"),
    ("dir/**", "prefix", None),
    ("**/dir", "suffix", None),
    ("**/dir2/*", "regexp", "(.*/)?dir2/[^/]*"),
    ("**/dir2/**", "regexp", "(.*/)?dir2/.*"),
    ("**file", "suffix", None),
    ("**/file*txt", "regexp", "(.*/)?file[^/]*txt"),
    ("**/**/*.txt", "regexp", "(.*/)?(.*/)?[^/]*\\.txt"),
    ("a[b-d]e", "regexp", "a[b-d]e"),
    (".*", "regexp", "\\.[^/]*"),
    ("abc.def", "exact", None),
    ("abc?def", "regexp", "abc[^/]def"),
    ("**/foo/bar", "suffix", None),
    ("a(b)c/def", "exact", None),
    ("a.|)$(}+{bc", "exact", None),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact", None),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), PATTERNMATCHER_TESTS)
def test_patterns_match_paths_or_their_parents_as_patternmatcher_does(pattern: str, text: str, expected: str) -> None:
    assert matches_or_parent_matches(text, [pattern]) is (expected != FAIL)


@pytest.mark.parametrize(("pattern", "text", "expected"), PATTERNMATCHER_TESTS)
def test_patterns_match_paths_exactly_as_patternmatcher_does(pattern: str, text: str, expected: str) -> None:
    compiled = compile_pattern(pattern, "test")
    assert compiled is not None
    assert compiled.matches(text) is (expected == EXACT)


@pytest.mark.parametrize(("patterns", "text", "expected"), MULTI_PATTERN_TESTS)
def test_later_patterns_override_earlier_ones(patterns: list[str], text: str, expected: bool) -> None:
    assert matches_or_parent_matches(text, patterns) is expected


@pytest.mark.parametrize(("pattern", "text", "expected"), GO_MATCH_TESTS)
def test_glob_syntax_follows_go_filepath_match(pattern: str, text: str, expected: bool) -> None:
    assert matches_or_parent_matches(text, [pattern]) is expected


@pytest.mark.parametrize("pattern", GO_BAD_PATTERNS)
def test_malformed_patterns_are_rejected_like_go_filepath_match(pattern: str) -> None:
    with pytest.raises(InvalidContext, match="is malformed"):
        compile_pattern(pattern, ".dockerignore:1")


@pytest.mark.parametrize(("pattern", "kind", "regex"), COMPILE_TESTS)
def test_patterns_compile_to_the_same_match_kind_and_regexp_as_patternmatcher(
    pattern: str, kind: str, regex: str | None
) -> None:
    compiled = compile_pattern(pattern, "test")
    assert compiled is not None
    assert compiled.kind.value == kind
    if regex is not None:
        assert compiled.regex is not None
        assert compiled.regex.pattern == regex


# moby/patternmatcher patternmatcher_test.go: TestExclusionPatternMatchesPatternBefore and friends
@pytest.mark.parametrize(
    ("text", "patterns", "expected"),
    [
        ("fileutils.go", ["*"], True),
        ("fileutils.go", ["*.go"], True),
        ("fileutils.go", ["!fileutils.go", "*.go"], True),
        ("docs/README.md", ["docs", "!docs/README.md"], False),
        ("docs/README.md", ["docs/", "!docs/README.md"], False),
        ("docs/README.md", ["docs/*", "!docs/README.md"], False),
        ("fileutils.go", ["*.go", "!fileutils.go"], False),
        (".", ["*.go"], False),
        ("/any/path/there", [], False),
    ],
)
def test_single_file_examples_from_patternmatcher_hold(text: str, patterns: list[str], expected: bool) -> None:
    assert matches_or_parent_matches(text, patterns) is expected


def test_a_lone_exclamation_mark_is_an_error_naming_the_line() -> None:
    with pytest.raises(InvalidContext, match=r"^\.dockerignore:3: the pattern '!'"):
        rules_from_text("a\nb\n!\n")


def test_reading_follows_ignorefile_readall() -> None:
    # moby/patternmatcher ignorefile/ignorefile_test.go, TestReadAll
    content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    assert [p for _, p in read_ignore_lines(content)] == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]


def test_reading_strips_a_bom_cleans_paths_and_keeps_line_numbers() -> None:
    content = "\ufeff./build/\r\n  \n  # not a comment once indented\nsrc/../dist//x\n"
    assert read_ignore_lines(content) == [(1, "build"), (3, "# not a comment once indented"), (4, "dist/x")]


def test_double_star_matches_any_number_of_directories() -> None:
    rules = rules_from_text("**/*.pyc\nlogs/**\n")
    assert rules.is_excluded("a.pyc")
    assert rules.is_excluded("pkg/sub/a.pyc")
    assert rules.is_excluded("logs/2024/app.log")
    assert not rules.is_excluded("logs")
    assert not rules.is_excluded("pkg/a.py")


def test_an_exception_re_includes_a_file_inside_an_excluded_directory() -> None:
    rules = rules_from_text("vendor\n!vendor/keep/me.txt\n")
    assert rules.is_excluded("vendor")
    assert rules.is_excluded("vendor/other.txt")
    assert not rules.is_excluded("vendor/keep/me.txt")
    assert not rules.can_prune_dir("vendor")
    assert not rules.can_prune_dir("vendor/keep")
    assert rules.can_prune_dir("vendor/other")


def test_a_wildcard_exception_keeps_every_directory_it_could_reach_walkable() -> None:
    rules = rules_from_text("*\n!**/*.md\n!src/*/docs\n")
    assert rules.is_excluded("src")
    assert not rules.can_prune_dir("src")
    assert not rules.is_excluded("src/a/docs/x.txt")
    assert not rules.is_excluded("deep/down/README.md")


def test_an_exception_before_the_exclusion_cannot_re_include_anything() -> None:
    rules = rules_from_text("!vendor/keep\nvendor\n")
    assert rules.is_excluded("vendor/keep")
    assert rules.can_prune_dir("vendor")


def test_an_excluded_directory_without_exceptions_is_pruned() -> None:
    rules = rules_from_text("node_modules\n*.log\n")
    assert rules.can_prune_dir("node_modules")
    assert not rules.can_prune_dir("src")


def test_the_dockerfile_and_dockerignore_are_always_sent() -> None:
    rules = rules_from_text("*\n", dockerfile="build/app.Dockerfile")
    assert not rules.is_excluded(".dockerignore")
    assert not rules.is_excluded("build/app.Dockerfile")
    assert rules.is_excluded("build/other")
    assert not rules.can_prune_dir("build")


def test_dockerignore_excluding_itself_and_the_dockerfile_still_sends_both() -> None:
    rules = rules_from_text(".dockerignore\nDockerfile\n", dockerfile="Dockerfile")
    assert not rules.is_excluded(".dockerignore")
    assert not rules.is_excluded("Dockerfile")


def test_vcs_folders_at_the_root_are_excluded_by_default() -> None:
    rules = rules_from_text(None)
    for name in (".git", ".hg", ".svn", ".bzr"):
        assert rules.is_excluded(f"{name}/config")
        assert rules.can_prune_dir(name)
    assert not rules.is_excluded("sub/.git/config")
    assert not rules.is_excluded(".gitignore")


@pytest.mark.parametrize("exception", ["!.git", "!.git/**", "!.git/HEAD"])
def test_an_exception_brings_vcs_folders_back_unlike_acr(exception: str) -> None:
    rules = rules_from_text(f"{exception}\n")
    assert not rules.is_excluded(".git/HEAD")
    assert not rules.can_prune_dir(".git")


def test_a_dockerfile_specific_ignore_file_takes_precedence(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.md\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "app.Dockerfile.dockerignore").write_text("*.txt\n")
    rules = load_ignore_rules(tmp_path, "sub/app.Dockerfile")
    assert rules.ignore_file == "sub/app.Dockerfile.dockerignore"
    assert rules.is_excluded("notes.txt")
    assert not rules.is_excluded("README.md")
    assert not rules.is_excluded("sub/app.Dockerfile.dockerignore")


def test_the_root_dockerignore_applies_when_there_is_no_specific_one(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.md\n")
    rules = load_ignore_rules(tmp_path, "sub/app.Dockerfile")
    assert rules.ignore_file == ".dockerignore"
    assert rules.is_excluded("README.md")
    assert not rules.is_excluded("sub/app.Dockerfile")


def test_an_empty_specific_ignore_file_still_replaces_the_root_one(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.md\n")
    (tmp_path / "Dockerfile.dockerignore").write_text("")
    rules = load_ignore_rules(tmp_path, "Dockerfile")
    assert not rules.is_excluded("README.md")


def test_a_dockerfile_outside_the_context_uses_the_ignore_file_beside_it(tmp_path: Path) -> None:
    context, elsewhere = tmp_path / "ctx", tmp_path / "other"
    context.mkdir()
    elsewhere.mkdir()
    (elsewhere / "Dockerfile.dockerignore").write_text("secret\n")
    rules = load_ignore_rules(context, "../other/Dockerfile")
    assert rules.is_excluded("secret")
    assert rules.always_included == frozenset({".dockerignore"})


def test_no_ignore_file_excludes_only_vcs_folders(tmp_path: Path) -> None:
    rules = load_ignore_rules(tmp_path, "Dockerfile")
    assert rules.ignore_file is None
    assert not rules.is_excluded("anything/at/all")
    assert rules.is_excluded(".git")


def test_a_malformed_pattern_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("ok\n\nbad[\n")
    with pytest.raises(InvalidContext, match=r"^\.dockerignore:3: the pattern 'bad\['") as raised:
        load_ignore_rules(tmp_path, "Dockerfile")
    assert raised.value.target == ".dockerignore:3"
