"""The builders' plans for the demo template: real template files, real PlanContext, the host
target and targets that are not the host. Nothing runs; these check the data each builder
returns (placeholders only, the right triples, the right inputs and outputs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ppm import targets
from ppm.builders import REGISTRY, check_manifest
from ppm.builders.base import NativeOnly, PlanContext
from ppm.core import manifest as manifest_mod
from ppm.core.action import Action
from ppm.core.errors import ManifestError
from ppm.core.manifest import Manifest
from ppm.templates import create

MINE = ("cargo", "zig", "esbuild", "graalvm", "pyinstaller")
OTHER = [targets.TARGETS[n] for n in ("linux-aarch64", "windows-x86_64", "macos-arm64")]
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def load(root: Path) -> Manifest:
    """ppm.toml as the planner sees it: read, then checked against the builder registry."""
    return check_manifest(manifest_mod.load(root))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return load(create(tmp_path_factory.mktemp("p") / "demo"))


HOST_ONLY = ("greeter", "app")  # native-image and PyInstaller build only for the machine they run on


def plan(m: Manifest, name: str, target: targets.Target, deps: dict[str, list[str]] | None = None) -> list[Action]:
    c = m.components[name]
    ctx = PlanContext(root=m.root, target=target, deps=deps if deps is not None else {})
    return REGISTRY[c.builder]().plan(c, ctx)


def cases(names: list[str]) -> list[tuple[str, targets.Target]]:
    """(component, target) pairs that can be planned: host-only builders get the host alone."""
    return [(n, t) for n in names for t in all_targets() if n not in HOST_ONLY or t == targets.host()]


@pytest.mark.parametrize("target", OTHER, ids=lambda t: t.name)
@pytest.mark.parametrize("name", HOST_ONLY)
def test_host_only_builders_refuse_other_targets(project: Manifest, name: str, target: targets.Target) -> None:
    with pytest.raises(NativeOnly, match=f"cannot be built for {target.name} from this .* builds only for the machine it runs on"):
        plan(project, name, target, app_deps(target) if name == "app" else {})


def words(actions: list[Action]) -> list[str]:
    """Every string the engine expands: argv words (not the text an @write writes), env, cwd."""
    out: list[str] = []
    for a in actions:
        for cmd in a.commands:
            out += cmd[:2] if cmd[0] == "@write" else cmd
        out += list(a.env.values()) + [a.cwd]
    return out


def app_deps(target: targets.Target, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    lib = {"core": target.shared_lib("core_rs"), "cmath": target.shared_lib("cmath"), "zigz": target.shared_lib("zigz")}
    deps = {"core": [lib["core"]], "cmath": [lib["cmath"]], "zigz": [lib["zigz"]], "ui": ["ui.js"],
            "greeter": [target.executable("greeter")]}
    return {k: v for k, v in deps.items() if k not in skip}


def all_targets() -> list[targets.Target]:
    return [targets.host(), *OTHER]


# -- every builder ---------------------------------------------------------------------------

def test_template_loads_with_every_builder(project: Manifest) -> None:
    assert {c.builder for c in project.components.values()} >= set(MINE)
    assert project.entry == "app"
    assert project.components["greeter"].optional
    assert set(project.components["app"].needs) == {"core", "cmath", "zigz", "ui", "greeter"}


@pytest.mark.parametrize("name, target", cases(["core", "zigz", "ui", "greeter", "app"]), ids=lambda v: getattr(v, "name", v))
def test_no_absolute_paths_only_known_placeholders(project: Manifest, name: str, target: targets.Target) -> None:
    deps = app_deps(target) if name == "app" else {}
    actions = plan(project, name, target, deps)
    assert actions and actions[-1].outputs
    builder = REGISTRY[project.components[name].builder]
    root = str(project.root)
    for a in actions:
        assert a.component == name
        assert list(a.inputs) == sorted(a.inputs)
        assert all(not Path(p).is_absolute() and (project.root / p).is_file() for p in a.inputs)
        assert all(not Path(o).is_absolute() and ".." not in Path(o).parts for o in a.outputs)
        assert set(a.tools) <= set(builder.tools)
    for w in words(actions):
        assert root not in w, w
        assert not w.startswith("/"), w
        assert str(Path.home()) not in w, w
        for ph in PLACEHOLDER.findall(w):
            kind, _, arg = ph.partition(":")
            if kind == "tool":
                assert arg in builder.tools, ph
            elif kind == "dep":
                assert arg in deps, ph
            else:
                assert ph in ("out", "work", "src", "state", "project"), ph
    for a in actions:
        for cmd in a.commands:
            if cmd[0] == "@write":
                assert root not in cmd[2] and "/tmp" not in cmd[2]
            if cmd[0].startswith("@"):
                assert cmd[0] in ("@copy", "@mkdir", "@write")
            else:
                assert cmd[0].startswith("{tool:"), cmd


@pytest.mark.parametrize("name", ["core", "zigz", "ui", "greeter", "app"])
def test_plans_do_not_depend_on_where_the_project_is(tmp_path: Path, project: Manifest, name: str) -> None:
    other = load(create(tmp_path / "demo"))
    target = targets.host() if name in HOST_ONLY else targets.TARGETS["linux-aarch64"]
    deps = app_deps(target) if name == "app" else {}
    assert plan(project, name, target, deps) == plan(other, name, target, deps)


def test_builders_declare_settings_and_tools() -> None:
    expected = {"cargo": ("cargo",), "zig": ("zig",), "esbuild": ("esbuild",),
                "graalvm": ("native-image", "javac"), "pyinstaller": ("pyinstaller",)}
    for name, tools in expected.items():
        cls = REGISTRY[name]
        assert cls.name == name
        assert set(tools) <= set(cls.tools)
        for key, s in cls.settings.items():
            # A default must pass the check ppm.toml values get (ppm.builders.check_manifest),
            # and every setting says what it is for.
            assert s.default is None or isinstance(s.default, s.type), (name, key, s.default)
            assert s.help, (name, key)
            assert not (s.required and s.default is not None), (name, key)


# -- cargo -----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", all_targets(), ids=lambda t: t.name)
def test_cargo(project: Manifest, target: targets.Target) -> None:
    (a,) = plan(project, "core", target)
    build, copy = a.commands
    assert list(build[:2]) == ["{tool:cargo}", "build"]
    assert "--locked" in build and "--offline" in build  # the crate has no dependencies
    assert build[build.index("--target") + 1] == target.rust_triple
    assert build[build.index("--manifest-path") + 1] == "{src}/Cargo.toml"
    assert build[build.index("--target-dir") + 1] == "{state}/target"
    lib = target.shared_lib("core_rs")
    assert list(copy) == ["@copy", f"{{state}}/target/{target.rust_triple}/release/{lib}", f"{{out}}/{lib}"]
    assert a.outputs == (lib,)
    assert a.inputs == ("core/Cargo.lock", "core/Cargo.toml", "core/src/lib.rs")
    assert "core" in a.scanned_dirs and "core/src" in a.scanned_dirs


def test_cargo_library_file_names(project: Manifest) -> None:
    names = {t: list(plan(project, "core", targets.TARGETS[t])[0].outputs) for t in ("linux-x86_64", "windows-x86_64", "macos-arm64")}
    assert names == {"linux-x86_64": ["libcore_rs.so"], "windows-x86_64": ["core_rs.dll"], "macos-arm64": ["libcore_rs.dylib"]}


def test_cargo_goes_online_only_with_dependencies(tmp_path: Path) -> None:
    m = load(create(tmp_path / "demo"))
    toml = m.root / "core" / "Cargo.toml"
    toml.write_text(toml.read_text().replace("[dependencies]\n", '[dependencies]\nitoa = "1"\n'))
    (a,) = plan(m, "core", targets.host())
    assert "--offline" not in a.commands[0] and "--locked" in a.commands[0]


def test_cargo_needs_a_lock_file(tmp_path: Path) -> None:
    m = load(create(tmp_path / "demo"))
    (m.root / "core" / "Cargo.lock").unlink()
    with pytest.raises(ManifestError, match=r"Cargo\.lock"):
        plan(m, "core", targets.host())


# -- zig -------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", all_targets(), ids=lambda t: t.name)
def test_zig(project: Manifest, target: targets.Target) -> None:
    (a,) = plan(project, "zigz", target)
    (argv,) = a.commands
    assert list(argv[:3]) == ["{tool:zig}", "build-lib", "-dynamic"]
    assert argv[argv.index("-target") + 1] == target.zig_triple
    lib = target.shared_lib("zigz")
    assert f"-femit-bin={{out}}/{lib}" in argv
    assert a.outputs == (lib,)
    assert argv[-1] == "{src}/src/main.zig"
    assert argv[argv.index("--cache-dir") + 1].startswith("{state}/")
    assert argv[argv.index("--global-cache-dir") + 1].startswith("{state}/")
    assert all(v.startswith("{state}/") for k, v in a.env.items() if k.startswith("ZIG_"))
    assert ("-fno-emit-implib" in argv) == (target.os == "windows")
    assert a.inputs == ("zigz/src/main.zig",)


def test_zig_wasm_is_a_reactor_module(project: Manifest) -> None:
    (a,) = plan(project, "zigz", targets.TARGETS["wasm32-wasi"])
    assert list(a.commands[0][:2]) == ["{tool:zig}", "build-exe"] and "-fno-entry" in a.commands[0]
    assert a.outputs == ("zigz.wasm",)


# -- esbuild ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", all_targets(), ids=lambda t: t.name)
def test_esbuild(project: Manifest, target: targets.Target) -> None:
    (a,) = plan(project, "ui", target)
    (argv,) = a.commands
    assert list(argv[:2]) == ["{tool:esbuild}", "{src}/src/main.ts"]
    assert {"--bundle", "--minify", "--outfile={out}/ui.js", "--platform=browser"} <= set(argv)
    assert a.outputs == ("ui.js",)
    assert a.inputs == ("ui/src/greeting.ts", "ui/src/main.ts", "ui/tsconfig.json")


def test_esbuild_platform_defaults_to_the_targets(project: Manifest) -> None:
    c = project.components["ui"]
    settings = {k: v for k, v in c.settings.items() if k != "platform"}
    from dataclasses import replace

    comp = replace(c, settings=settings)
    for t in (targets.TARGETS["linux-aarch64"], targets.TARGETS["wasm32-wasi"]):
        (a,) = REGISTRY["esbuild"]().plan(comp, PlanContext(project.root, t, {}))
        assert f"--platform={t.esbuild_platform}" in a.commands[0]


# -- graalvm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [targets.host()], ids=lambda t: t.name)
def test_graalvm(project: Manifest, target: targets.Target) -> None:
    (a,) = plan(project, "greeter", target)
    mkdir, javac, native = a.commands
    assert list(mkdir) == ["@mkdir", "{work}/classes"]
    assert javac[0] == "{tool:javac}" and javac[-1] == "{src}/src/Greeter.java"
    assert javac[javac.index("-d") + 1] == "{work}/classes"
    assert native[0] == "{tool:native-image}" and native[-1] == "Greeter"
    assert native[native.index("-cp") + 1] == "{work}/classes"
    assert native[native.index("-o") + 1] == "{out}/greeter"
    assert a.outputs == (target.executable("greeter"),)
    assert a.inputs == ("greeter/src/Greeter.java",)
    assert a.cwd == "{work}"


# -- pyinstaller -----------------------------------------------------------------------------

@pytest.mark.parametrize("target", [targets.host()], ids=lambda t: t.name)
def test_pyinstaller_embeds_every_dep(project: Manifest, target: targets.Target) -> None:
    deps = app_deps(target)
    (a,) = plan(project, "app", target, deps)
    write, argv = a.commands
    assert argv[0] == "{tool:pyinstaller}" and argv[-1] == "{src}/main.py"
    assert "--onefile" in argv and "--clean" not in argv
    assert argv[argv.index("--distpath") + 1] == "{out}"
    assert argv[argv.index("--workpath") + 1].startswith("{work}")
    assert argv[argv.index("--name") + 1] == "demo"
    assert a.outputs == (target.executable("demo"),)
    pairs = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1) if argv[i] in ("--add-binary", "--add-data")]
    assert ("--add-data", "{work}/ppm_components.json:.") in pairs
    for name, files in deps.items():
        kind = "--add-data" if name == "ui" else "--add-binary"
        assert (kind, f"{{dep:{name}}}/{files[0]}:ppm_deps/{name}") in pairs
    assert list(write[:2]) == ["@write", "{work}/ppm_components.json"]
    listing = json.loads(write[2])
    assert listing == {"app": "app", "embedded": deps, "skipped": [], "target": target.name}
    assert a.env["PYINSTALLER_CONFIG_DIR"].startswith("{state}/")
    assert a.env["PYTHONHASHSEED"] == "0" and a.env["SOURCE_DATE_EPOCH"].isdigit()
    assert a.inputs == ("app/main.py",)


def test_pyinstaller_says_which_optional_component_was_skipped(project: Manifest) -> None:
    (a,) = plan(project, "app", targets.host(), app_deps(targets.host(), skip=("greeter",)))
    listing = json.loads(a.commands[0][2])
    assert listing["skipped"] == ["greeter"]
    assert "greeter" not in listing["embedded"]
    assert not any("{dep:greeter}" in w for w in a.commands[1])


def test_the_installed_package_carries_the_whole_template() -> None:
    """`pip install .` (not editable) ships templates/ through pyproject's package-data globs,
    which setuptools expands with glob(recursive=True): a dotfile needs its own pattern."""
    import glob
    import tomllib

    repo = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ppm.templates"]
    base = repo / "templates"
    shipped = {Path(f).relative_to(base).as_posix() for pat in patterns
               for f in glob.glob(str(base / pat), recursive=True) if Path(f).is_file()}
    expected = {p.relative_to(base).as_posix() for p in (base / "demo").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert expected <= shipped, sorted(expected - shipped)
