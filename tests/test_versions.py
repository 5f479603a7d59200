"""Each ecosystem's version grammar (lockfile/versions.py), case by case, with the cases taken
from that ecosystem's own documentation (cited above each table)."""

from __future__ import annotations

import pytest

from ppm.lockfile.versions import (
    CargoReq,
    GoVersion,
    MavenRange,
    MavenVersion,
    NpmRange,
    SemVer,
    VersionError,
    cargo_series,
    pep440_spec,
    pep440_version,
)


def ids(cases: list[tuple[object, ...]]) -> list[str]:
    return [" ".join(map(str, c[:2])) for c in cases]


# -- PEP 440 --------------------------------------------------------------------------------
# https://peps.python.org/pep-0440/#summary-of-permitted-suffixes-and-relative-ordering
PEP440_ORDER = ["1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2",
                "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5",
                "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1"]


def test_pep440_order() -> None:
    parsed = [pep440_version(v) for v in PEP440_ORDER]
    assert all(p is not None for p in parsed)
    assert sorted(parsed) == parsed  # type: ignore[type-var]


# https://peps.python.org/pep-0440/#version-specifiers (compatible release, version matching,
# exclusive ordered comparison); plus ppm's own spellings: a bare version, "" and "*".
PEP440_SPECS = [
    ("~= 2.2", "2.2", True), ("~= 2.2", "2.9", True), ("~= 2.2", "3.0", False),
    ("~= 1.4.5", "1.4.9", True), ("~= 1.4.5", "1.5.0", False),
    ("~= 2.2.post3", "2.2.post3", True), ("~= 2.2.post3", "3.0", False),
    ("== 3.1.*", "3.1.0", True), ("== 3.1.*", "3.1.9", True), ("== 3.1.*", "3.2.0", False),
    ("!= 3.1.*", "3.1.5", False), ("!= 3.1.*", "3.2", True),
    ("== 1.1", "1.1.0", True),  # zero padding
    (">1.7", "1.7.1", True), (">1.7", "1.7.post2", False),  # not a post-release of V itself
    ("<2.0", "2.0b1", False),  # not a pre-release of V itself
    (">=1.0, <2.0", "1.5", True), (">=1.0, <2.0", "2.0", False),
    ("1.2", "1.2", True), ("1.2", "1.2.1", False),  # ppm: a bare version means ==
    ("", "0.1", True), ("*", "99", True),
]


@pytest.mark.parametrize("spec, version, ok", PEP440_SPECS, ids=ids(PEP440_SPECS))
def test_pep440_specifiers(spec: str, version: str, ok: bool) -> None:
    assert pep440_spec(spec).contains(version) is ok


@pytest.mark.parametrize("bad", ["1.0.0-beta..1", "=>1.0", "~=1"])
def test_pep440_bad_specifier(bad: str) -> None:
    with pytest.raises(VersionError, match="not a PEP 440 version specifier"):
        pep440_spec(bad)


def test_pep440_bad_version_is_none() -> None:
    assert pep440_version("1.0-beta-what") is None and pep440_version("latest") is None


# -- semver precedence (npm, Cargo and Go all sort by it) ---------------------------------
# https://semver.org/#spec-item-11
SEMVER_ORDER = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"]


def test_semver_precedence() -> None:
    parsed = [SemVer.parse(v) for v in SEMVER_ORDER]
    assert sorted(reversed(parsed)) == parsed
    # https://semver.org/#spec-item-10: build metadata does not take part in precedence
    assert SemVer.parse("1.0.0+20130313144700") == SemVer.parse("1.0.0")
    assert str(SemVer.parse("1.0.0-beta+exp.sha.5114f85")) == "1.0.0-beta+exp.sha.5114f85"


@pytest.mark.parametrize("bad", ["1.2", "01.2.3", "1.2.3-", "1.2.3-beta..1", "v"])
def test_semver_rejects(bad: str) -> None:
    with pytest.raises(VersionError):
        SemVer.parse(bad)


# -- npm ranges -----------------------------------------------------------------------------
# https://github.com/npm/node-semver#ranges and #advanced-range-syntax (each "A := B" there is
# checked at B's edges).
NPM = [
    ("1.2.7 || >=1.2.9 <2.0.0", "1.2.7", True), ("1.2.7 || >=1.2.9 <2.0.0", "1.2.9", True),
    ("1.2.7 || >=1.2.9 <2.0.0", "1.4.6", True), ("1.2.7 || >=1.2.9 <2.0.0", "1.2.8", False),
    ("1.2.7 || >=1.2.9 <2.0.0", "2.0.0", False),
    (">1.2.3-alpha.3", "1.2.3-alpha.7", True), (">1.2.3-alpha.3", "3.4.5-alpha.9", False),
    (">1.2.3-alpha.3", "3.4.5", True),
    # hyphen ranges
    ("1.2.3 - 2.3.4", "1.2.3", True), ("1.2.3 - 2.3.4", "2.3.4", True), ("1.2.3 - 2.3.4", "2.3.5", False),
    ("1.2 - 2.3.4", "1.2.0", True), ("1.2 - 2.3.4", "1.1.9", False),
    ("1.2.3 - 2.3", "2.3.9", True), ("1.2.3 - 2.3", "2.4.0", False),
    ("1.2.3 - 2", "2.9.9", True), ("1.2.3 - 2", "3.0.0", False),
    # x-ranges
    ("*", "0.0.1", True), ("", "9.9.9", True), ("1.x", "1.0.0", True), ("1.x", "1.99.0", True),
    ("1.x", "2.0.0", False), ("1.2.x", "1.2.9", True), ("1.2.x", "1.3.0", False),
    ("1", "1.5.0", True), ("1", "2.0.0", False), ("1.2", "1.2.5", True), ("1.2", "1.3.0", False),
    # tilde
    ("~1.2.3", "1.2.3", True), ("~1.2.3", "1.2.9", True), ("~1.2.3", "1.3.0", False), ("~1.2.3", "1.2.2", False),
    ("~1.2", "1.2.0", True), ("~1.2", "1.3.0", False), ("~1", "1.9.9", True), ("~1", "2.0.0", False),
    ("~0.2.3", "0.2.9", True), ("~0.2.3", "0.3.0", False), ("~0", "0.9.9", True), ("~0", "1.0.0", False),
    ("~1.2.3-beta.2", "1.2.3-beta.4", True), ("~1.2.3-beta.2", "1.2.4-beta.2", False),
    ("~1.2.3-beta.2", "1.2.9", True),
    # caret
    ("^1.2.3", "1.2.3", True), ("^1.2.3", "1.9.9", True), ("^1.2.3", "2.0.0", False), ("^1.2.3", "1.2.2", False),
    ("^0.2.3", "0.2.9", True), ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False),
    ("^1.2.3-beta.2", "1.2.3-beta.4", True), ("^1.2.3-beta.2", "1.2.4-beta.2", False),
    ("^0.0.x", "0.0.9", True), ("^0.0.x", "0.1.0", False), ("^0.0", "0.0.9", True), ("^0.0", "0.1.0", False),
    ("^1.2.x", "1.9.0", True), ("^1.2.x", "2.0.0", False), ("^0.1.x", "0.1.9", True), ("^0.1.x", "0.2.0", False),
    ("^1.x", "1.0.0", True), ("^1.x", "2.0.0", False), ("^0.x", "0.9.0", True), ("^0.x", "1.0.0", False),
    # a pre-release is matched only on a comparator's own [major, minor, patch]
    ("^1.2.3", "1.3.0-beta", False), (">=1.0.0", "2.0.0-rc.1", False),
]


@pytest.mark.parametrize("spec, version, ok", NPM, ids=ids(NPM))
def test_npm_ranges(spec: str, version: str, ok: bool) -> None:
    assert NpmRange(spec).contains(version) is ok


def test_npm_include_prerelease() -> None:
    # node-semver's includePrerelease option: pre-releases count as ordinary versions
    assert NpmRange("^1.2.3").contains("1.3.0-beta", include_prerelease=True)


# -- Cargo requirements ---------------------------------------------------------------------
# https://doc.rust-lang.org/cargo/reference/specifying-dependencies.html (caret, tilde, wildcard,
# comparison and multiple requirements; "1.2.3" alone is a caret requirement)
CARGO = [
    ("1.2.3", "1.2.3", True), ("1.2.3", "1.9.0", True), ("1.2.3", "2.0.0", False), ("1.2.3", "1.2.2", False),
    ("^1.2.3", "1.9.9", True), ("^1.2.3", "2.0.0", False),
    ("^1.2", "1.2.0", True), ("^1.2", "1.1.9", False), ("^1.2", "2.0.0", False),
    ("^1", "1.0.0", True), ("^1", "2.0.0", False),
    ("^0.2.3", "0.2.3", True), ("^0.2.3", "0.2.9", True), ("^0.2.3", "0.3.0", False),
    ("^0.2", "0.2.0", True), ("^0.2", "0.3.0", False),
    ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False),
    ("^0.0", "0.0.9", True), ("^0.0", "0.1.0", False),
    ("^0", "0.9.9", True), ("^0", "1.0.0", False),
    ("~1.2.3", "1.2.9", True), ("~1.2.3", "1.3.0", False),
    ("~1.2", "1.2.0", True), ("~1.2", "1.3.0", False),
    ("~1", "1.9.0", True), ("~1", "2.0.0", False),
    ("*", "0.0.1", True), ("*", "99.0.0", True),
    ("1.*", "1.0.0", True), ("1.*", "1.9.9", True), ("1.*", "2.0.0", False),
    ("1.2.*", "1.2.9", True), ("1.2.*", "1.3.0", False),
    (">= 1.2.0", "1.2.0", True), (">= 1.2.0", "1.1.9", False),
    ("> 1", "2.0.0", True), ("> 1", "1.9.9", False),
    ("< 2", "1.9.9", True), ("< 2", "2.0.0", False),
    ("= 1.2.3", "1.2.3", True), ("= 1.2.3", "1.2.4", False),
    (">= 1.2, < 1.5", "1.4.9", True), (">= 1.2, < 1.5", "1.5.0", False), (">= 1.2, < 1.5", "1.1.0", False),
    # https://doc.rust-lang.org/cargo/reference/resolver.html#pre-releases: a requirement
    # matches a pre-release only when it names one
    ("1.0", "1.1.0-alpha", False), ("1.0.0-alpha", "1.0.0-alpha.2", True), ("1.0.0-alpha", "1.0.0", True),
]


@pytest.mark.parametrize("spec, version, ok", CARGO, ids=ids(CARGO))
def test_cargo_requirements(spec: str, version: str, ok: bool) -> None:
    assert CargoReq(spec).contains(version) is ok


# https://doc.rust-lang.org/cargo/reference/resolver.html#semver-compatibility: "Versions are
# considered compatible if their left-most non-zero major/minor/patch component is the same"
@pytest.mark.parametrize("version, series", [("1.4.2", "1"), ("0.3.7", "0.3"), ("0.0.4", "0.0.4"), ("2.0.0", "2")])
def test_cargo_series(version: str, series: str) -> None:
    assert cargo_series(SemVer.parse(version)) == series


def test_cargo_bad_requirement() -> None:
    with pytest.raises(VersionError):
        CargoReq("1.2.3.4")


# -- Go ---------------------------------------------------------------------------------------
# https://go.dev/ref/mod#versions, #pseudo-versions, #incompatible-versions
GO_ORDER = [
    "v0.0.0-20191109021931-daa7c04131f5",  # a pseudo-version with no base: before any release
    "v0.1.0",
    "v1.2.3-pre",
    "v1.2.3-pre.0.20191109021931-daa7c04131f5",  # after its base pre-release v1.2.3-pre
    "v1.2.3",
    "v1.2.4-0.20191109021931-daa7c04131f5",  # after its base v1.2.3, before v1.2.4
    "v1.2.4",
    "v1.10.0",  # numeric, not lexical
    "v2.0.0+incompatible",
    "v2.1.0+incompatible",
]


def test_go_order() -> None:
    parsed = [GoVersion.parse(v) for v in GO_ORDER]
    assert sorted(reversed(parsed)) == parsed
    assert [str(v) for v in parsed] == GO_ORDER  # +incompatible and the pseudo-version survive


@pytest.mark.parametrize("bad", ["1.2.3", "v1.2", "v1.2.3.4", "latest"])
def test_go_rejects(bad: str) -> None:
    with pytest.raises(VersionError):
        GoVersion.parse(bad)


# -- Maven ------------------------------------------------------------------------------------
# https://maven.apache.org/pom.html#version-order-specification
MAVEN_LESS = [
    ("1", "1.1"), ("1-snapshot", "1"), ("1", "1-sp"), ("1-foo2", "1-foo10"), ("1-foo", "1-1"),
    ("1-ga", "1-sp"), ("1-ga.1", "1-sp.1"), ("1.0-alpha1", "1.0-beta1"), ("1.0-beta1", "1.0-milestone1"),
    ("1.0-milestone1", "1.0-rc1"), ("1.0-rc1", "1.0-SNAPSHOT"), ("1.0-SNAPSHOT", "1.0"), ("1.0", "1.0-sp1"),
    ("1.9", "1.10"), ("2.0-RC1", "2.0"), ("32.1.3-jre", "33.0.0-jre"),
]
MAVEN_EQUAL = [("1.ga", "1-ga"), ("1-ga", "1-0"), ("1-0", "1.0"), ("1.0", "1"), ("1-a1", "1-alpha-1"),
               ("1.0-RC1", "1.0-cr1"), ("1.0.final", "1.0")]


@pytest.mark.parametrize("lo, hi", MAVEN_LESS, ids=[f"{a}<{b}" for a, b in MAVEN_LESS])
def test_maven_order(lo: str, hi: str) -> None:
    assert MavenVersion(lo) < MavenVersion(hi)
    assert not MavenVersion(hi) < MavenVersion(lo)


@pytest.mark.parametrize("a, b", MAVEN_EQUAL, ids=[f"{a}={b}" for a, b in MAVEN_EQUAL])
def test_maven_equal(a: str, b: str) -> None:
    assert MavenVersion(a) == MavenVersion(b)
    assert hash(MavenVersion(a)) == hash(MavenVersion(b))


# https://maven.apache.org/pom.html#dependency-version-requirement-specification
MAVEN_RANGES = [
    ("[1.0]", "1.0", True), ("[1.0]", "1.1", False),
    ("(,1.0]", "0.9", True), ("(,1.0]", "1.0", True), ("(,1.0]", "1.0.1", False),
    ("[1.2,1.3]", "1.2", True), ("[1.2,1.3]", "1.3", True), ("[1.2,1.3]", "1.3.1", False),
    ("[1.0,2.0)", "1.0", True), ("[1.0,2.0)", "1.9.9", True), ("[1.0,2.0)", "2.0", False),
    ("[1.5,)", "1.5", True), ("[1.5,)", "99", True), ("[1.5,)", "1.4", False),
    ("(,1.0],[1.2,)", "1.0", True), ("(,1.0],[1.2,)", "1.1", False), ("(,1.0],[1.2,)", "1.2", True),
    ("(,1.1),(1.1,)", "1.1", False), ("(,1.1),(1.1,)", "1.0", True), ("(,1.1),(1.1,)", "1.2", True),
    ("1.0", "1.0", True),  # a soft requirement: ppm pins what it names
]


@pytest.mark.parametrize("spec, version, ok", MAVEN_RANGES, ids=ids(MAVEN_RANGES))
def test_maven_ranges(spec: str, version: str, ok: bool) -> None:
    assert MavenRange(spec).contains(version) is ok


def test_maven_soft_requirement_and_snapshot() -> None:
    r = MavenRange("1.0")
    assert r.soft == MavenVersion("1.0") and not r.ranges
    assert MavenVersion("2.0-SNAPSHOT").is_snapshot and not MavenVersion("2.0").is_snapshot


def test_maven_bad_range() -> None:
    with pytest.raises(VersionError, match="bad Maven version range"):
        MavenRange("[1.0")
